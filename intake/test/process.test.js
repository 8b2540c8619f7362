// The intake as a process (src/main.js) against real Redis (database 12) and
// a fake task API: killed with SIGKILL in the middle of a stream and
// restarted, every job becomes exactly one task; stopped with SIGTERM, it
// exits at once and the next intake resumes its jobs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Queue } from 'bullmq';

import { taskIdFor } from '../src/mapping.js';
import { FakeAPI, REDIS_HOST, REDIS_PORT, TOKEN, leaseDB, releaseDB, redis, spawnIntake, waitFor } from './helpers.js';

let DB;

before(async () => {
  DB = await leaseDB();
});
after(() => releaseDB(DB));

function intakeEnv(api, prefix, extra = {}) {
  return {
    VALKEY_URL: `redis://${REDIS_HOST}:${REDIS_PORT}/${DB}`,
    INTAKE_API_URL: api.url,
    INTAKE_PRODUCER_TOKEN: TOKEN,
    INTAKE_PREFIX: prefix,
    INTAKE_QUEUES: 'audit-logs',
    INTAKE_HTTP_ADDR: '127.0.0.1:0',
    INTAKE_CONCURRENCY: '10',
    INTAKE_POLL_INTERVAL: '50',
    INTAKE_LOCK_DURATION: '2000',
    INTAKE_STALLED_INTERVAL: '500',
    ...extra,
  };
}

// addAudit adds n audit-event jobs as lib/services/auditLog.ts does.
async function addAudit(queue, from, n, fake) {
  const jobs = [];
  for (let i = from; i < from + n; i++) {
    jobs.push({
      name: 'audit-event',
      data: { event: { action: 'CREATE', entityType: 'RepositoryCases', entityId: String(i) }, context: null, queuedAt: new Date().toISOString(), fake: { ...fake(i), result: { i } } },
      opts: { jobId: `CREATE-RepositoryCases-${i}-${Date.now()}`, attempts: 3, backoff: { type: 'exponential', delay: 5000 } },
    });
  }
  return queue.addBulk(jobs);
}

test('killed with SIGKILL mid-stream and restarted: every job is exactly one task, completed once', async (t) => {
  const api = await new FakeAPI().listen();
  const prefix = `k${Date.now().toString(36)}`;
  const queue = new Queue('audit-logs', { connection: redis(DB), prefix });
  t.after(async () => { await queue.close(); await api.close(); });

  const slow = (i) => ({ ms: 100 + (i % 7) * 50 });
  const jobs = await addAudit(queue, 0, 80, slow);
  const first = await spawnIntake(intakeEnv(api, prefix));
  await waitFor(() => api.tasks.size >= 25, { what: '25 handovers' });
  first.child.kill('SIGKILL');
  assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
  const active = (await queue.getJobCounts('active')).active;
  jobs.push(...(await addAudit(queue, 80, 40, slow))); // the app keeps adding while the intake is down

  const second = await spawnIntake(intakeEnv(api, prefix));
  t.after(() => second.child.kill('SIGKILL'));
  await waitFor(async () => (await queue.getJobCounts('completed')).completed === jobs.length, { timeout: 20000, what: 'every job completed' });

  const { completed, failed, active: activeNow, waiting, delayed } = await queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed');
  assert.deepEqual({ completed, failed, activeNow, waiting, delayed }, { completed: jobs.length, failed: 0, activeNow: 0, waiting: 0, delayed: 0 });
  const want = new Set(jobs.map(taskIdFor));
  assert.equal(want.size, jobs.length);
  assert.deepEqual(new Set(api.tasks.keys()), want, 'the tasks are the jobs, one each');
  for (const j of jobs) {
    const done = await queue.getJob(j.id);
    assert.deepEqual(done.returnvalue, { i: Number(j.data.event.entityId) }, `job ${j.id}`);
  }
  const duplicates = api.posts.filter((p) => p.status === 200).length;
  t.diagnostic(`${active} jobs active at the kill; ${api.posts.length} POSTs for ${jobs.length} jobs (${duplicates} answered duplicate)`);
  assert.ok(second.out.stdout.includes('"duplicate":true') || duplicates === 0);
});

test('SIGTERM exits 0 at once with jobs in flight; the next intake resumes them', async (t) => {
  const api = await new FakeAPI().listen();
  const prefix = `s${Date.now().toString(36)}`;
  const queue = new Queue('audit-logs', { connection: redis(DB), prefix });
  t.after(async () => { await queue.close(); await api.close(); });

  const jobs = await addAudit(queue, 0, 5, () => ({ ms: 2500 }));
  const first = await spawnIntake(intakeEnv(api, prefix));
  await waitFor(() => api.tasks.size === 5, { what: 'five handovers' });
  assert.equal((await fetch(`http://${first.addr}/readyz`)).status, 200);
  const t0 = Date.now();
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
  const took = Date.now() - t0;
  assert.ok(took < 2000, `exited after ${took} ms`);
  assert.match(first.out.stdout, /"msg":"shutting down: in-flight jobs stay active/);
  assert.equal((await queue.getJobCounts('active')).active, 5, 'the jobs stay active, not failed');

  const second = await spawnIntake(intakeEnv(api, prefix));
  t.after(() => second.child.kill('SIGKILL'));
  await waitFor(async () => (await queue.getJobCounts('completed')).completed === 5, { timeout: 15000, what: 'the jobs resumed and completed' });
  assert.equal(api.tasks.size, 5);
  assert.equal(api.posts.filter((p) => p.status === 201).length, 5);
  for (const j of jobs) assert.deepEqual((await queue.getJob(j.id)).returnvalue, { i: Number(j.data.event.entityId) });
});
