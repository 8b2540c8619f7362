import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { loadConfig, parseValkeyURL } from '../src/config.js';
import { MAIN } from './helpers.js';

const good = { VALKEY_URL: 'redis://127.0.0.1:6379/11', INTAKE_API_URL: 'http://127.0.0.1:8080', INTAKE_PRODUCER_TOKEN: 'secret-token' };

test('defaults', () => {
  const c = loadConfig(good);
  assert.equal(c.apiURL, 'http://127.0.0.1:8080');
  assert.equal(c.queues.length, 7);
  assert.equal(c.prefix, 'bull');
  assert.equal(c.concurrency, 200);
  assert.equal(c.pollInterval, 500);
  assert.equal(c.lockDuration, 60000);
  assert.equal(c.stalledInterval, 30000);
  assert.equal(c.maxStalled, 1000);
  assert.equal(c.shutdownTimeout, 10000);
  assert.deepEqual(c.http, { host: '127.0.0.1', port: 9109 });
  assert.deepEqual(loadConfig({ ...good, INTAKE_HTTP_ADDR: ':9200' }).http, { host: '', port: 9200 });
  assert.deepEqual(loadConfig({ ...good, INTAKE_QUEUES: 'emails, audit-logs' }).queues, ['emails', 'audit-logs']);
});

test('configuration errors name the variable', () => {
  const cases = [
    [{ ...good, INTAKE_API_URL: '' }, 'config: INTAKE_API_URL: required but not set'],
    [{ ...good, INTAKE_PRODUCER_TOKEN: undefined }, 'config: INTAKE_PRODUCER_TOKEN: required but not set'],
    [{ ...good, VALKEY_URL: undefined }, 'config: VALKEY_URL: required but not set'],
    [{ ...good, INTAKE_API_URL: 'localhost:8080' }, /^config: INTAKE_API_URL: /],
    [{ ...good, INTAKE_API_URL: 'not a url' }, /^config: INTAKE_API_URL: "not a url" is not a URL/],
    [{ ...good, INTAKE_CONCURRENCY: 'abc' }, 'config: INTAKE_CONCURRENCY: "abc" is not an integer'],
    [{ ...good, INTAKE_CONCURRENCY: '0' }, 'config: INTAKE_CONCURRENCY: 0 is out of range [1, 10000]'],
    [{ ...good, INTAKE_POLL_INTERVAL: '1.5' }, /^config: INTAKE_POLL_INTERVAL: /],
    [{ ...good, INTAKE_LOCK_DURATION: '-1' }, /^config: INTAKE_LOCK_DURATION: /],
    [{ ...good, INTAKE_STALLED_INTERVAL: 'x' }, /^config: INTAKE_STALLED_INTERVAL: /],
    [{ ...good, INTAKE_MAX_STALLED: 'many' }, /^config: INTAKE_MAX_STALLED: /],
    [{ ...good, INTAKE_SHUTDOWN_TIMEOUT: '10s' }, /^config: INTAKE_SHUTDOWN_TIMEOUT: /],
    [{ ...good, INTAKE_HTTP_ADDR: '9109' }, /^config: INTAKE_HTTP_ADDR: /],
    [{ ...good, INTAKE_QUEUES: 'emails,bogus' }, /^config: INTAKE_QUEUES: unknown queue "bogus"/],
    [{ ...good, VALKEY_URL: 'http://u:topsecret@cache' }, /^config: VALKEY_URL: unsupported scheme "http"/],
    [{ ...good, VALKEY_URL: 'redis://u:topsecret@cache/abc' }, /^config: VALKEY_URL: database "abc"/],
    [{ ...good, VALKEY_URL: 'valkey+cluster://a:7000,b:7001' }, /^config: VALKEY_URL: a cluster URL is not supported/],
  ];
  for (const [env, want] of cases) {
    assert.throws(() => loadConfig(env), (err) => {
      if (typeof want === 'string') assert.equal(err.message, want);
      else assert.match(err.message, want);
      assert.doesNotMatch(err.message, /topsecret|secret-token/);
      return true;
    });
  }
});

test('VALKEY_URL is read as the fleet reads it', () => {
  assert.deepEqual(parseValkeyURL('valkey://cache'), { maxRetriesPerRequest: null, db: 0, host: 'cache', port: 6379 });
  assert.deepEqual(parseValkeyURL('redis://:p%40ss@cache:6380/2'), { maxRetriesPerRequest: null, password: 'p@ss', db: 2, host: 'cache', port: 6380 });
  assert.deepEqual(parseValkeyURL('redis://user:pw@cache?db=3'), { maxRetriesPerRequest: null, username: 'user', password: 'pw', db: 3, host: 'cache', port: 6379 });
  assert.deepEqual(parseValkeyURL('rediss://cache.example:6390'), { maxRetriesPerRequest: null, db: 0, host: 'cache.example', port: 6390, tls: { servername: 'cache.example' } });
  assert.deepEqual(parseValkeyURL('valkeys://cache.example').tls, { servername: 'cache.example' });
  assert.deepEqual(parseValkeyURL('redis://[::1]:6379/1'), { maxRetriesPerRequest: null, db: 1, host: '::1', port: 6379 });
  const s = parseValkeyURL('redis+sentinel://:pw@s1,s2:26380/4?master=mymaster');
  assert.deepEqual(s, { maxRetriesPerRequest: null, password: 'pw', db: 4, name: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }] });
});

test('main stops with one line naming the variable and exit code 2', () => {
  const r = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, VALKEY_URL: 'redis://127.0.0.1/11', INTAKE_PRODUCER_TOKEN: 'x' }, encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'config: INTAKE_API_URL: required but not set\n');
  assert.equal(r.stdout, '');
});
