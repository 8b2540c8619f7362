import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { QUEUES, isRepeatable, isSafeTaskID, routeJob, taskIdFor } from '../src/mapping.js';

test('job names map to task types as reference §1.3 says', () => {
  const cases = [
    ['forecast-updates', 'update-all-cases-forecast', { forward: 'forecast-updates:update-all-cases-forecast' }],
    ['forecast-updates', 'milestone-due-notifications', { forward: 'forecast-updates:milestone-due-notifications' }],
    ['notifications', 'create-notification', { forward: 'notifications:create-notification' }],
    ['notifications', 'send-daily-digest', { forward: 'notifications:send-daily-digest' }],
    ['emails', 'send-digest-email', { forward: 'emails:send-digest-email' }],
    ['issue-sync', 'refresh-issue', { forward: 'issue-sync:refresh-issue' }],
    ['testmo-imports', 'process-testmo-import', { forward: 'testmo-imports:process-testmo-import' }],
    ['elasticsearch-reindex', 'reindex', { forward: 'elasticsearch-reindex:reindex' }],
    ['elasticsearch-reindex', 'reindex-after-import-ckx123', { forward: 'elasticsearch-reindex:reindex' }],
    ['audit-logs', 'audit-event', { forward: 'audit-logs:audit-event' }],
    // Unknown names go to the API, which refuses them.
    ['emails', 'no-such-job', { forward: 'emails:no-such-job' }],
    ['notifications', 'reindex-after-import-1', { forward: 'notifications:reindex-after-import-1' }],
  ];
  for (const [queue, name, want] of cases) assert.deepEqual(routeJob(queue, name), want, `${queue} ${name}`);

  assert.deepEqual(routeJob('issue-sync', 'create-issue').complete, { success: false, error: 'Not implemented' });
  assert.deepEqual(routeJob('issue-sync', 'update-issue').complete, { success: false, error: 'Not implemented' });
  assert.deepEqual(routeJob('notifications', 'process-user-notifications').complete, {
    forwarded: false,
    reason: 'process-user-notifications only counted unread notifications in the original; nothing to do',
  });
  assert.equal(QUEUES.length, 7);
});

test('task IDs derive from the job: stable, tenant-prefixed, unsafe IDs hashed', () => {
  const job = (id, timestamp, data = {}) => ({ id, timestamp, data });
  assert.equal(taskIdFor(job('42', 1700000000123)), 'bullmq:42:1700000000123');
  assert.equal(taskIdFor(job('42', 1700000000123)), taskIdFor(job('42', 1700000000123)), 'stable');
  assert.notEqual(taskIdFor(job('42', 1700000000123)), taskIdFor(job('42', 1700000000124)), 'a job re-added later is another task');
  assert.equal(taskIdFor(job('CREATE-RepositoryCases-7-1700', 5, { tenantId: 'acme' })), 'acme:bullmq:CREATE-RepositoryCases-7-1700:5');
  assert.equal(taskIdFor(job('7', 5, { tenantId: '' })), 'bullmq:7:5', 'an empty tenant is no tenant');
  assert.equal(taskIdFor(job('7', 5, { tenantId: 3 })), 'bullmq:7:5', 'a tenant that is not a string is no tenant');

  const h = (s) => 'h-' + createHash('sha256').update(s).digest('hex').slice(0, 32);
  for (const unsafe of ['a/b', 'with space', 'x..y', 'é', 'x'.repeat(190)]) {
    const id = taskIdFor(job(unsafe, 9, { tenantId: 'acme' }));
    assert.equal(id, `acme:bullmq:${h(unsafe)}:9`, unsafe);
    assert.ok(isSafeTaskID(id), id);
  }
  const weirdTenant = taskIdFor(job('1', 2, { tenantId: 'a b/c' }));
  assert.equal(weirdTenant, `${h('a b/c')}:bullmq:1:2`);
  assert.ok(isSafeTaskID(weirdTenant));
});

test('repeatable jobs are told apart', () => {
  assert.ok(isRepeatable({ id: '1', repeatJobKey: 'abc', opts: {} }));
  assert.ok(isRepeatable({ id: '1', opts: { repeat: { pattern: '0 3 * * *' } } }));
  assert.ok(isRepeatable({ id: 'repeat:abc:1700', opts: {} }));
  assert.ok(!isRepeatable({ id: '12', opts: { attempts: 3 } }));
});
