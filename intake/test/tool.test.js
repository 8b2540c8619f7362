// bullmq-tool.js, the CLI the Go end-to-end test spawns, against real Redis
// (database 13) with a plain BullMQ Worker standing in for the intake.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Worker } from 'bullmq';

import { REDIS_HOST, REDIS_PORT, leaseDB, releaseDB, redis } from './helpers.js';

let DB;
const TOOL = fileURLToPath(new URL('./bullmq-tool.js', import.meta.url));
const PREFIX = `tool${Date.now().toString(36)}`;

before(async () => {
  DB = await leaseDB();
});
after(() => releaseDB(DB));

async function tool(...args) {
  const env = { PATH: process.env.PATH, VALKEY_URL: `valkey://${REDIS_HOST}:${REDIS_PORT}/${DB}`, INTAKE_PREFIX: PREFIX };
  const { stdout } = await promisify(execFile)(process.execPath, [TOOL, ...args], { env });
  return stdout.trim().split('\n').map((l) => JSON.parse(l));
}

test('add, progress-log, wait, get, add-many, add-audit, counts', async (t) => {
  const worker = new Worker('elasticsearch-reindex', async (job) => {
    if (job.data.fail) throw new Error('boom');
    if (job.data.entityType) await new Promise((r) => setTimeout(r, 800)); // progress-log starts meanwhile
    for (const p of [10, 50, 100]) {
      await job.updateProgress(p);
      await new Promise((r) => setTimeout(r, 150));
    }
    return { percentage: 100 };
  }, { connection: redis(DB), prefix: PREFIX, concurrency: 5 });
  t.after(() => worker.close());

  const [{ id }] = await tool('add', 'elasticsearch-reindex', 'reindex', '{"entityType":"all"}', '{"attempts":1,"removeOnFail":false}');
  assert.ok(id);
  const seen = (await tool('progress-log', 'elasticsearch-reindex', id, '10000')).filter((p) => typeof p === 'number' && p > 0);
  // Every value, unless the tool started late (a loaded machine).
  assert.ok(seen.length >= 2 && seen.at(-1) === 100 && seen.includes(50), `progress seen: ${seen}`);
  const [done] = await tool('wait', 'elasticsearch-reindex', id, '10000');
  assert.equal(done.state, 'completed');
  assert.deepEqual(done.returnvalue, { percentage: 100 });
  assert.equal(done.progress, 100);
  assert.equal(done.attemptsMade, 1);
  assert.ok(done.finishedOn > 0);

  const [bad] = await tool('add', 'elasticsearch-reindex', 'reindex', '{"fail":true}', '{"attempts":1}');
  const [failed] = await tool('wait', 'elasticsearch-reindex', bad.id, '10000');
  assert.equal(failed.state, 'failed');
  assert.equal(failed.failedReason, 'boom');

  const [gone] = await tool('add', 'elasticsearch-reindex', 'reindex', '{}', '{"removeOnComplete":true}');
  assert.equal((await tool('wait', 'elasticsearch-reindex', gone.id, '10000'))[0].state, 'removed');

  const [{ ids }] = await tool('add-many', 'emails', 'send-digest-email', '3', '{"userId":"u"}', '--index');
  assert.equal(ids.length, 3);
  const [first] = await tool('get', 'emails', ids[2]);
  assert.equal(first.state, 'waiting');

  const [audit] = await tool('add-audit', '4');
  assert.equal(audit.ids.length, 4);
  assert.match(audit.ids[0], /^CREATE-RepositoryCases-intake-[a-z0-9]+-0-\d+$/);
  const [counts] = await tool('counts', 'audit-logs');
  assert.equal(counts.waiting, 4);
});
