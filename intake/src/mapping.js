// How a BullMQ job of TestPlanIt's becomes one of our tasks: its asynq type,
// its task ID and its retry budget. Pure functions, no I/O.

import { createHash } from 'node:crypto';

/** The original's queues (reference §1.1), in the order of its table. */
export const QUEUES = Object.freeze([
  'forecast-updates',
  'notifications',
  'emails',
  'issue-sync',
  'testmo-imports',
  'elasticsearch-reindex',
  'audit-logs',
]);

// The job names of the original and what the intake does with each
// (reference §1.1 and §1.3; DESIGN §1 lists our task types). A name maps to
// one of:
//   { forward: '<queue>:<job>' }   hand it to the fleet as that asynq type
//   { complete: value, why }       complete the BullMQ job at once with value
// A name missing here is forwarded as '<queue>:<name>' and our task contract
// refuses it (400), which fails the job with the reason.
const forward = (queue, name) => ({ forward: `${queue}:${name}` });
const NAMES = Object.freeze({
  'forecast-updates': {
    'update-single-case-forecast': forward('forecast-updates', 'update-single-case-forecast'),
    'update-all-cases-forecast': forward('forecast-updates', 'update-all-cases-forecast'),
    'auto-complete-milestones': forward('forecast-updates', 'auto-complete-milestones'),
    'milestone-due-notifications': forward('forecast-updates', 'milestone-due-notifications'),
  },
  notifications: {
    'create-notification': forward('notifications', 'create-notification'),
    'send-daily-digest': forward('notifications', 'send-daily-digest'),
    // §1.3: no producer; the original handler only counts unread
    // notifications and logs. We have no such task.
    'process-user-notifications': {
      complete: {
        forwarded: false,
        reason: 'process-user-notifications only counted unread notifications in the original; nothing to do',
      },
      why: 'process-user-notifications has no task in the fleet (the original only counted unread notifications)',
    },
  },
  emails: {
    'send-notification-email': forward('emails', 'send-notification-email'),
    'send-digest-email': forward('emails', 'send-digest-email'),
  },
  'issue-sync': {
    'sync-issues': forward('issue-sync', 'sync-issues'),
    'sync-project-issues': forward('issue-sync', 'sync-project-issues'),
    'refresh-issue': forward('issue-sync', 'refresh-issue'),
    // §1.3: no caller; the original worker returns exactly this.
    'create-issue': { complete: { success: false, error: 'Not implemented' }, why: 'create-issue is not implemented in the original' },
    'update-issue': { complete: { success: false, error: 'Not implemented' }, why: 'update-issue is not implemented in the original' },
  },
  'testmo-imports': {
    'process-testmo-import': forward('testmo-imports', 'process-testmo-import'),
  },
  'elasticsearch-reindex': {
    // §1.1: the worker does not switch on the name; reindex-after-import-<id>
    // is matched below.
    reindex: forward('elasticsearch-reindex', 'reindex'),
  },
  'audit-logs': {
    'audit-event': forward('audit-logs', 'audit-event'),
  },
});

/**
 * routeJob says what to do with a job named name on queue:
 * { forward: type } or { complete: returnValue, why }.
 */
export function routeJob(queue, name) {
  const known = NAMES[queue]?.[name];
  if (known) return known;
  if (queue === 'elasticsearch-reindex' && /^reindex-after-import-/.test(name)) {
    return NAMES['elasticsearch-reindex'].reindex;
  }
  return forward(queue, name);
}

/**
 * isRepeatable tells a job that the original scheduler's repeatable jobs (or
 * a job scheduler) produced: those are not forwarded, our scheduler owns the
 * schedules (reference §3).
 */
export function isRepeatable(job) {
  return Boolean(job.repeatJobKey || job.opts?.repeat || String(job.id ?? '').startsWith('repeat:'));
}

// Task IDs allowed by our API: letters, digits and . _ : -, at most 200
// bytes, no "..".
const MAX_TASK_ID = 200;
const SAFE = /^[A-Za-z0-9._:-]+$/;
const MAX_TENANT = 64;

/** isSafeTaskID is the API's rule for a task ID. */
export function isSafeTaskID(id) {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_TASK_ID && SAFE.test(id) && !id.includes('..');
}

const hashed = (s) => 'h-' + createHash('sha256').update(s).digest('hex').slice(0, 32);

/**
 * taskIdFor derives the task ID from the BullMQ job so that a job delivered
 * twice (an intake killed mid-handover, a stalled job resumed) is one task:
 * [<tenantId>:]bullmq:<jobId>:<job.timestamp>. The timestamp separates a job
 * re-added later under the same custom jobId. A jobId (or tenant) with other
 * characters, or too long, is replaced by h-<32 hex of its sha256>.
 */
export function taskIdFor(job) {
  const tenant = job.data?.tenantId;
  let prefix = '';
  if (typeof tenant === 'string' && tenant !== '') {
    prefix = (tenant.length <= MAX_TENANT && isSafeTaskID(tenant) ? tenant : hashed(tenant)) + ':';
  }
  const jobId = String(job.id);
  const ts = String(Math.trunc(Number(job.timestamp) || 0));
  const id = `${prefix}bullmq:${jobId}:${ts}`;
  if (isSafeTaskID(id)) return id;
  return `${prefix}bullmq:${hashed(jobId)}:${ts}`;
}
