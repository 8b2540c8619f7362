// The intake in this process against real Redis (database 11) and a fake of
// the task API: handover, mirror, refusals, outages, BullMQ's own delay and
// priority, repeatables and the admin endpoint.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Queue } from 'bullmq';

import { startIntake } from '../src/main.js';
import { taskIdFor } from '../src/mapping.js';
import { REPEATABLE_REASON } from '../src/processor.js';
import { FakeAPI, TOKEN, config, leaseDB, releaseDB, memoryLog, redis, waitFor, waitJob } from './helpers.js';

let DB;

before(async () => {
  DB = await leaseDB();
});
after(() => releaseDB(DB));

// setup starts a fake API and (unless start is false) an intake on its own
// key prefix; everything is closed after the test.
async function setup(t, { queues = ['notifications'], start = true, ...overrides } = {}) {
  const api = await new FakeAPI().listen();
  const cfg = config(DB, api, { queues, ...overrides });
  const queue = new Queue(queues[0], { connection: redis(DB), prefix: cfg.prefix });
  const log = memoryLog();
  const rig = { api, cfg, queue, log, intake: null };
  rig.start = async () => {
    rig.intake = await startIntake(cfg, { log, retry: { startMs: 50, maxMs: 200 } });
    rig.base = `http://127.0.0.1:${rig.intake.address.port}`;
    return rig.intake;
  };
  if (start) await rig.start();
  t.after(async () => {
    await rig.intake?.close();
    await queue.close();
    await api.close();
  });
  return rig;
}

test('a job is handed over once and completes with the task result', async (t) => {
  const { api, queue } = await setup(t);
  const data = { userId: 'u1', type: 'WORK_ASSIGNED', title: 't', message: 'm', tenantId: 'acme', fake: { ms: 150, result: { notificationId: 'n1' } } };
  const added = await queue.add('create-notification', data, { attempts: 3, backoff: { type: 'exponential', delay: 5000 } });
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'completed');
  assert.deepEqual(job.returnvalue, { notificationId: 'n1' });
  const taskId = taskIdFor(added);
  assert.match(taskId, /^acme:bullmq:\d+:\d+$/);
  const posts = api.postsFor(taskId);
  assert.equal(posts.length, 1);
  assert.equal(posts[0].body.type, 'notifications:create-notification');
  assert.deepEqual(posts[0].body.payload, data);
  // Only the ID: retries are our contract's, not the job's attempts.
  assert.deepEqual(posts[0].body.options, { taskId });
  assert.equal(api.posts.length, 1);
});

test('reindex progress is mirrored onto the BullMQ job while the task runs', async (t) => {
  const { queue } = await setup(t, { queues: ['elasticsearch-reindex'] });
  const added = await queue.add('reindex-after-import-ckabc', { entityType: 'all', userId: 'u1', fake: { ms: 1500, progress: true, finalProgress: null, result: { success: true, totalDocuments: 11 } } }, { attempts: 1 });
  const seen = new Set();
  await waitFor(async () => {
    const job = await queue.getJob(added.id);
    seen.add(job.progress);
    return [...seen].some((p) => typeof p === 'number' && p > 0 && p < 100);
  }, { timeout: 5000, what: 'a progress between 0 and 100' });
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'completed');
  assert.equal(job.progress, 100, 'a completed task is 100 % done even when its status says no progress');
  assert.deepEqual(job.returnvalue, { success: true, totalDocuments: 11 });
});

test('a task the contract refuses fails the job at once, not retried', async (t) => {
  const { api, queue } = await setup(t);
  const added = await queue.add('create-notification', { fake: { refuse: 'payload.userId: required' } }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
  const unknown = await queue.add('no-such-job', {}, { attempts: 5 });
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'failed');
  assert.equal(job.failedReason, "refused by the fleet's task contract: payload.userId: required");
  assert.equal(job.attemptsMade, 1);
  const u = await waitJob(queue, unknown.id);
  assert.equal(u.state, 'failed');
  assert.match(u.job.failedReason, /^refused by the fleet's task contract: type: unknown task type "notifications:no-such-job"/);
  assert.equal(u.job.attemptsMade, 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(api.postsFor(taskIdFor(added)).length, 1, 'one POST, no retry');
  assert.equal((await queue.getJob(added.id)).attemptsMade, 1);
});

test('an archived task fails the job with its error', async (t) => {
  const { queue } = await setup(t);
  const added = await queue.add('send-daily-digest', { fake: { ms: 50, archive: 'smtp: 550 mailbox unavailable' } }, { attempts: 3 });
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'failed');
  assert.equal(job.failedReason, 'archived after 3 attempts: smtp: 550 mailbox unavailable');
  assert.equal(job.attemptsMade, 1);
});

test('a task deleted before it finished fails the job', async (t) => {
  const { api, queue } = await setup(t);
  const added = await queue.add('send-daily-digest', { fake: { ms: 5000 } });
  await waitFor(() => api.tasks.size === 1, { what: 'the handover' });
  api.tasks.get(taskIdFor(added)).deleted = true;
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'failed');
  assert.equal(job.failedReason, `task ${taskIdFor(added)} was deleted from queue notifications before it finished`);
});

