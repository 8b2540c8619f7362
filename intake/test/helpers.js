// Test helpers: a fake of the dashboard's task API, a scratch Redis
// database, and polling with a deadline. Not a test file itself (node --test
// runs it and finds no tests).

import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { Queue } from 'bullmq';

export const TOKEN = 'test-producer-token-0123456789';
export const REDIS_HOST = process.env.REDIS_HOST || '127.0.0.1';
export const REDIS_PORT = Number(process.env.REDIS_PORT || 6379);
export const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

/** redis returns ioredis options for database db. */
export function redis(db) {
  return { host: REDIS_HOST, port: REDIS_PORT, db, maxRetriesPerRequest: null };
}

// The Go tests' lease protocol (internal/testenv/redis.go): databases 1..15
// are leased with SET tpi-test:lease:db:<n> <token> NX in database 0, so a
// test never flushes a database another test (Go or Node) is using.
const FIRST_DB = 1;
const LAST_DB = 15;
const LEASE_MS = 10 * 60 * 1000;

/**
 * leaseDB takes a free test database, empties it and returns its number;
 * releaseDB(db) empties and frees it. Waits up to three minutes for one.
 */
export async function leaseDB() {
  const ctl = new Queue('lease', { connection: redis(0) });
  const token = `node:${process.pid}:${Math.random().toString(16).slice(2)}`;
  try {
    const client = await ctl.client;
    const deadline = Date.now() + 3 * 60 * 1000;
    for (;;) {
      for (let db = FIRST_DB; db <= LAST_DB; db++) {
        if ((await client.set(`tpi-test:lease:db:${db}`, token, 'PX', LEASE_MS, 'NX')) === 'OK') {
          leases.set(db, token);
          await flushDB(db);
          return db;
        }
      }
      if (Date.now() > deadline) throw new Error('no free Redis test database after 3 minutes (leases in DB 0, keys tpi-test:lease:db:*)');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await ctl.close();
  }
}

const leases = new Map();

/** releaseDB empties db and frees its lease if this process holds it. */
export async function releaseDB(db) {
  const token = leases.get(db);
  if (!token) return;
  leases.delete(db);
  await flushDB(db);
  const ctl = new Queue('lease', { connection: redis(0) });
  try {
    const client = await ctl.client;
    if ((await client.get(`tpi-test:lease:db:${db}`)) === token) await client.del(`tpi-test:lease:db:${db}`);
  } finally {
    await ctl.close();
  }
}

/** flushDB empties database db, and only it (never database 0). */
export async function flushDB(db) {
  if (db < FIRST_DB) throw new Error(`refusing to flush database ${db}`);
  const q = new Queue('flush', { connection: redis(db) });
  try {
    await (await q.client).flushdb();
  } finally {
    await q.close();
  }
}

/** waitFor polls fn until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, { timeout = 10000, every = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** waitJob waits until the job is completed or failed and returns it with its state. */
export async function waitJob(queue, id, timeout = 10000) {
  return waitFor(async () => {
    const state = await queue.getJobState(id);
    // Read the job after its state is final: read before, it may lack the
    // return value or failed reason written in between.
    return state === 'completed' || state === 'failed' ? { job: await queue.getJob(id), state } : null;
  }, { timeout, what: `job ${id} to finish` });
}

/**
 * FakeAPI is a stand-in for the dashboard's task API, deduplicating task IDs
 * as ours does. What a task does is read from its payload's "fake" field:
 *   { ms: run time (0), result: any (default {ok: true}), progress: true
 *     (0..100 over ms), finalProgress: progress once completed (100; null
 *     as when the result document has no percentage), archive: "error"
 *     (ends archived with that error) }
 * mode: 'ok' | '503' | '401' answers every request accordingly.
 * refuse(type, payload) returns a reason to answer 400 with, or null.
 */
export class FakeAPI {
  constructor() {
    this.tasks = new Map(); // id -> { id, type, queue, payload, options, createdAt }
    this.posts = []; // { taskId, at, status }
    this.gets = 0;
    this.mode = 'ok';
    this.refuse = (type, payload) => {
      if (type.startsWith('unknown:') || type.endsWith(':no-such-job')) return `type: unknown task type "${type}"`;
      if (payload?.fake?.refuse) return payload.fake.refuse;
      return null;
    };
    this.server = http.createServer((req, res) => this.#serve(req, res));
    this.sockets = new Set();
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  async listen(port = 0) {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** down stops listening (connection refused) until up(). */
  async down() {
    await new Promise((r) => { this.server.close(r); for (const s of this.sockets) s.destroy(); });
  }

  async up() {
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
  }

  close() {
    return this.down();
  }

  /** seed records a task as if it had been enqueued before. */
  seed(id, type, payload) {
    this.tasks.set(id, { id, type, queue: type.split(':')[0], payload, options: { taskId: id }, createdAt: Date.now() });
  }

  postsFor(taskId) {
    return this.posts.filter((p) => p.taskId === taskId);
  }

  async #serve(req, res) {
    const send = (code, body) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (this.mode === '503') return send(503, { error: 'cannot reach the queue store; retry later' });
    if (this.mode === '401' || req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'unauthorized: missing or wrong bearer token' });
    if (req.method === 'POST' && req.url === '/api/v1/tasks') {
      const body = JSON.parse(raw);
      const taskId = body.options?.taskId;
      const reason = this.refuse(body.type, body.payload);
      if (reason) {
        this.posts.push({ taskId, at: Date.now(), status: 400, body });
        return send(400, { error: reason });
      }
      const queue = body.type.split(':')[0];
      if (this.tasks.has(taskId)) {
        this.posts.push({ taskId, at: Date.now(), status: 200, body });
        return send(200, { id: taskId, type: body.type, queue, duplicate: true });
      }
      this.tasks.set(taskId, { id: taskId, type: body.type, queue, payload: body.payload, options: body.options, createdAt: Date.now() });
      this.posts.push({ taskId, at: Date.now(), status: 201, body });
      return send(201, { id: taskId, type: body.type, queue, state: 'pending', processAt: new Date().toISOString() });
    }
    const m = /^\/api\/v1\/tasks\/([^/]+)\/([^/]+)$/.exec(req.url);
    if (req.method === 'GET' && m) {
      this.gets++;
      const t = this.tasks.get(decodeURIComponent(m[2]));
      if (!t || t.queue !== decodeURIComponent(m[1]) || t.deleted) return send(404, { error: 'task not found' });
      return send(200, statusOf(t));
    }
    return send(404, { error: 'not found' });
  }
}

function statusOf(t) {
  const fake = t.payload?.fake ?? {};
  const ms = fake.ms ?? 0;
  const elapsed = Date.now() - t.createdAt;
  const base = { id: t.id, queue: t.queue, type: t.type, retried: 0, maxRetry: t.options?.maxRetry ?? 2, progress: null, result: null };
  if (elapsed < ms) {
    return { ...base, state: 'active', progress: fake.progress ? Math.floor((elapsed / ms) * 100) : null };
  }
  if (fake.archive) {
    return { ...base, state: 'archived', retried: base.maxRetry, error: fake.archive, lastFailedAt: new Date().toISOString() };
  }
  const final = 'finalProgress' in fake ? fake.finalProgress : 100;
  return { ...base, state: 'completed', progress: fake.progress ? final : null, result: fake.result ?? { ok: true }, completedAt: new Date().toISOString() };
}

/** config is an intake configuration for tests (loadConfig's shape). */
export function config(db, api, overrides = {}) {
  return {
    redis: redis(db),
    apiURL: api.url,
    token: TOKEN,
    queues: ['forecast-updates', 'notifications', 'emails', 'issue-sync', 'testmo-imports', 'elasticsearch-reindex', 'audit-logs'],
    prefix: `t${Math.random().toString(36).slice(2, 8)}`,
    concurrency: 50,
    pollInterval: 50,
    lockDuration: 5000,
    stalledInterval: 1000,
    maxStalled: 1000,
    shutdownTimeout: 5000,
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'error',
    ...overrides,
  };
}

/** quiet is a Logger stand-in that keeps lines for assertions. */
export function memoryLog() {
  const lines = [];
  const log = {
    lines,
    with: () => log,
    debug: (msg, f) => lines.push({ level: 'debug', msg, ...f }),
    info: (msg, f) => lines.push({ level: 'info', msg, ...f }),
    warn: (msg, f) => lines.push({ level: 'warn', msg, ...f }),
    error: (msg, f) => lines.push({ level: 'error', msg, ...f }),
  };
  return log;
}

/**
 * spawnIntake runs src/main.js as a child process with env; it resolves
 * once the intake logs "intake started", with the child, its HTTP address
 * and its output so far.
 */
export async function spawnIntake(env) {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => { out.stdout += d; });
  child.stderr.on('data', (d) => { out.stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const addr = await Promise.race([
    waitFor(() => {
      const line = out.stdout.split('\n').find((l) => l.includes('"intake started"'));
      return line && JSON.parse(line).http;
    }, { timeout: 15000, what: 'the intake to start' }),
    exited.then((e) => { throw new Error(`intake exited early (${JSON.stringify(e)}): ${out.stderr}${out.stdout}`); }),
  ]);
  return { child, addr, out, exited };
}
