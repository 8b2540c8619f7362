#!/usr/bin/env node
// bullmq-tool: TestPlanIt's side of the BullMQ queues, for tests that run
// outside Node (the Go end-to-end test spawns it). It uses the real bullmq
// library (intake/node_modules) exactly as the unmodified app does:
// new Queue(name).add(name, data, opts), default prefix "bull".
//
// Connection: VALKEY_URL (redis://, rediss://, valkey://, with /db and
// password), read as the intake reads it. INTAKE_PREFIX changes the prefix.
// Every command prints JSON on stdout; errors go to stderr with exit code 1
// (2 for bad usage).
//
//   add <queue> <name> '<data-json>' ['<opts-json>']
//       queue.add(name, data, opts)                  -> {"id": "<jobId>"}
//   add-many <queue> <name> <count> ['<data-json>'] ['<opts-json>'] [--index]
//       count jobs with addBulk; --index adds {"i": n} (0-based) to each
//       job's data                                   -> {"ids": ["..", ...]}
//   add-audit <count>
//       count audit-event jobs as lib/services/auditLog.ts adds them: the
//       audit-logs queue's default options (attempts 3, exponential 5 s,
//       removeOnComplete {age 365 d, count 100 000}, removeOnFail {age 90 d}),
//       jobId "<action>-<entityType>-<entityId>-<Date.now()>", distinct
//       entityId intake-<run>-<n>                    -> {"ids": [...]}
//   get <queue> <id>
//       -> {"state", "progress", "returnvalue", "failedReason",
//           "attemptsMade", "finishedOn"}; state is BullMQ's (waiting, active,
//           delayed, prioritized, completed, failed, ...) or "removed" when
//           no such job exists (removeOnComplete: true removes it at once)
//   wait <queue> <id> <timeoutMs>
//       waits until the job is completed, failed or removed and prints it as
//       get does; exit 1 (and the last state on stdout) on timeout
//   progress-log <queue> <id> <timeoutMs>
//       prints every distinct progress value seen (one JSON value a line,
//       polled every 20 ms) until the job finishes; exit 1 on timeout
//   counts <queue>
//       -> {"completed", "failed", "active", "waiting", "delayed", "prioritized", "paused"}

import { Queue } from 'bullmq';

import { ConfigError, parseValkeyURL } from '../src/config.js';

const AUDIT_DEFAULTS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: { age: 365 * 24 * 3600, count: 100000 },
  removeOnFail: { age: 90 * 24 * 3600 },
};

class UsageError extends Error {}

function json(arg, what) {
  if (arg === undefined || arg === '') return undefined;
  try {
    return JSON.parse(arg);
  } catch (err) {
    throw new UsageError(`${what}: not JSON: ${err.message}`);
  }
}

function count(arg) {
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`"${arg}" is not a count`);
  return n;
}

async function describe(queue, id) {
  // The state first, then the job: read the other way round, a job seen
  // active could be reported completed without its return value.
  const state = await queue.getJobState(id);
  const job = state === 'unknown' ? null : await queue.getJob(id);
  if (!job) return { state: 'removed', progress: null, returnvalue: null, failedReason: null, attemptsMade: 0, finishedOn: null };
  return {
    state,
    progress: job.progress ?? null,
    returnvalue: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
    attemptsMade: job.attemptsMade ?? 0,
    finishedOn: job.finishedOn ?? null,
  };
}

const ended = (state) => state === 'completed' || state === 'failed' || state === 'removed';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(args, out) {
  const [cmd, queueName, ...rest] = args;
  if (!cmd || !queueName) throw new UsageError('usage: see the comment at the top of bullmq-tool.js');
  const connection = parseValkeyURL(process.env.VALKEY_URL || 'redis://127.0.0.1:6379');
  const prefix = process.env.INTAKE_PREFIX || 'bull';
  const open = (name) => new Queue(name, { connection, prefix });

  if (cmd === 'add-audit') {
    const n = count(queueName);
    const queue = open('audit-logs');
    try {
      const run = Date.now().toString(36);
      const jobs = [];
      for (let i = 0; i < n; i++) {
        const event = { action: 'CREATE', entityType: 'RepositoryCases', entityId: `intake-${run}-${i}`, entityName: `Intake case ${i}` };
        jobs.push({
          name: 'audit-event',
          data: { event, context: { ipAddress: '127.0.0.1', userAgent: 'bullmq-tool', requestId: `req-${run}-${i}` }, queuedAt: new Date().toISOString() },
          opts: { ...AUDIT_DEFAULTS, jobId: `${event.action}-${event.entityType}-${event.entityId}-${Date.now()}` },
        });
      }
      const added = await queue.addBulk(jobs);
      out({ ids: added.map((j) => j.id) });
    } finally {
      await queue.close();
    }
    return 0;
  }

  const queue = open(queueName);
  try {
    switch (cmd) {
      case 'add': {
        const [name, data, opts] = rest;
        if (!name) throw new UsageError('add <queue> <name> <data-json> [opts-json]');
        const job = await queue.add(name, json(data, 'data') ?? {}, json(opts, 'opts'));
        out({ id: job.id });
        return 0;
      }
      case 'add-many': {
        const index = rest.includes('--index');
        const [name, n, data, opts] = rest.filter((a) => a !== '--index');
        if (!name) throw new UsageError('add-many <queue> <name> <count> [data-json] [opts-json] [--index]');
        const base = json(data, 'data') ?? {};
        const o = json(opts, 'opts');
        const jobs = Array.from({ length: count(n) }, (_, i) => ({ name, data: index ? { ...base, i } : base, opts: o }));
        const ids = [];
        for (let i = 0; i < jobs.length; i += 1000) {
          ids.push(...(await queue.addBulk(jobs.slice(i, i + 1000))).map((j) => j.id));
        }
        out({ ids });
        return 0;
      }
      case 'get': {
        out(await describe(queue, rest[0]));
        return 0;
      }
      case 'wait': {
        const [id, timeout] = rest;
        const deadline = Date.now() + count(timeout ?? '60000');
        for (;;) {
          const d = await describe(queue, id);
          if (ended(d.state) || Date.now() > deadline) {
            out(d);
            return ended(d.state) ? 0 : 1;
          }
          await sleep(50);
        }
      }
      case 'progress-log': {
        const [id, timeout] = rest;
        const deadline = Date.now() + count(timeout ?? '60000');
        let last;
        for (;;) {
          const d = await describe(queue, id);
          const p = JSON.stringify(d.progress);
          if (d.state !== 'removed' && p !== last) {
            process.stdout.write(p + '\n');
            last = p;
          }
          if (ended(d.state)) return 0;
          if (Date.now() > deadline) {
            process.stderr.write(`progress-log: job ${id} still ${d.state} after the timeout\n`);
            return 1;
          }
          await sleep(20);
        }
      }
      case 'counts': {
        out(await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized', 'paused'));
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } finally {
    await queue.close();
  }
}

// `node --test` runs every .js file under test/, this one included: with no
// arguments under the test runner it has nothing to do.
if (process.argv.length <= 2 && process.env.NODE_TEST_CONTEXT) process.exit(0);

try {
  const code = await run(process.argv.slice(2), (v) => process.stdout.write(JSON.stringify(v) + '\n'));
  process.exit(code);
} catch (err) {
  process.stderr.write(`bullmq-tool: ${err.message}\n`);
  process.exit(err instanceof UsageError || err instanceof ConfigError ? 2 : 1);
}