test('the API down (503, then connection refused) and back: the job still completes', async (t) => {
  const { api, queue, log, intake } = await setup(t);
  api.mode = '503';
  const added = await queue.add('create-notification', { userId: 'u', fake: { ms: 100, result: { done: 1 } } }, { attempts: 3 });
  await waitFor(() => log.lines.some((l) => l.msg === 'task API unavailable; retrying'), { what: 'a 503 seen' });
  await api.down();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await (await queue.getJob(added.id)).getState(), 'active');
  api.mode = 'ok';
  await api.up();
  const { state, job } = await waitJob(queue, added.id);
  assert.equal(state, 'completed');
  assert.deepEqual(job.returnvalue, { done: 1 });
  assert.equal(job.attemptsMade, 1);
  const warned = log.lines.filter((l) => l.msg === 'task API unavailable; retrying');
  assert.ok(warned.length <= 2, `logged at most once a minute per kind: ${warned.length} lines`);
  const metrics = await intake.metrics.registry.getSingleMetricAsString('bullmq_intake_api_errors_total');
  assert.match(metrics, /kind="transient"} [1-9]/);
});

test('a refused token makes the intake not ready without failing jobs', async (t) => {
  const rig = await setup(t);
  rig.api.mode = '401';
  const added = await rig.queue.add('create-notification', { userId: 'u', fake: { result: { ok: 1 } } });
  await waitFor(async () => (await fetch(`${rig.base}/readyz`)).status === 503, { what: 'readyz 503' });
  assert.equal(await (await rig.queue.getJob(added.id)).getState(), 'active');
  rig.api.mode = 'ok';
  const { state } = await waitJob(rig.queue, added.id);
  assert.equal(state, 'completed');
  await waitFor(async () => (await fetch(`${rig.base}/readyz`)).status === 200, { what: 'readyz 200 again' });
  assert.ok(rig.log.lines.some((l) => l.level === 'error' && /refuses the producer token/.test(l.msg)));
});

test('a duplicate answer is success: the existing task is mirrored', async (t) => {
  const rig = await setup(t, { start: false });
  const added = await rig.queue.add('create-notification', { userId: 'u' });
  rig.api.seed(taskIdFor(added), 'notifications:create-notification', { fake: { ms: 100, result: { seeded: true } } });
  await rig.start();
  const { state, job } = await waitJob(rig.queue, added.id);
  assert.equal(state, 'completed');
  assert.deepEqual(job.returnvalue, { seeded: true });
  assert.deepEqual(rig.api.posts.map((p) => p.status), [200]);
});

test('jobs the original never really ran complete at once with its answer', async (t) => {
  const { api, queue } = await setup(t, { queues: ['issue-sync', 'notifications'] });
  const notifications = new Queue('notifications', { connection: redis(DB), prefix: queue.opts.prefix });
  t.after(() => notifications.close());
  const create = await queue.add('create-issue', { userId: 'u', integrationId: 1, action: 'create' }, { attempts: 2 });
  const count = await notifications.add('process-user-notifications', { userId: 'u' });
  const a = await waitJob(queue, create.id);
  assert.equal(a.state, 'completed');
  assert.equal(JSON.stringify(a.job.returnvalue), '{"success":false,"error":"Not implemented"}');
  const b = await waitJob(notifications, count.id);
  assert.equal(b.state, 'completed');
  assert.equal(b.job.returnvalue.forwarded, false);
  assert.equal(api.posts.length, 0);
});

test("the original scheduler's repeatable jobs are not forwarded", async (t) => {
  const { api, queue, log } = await setup(t, { queues: ['forecast-updates'] });
  await queue.add('update-all-cases-forecast', {}, { repeat: { every: 200 }, jobId: 'update-all-cases-forecast' });
  const failed = await waitFor(async () => (await queue.getFailed())[0], { what: 'the repeated job failed' });
  for (const r of await queue.getRepeatableJobs()) await queue.removeRepeatableByKey(r.key);
  assert.equal(failed.failedReason, REPEATABLE_REASON);
  assert.equal(failed.attemptsMade, 1);
  assert.equal(api.posts.length, 0);
  assert.ok(log.lines.some((l) => l.msg === 'repeatable job not forwarded' && l.queue === 'forecast-updates'));
});

test('a delayed job is handed over when due, not before', async (t) => {
  const { api, queue } = await setup(t);
  const added = await queue.add('create-notification', { userId: 'u' }, { delay: 1200 });
  const { state } = await waitJob(queue, added.id, 5000);
  assert.equal(state, 'completed');
  const [post] = api.postsFor(taskIdFor(added));
  assert.ok(post.at - added.timestamp >= 1200, `handed over ${post.at - added.timestamp} ms after the add`);
  assert.equal(post.body.options.delay, undefined, 'no delay passed again');
});

test('priority order is kept with concurrency 1', async (t) => {
  const rig = await setup(t, { start: false, concurrency: 1 });
  const ids = {};
  for (const p of [5, 1, 4, 2, 3]) ids[p] = (await rig.queue.add('create-notification', { userId: 'u', p }, { priority: p })).id;
  await rig.start();
  await waitFor(() => rig.api.posts.length === 5, { what: 'five handovers' });
  assert.deepEqual(rig.api.posts.map((p) => p.body.payload.p), [1, 2, 3, 4, 5]);
});

test('/repeatables lists and removes repeatable jobs and job schedulers', async (t) => {
  const rig = await setup(t, { queues: ['forecast-updates'] });
  // scheduler.ts: the legacy API with a stable jobId.
  await rig.queue.add('update-all-cases-forecast', {}, { repeat: { pattern: '0 3 * * *' }, jobId: 'update-all-cases-forecast' });
  const digest = new Queue('notifications', { connection: redis(DB), prefix: rig.cfg.prefix });
  t.after(() => digest.close());
  await digest.upsertJobScheduler('digest', { every: 3600000 }, { name: 'send-daily-digest', data: {} });
  const auth = { Authorization: `Bearer ${TOKEN}` };

  assert.equal((await fetch(`${rig.base}/repeatables`)).status, 401);
  assert.equal((await fetch(`${rig.base}/repeatables`, { headers: { Authorization: 'Bearer wrong' }, method: 'DELETE' })).status, 401);
  const listed = await (await fetch(`${rig.base}/repeatables`, { headers: auth })).json();
  assert.equal(Object.keys(listed.queues).length, 7);
  const [r] = listed.queues['forecast-updates'];
  assert.equal(listed.queues['forecast-updates'].length, 1);
  assert.equal(r.name, 'update-all-cases-forecast');
  assert.equal(r.pattern, '0 3 * * *');
  assert.equal(r.id, 'update-all-cases-forecast');
  assert.ok(r.key && r.next > Date.now());
  const [s] = listed.queues.notifications;
  assert.deepEqual({ key: s.key, name: s.name, every: s.every, id: s.id }, { key: 'digest', name: 'send-daily-digest', every: 3600000, id: 'digest' });

  const del = await (await fetch(`${rig.base}/repeatables`, { headers: auth, method: 'DELETE' })).json();
  assert.deepEqual(del, { removed: 2 });
  const after = await (await fetch(`${rig.base}/repeatables`, { headers: auth })).json();
  assert.deepEqual(Object.values(after.queues).flat(), []);
  assert.equal(await rig.queue.getDelayedCount(), 0, 'the next run of the repeatable is gone too');
  assert.equal(await digest.getDelayedCount(), 0, "the scheduler's next job is gone too");
});

test('health and metrics', async (t) => {
  const rig = await setup(t);
  const h = await (await fetch(`${rig.base}/healthz`)).json();
  assert.equal(h.status, 'ok');
  assert.equal(h.service, 'bullmq-intake');
  assert.deepEqual(h.queues, ['notifications']);
  assert.equal(typeof h.uptime, 'number');
  await waitFor(async () => (await fetch(`${rig.base}/readyz`)).status === 200, { what: 'ready' });
  const added = await rig.queue.add('create-notification', { userId: 'u' });
  await waitJob(rig.queue, added.id);
  const text = await (await fetch(`${rig.base}/metrics`)).text();
  assert.match(text, /bullmq_intake_jobs_handed_over_total\{queue="notifications",duplicate="false"\} 1/);
  assert.match(text, /bullmq_intake_jobs_completed_total\{queue="notifications"\} 1/);
  assert.match(text, /bullmq_intake_jobs_in_flight\{queue="notifications"\} 0/);
});

test('the lock is renewed while a long task is mirrored: no stall, no second delivery', async (t) => {
  const { api, queue, log } = await setup(t, { queues: ['testmo-imports'], lockDuration: 1000, stalledInterval: 300 });
  const added = await queue.add('process-testmo-import', { jobId: 'ckimport', mode: 'import', fake: { ms: 3000, result: { imported: true } } }, { attempts: 1 });
  const { state, job } = await waitJob(queue, added.id, 8000);
  assert.equal(state, 'completed');
  assert.deepEqual(job.returnvalue, { imported: true });
  assert.equal(job.attemptsStarted, 1, 'delivered once');
  assert.equal(api.posts.length, 1);
  assert.ok(!log.lines.some((l) => /stalled/.test(l.msg)), 'no stall');
});
