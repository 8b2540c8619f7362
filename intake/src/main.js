// bullmq-intake: consumes TestPlanIt's original BullMQ queues with BullMQ's
// own Worker, hands each job to the Go fleet through the dashboard's task API
// and mirrors the task back onto the BullMQ job (README.md).
//
// main() reads the configuration, starts the intake and stops it on
// SIGTERM/SIGINT; startIntake() is what the tests call.

import { pathToFileURL } from 'node:url';

import { Queue, Worker } from 'bullmq';

import { TaskAPI } from './api.js';
import { ConfigError, loadConfig } from './config.js';
import { startHTTP } from './http.js';
import { Logger, Throttle } from './log.js';
import { QUEUES } from './mapping.js';
import { newMetrics } from './metrics.js';
import { makeProcessor, sleep } from './processor.js';

/** ShutdownError is the reason the in-flight mirrors are aborted with. */
export class ShutdownError extends Error {
  constructor() {
    super('the intake is shutting down');
    this.name = 'ShutdownError';
  }
}

/**
 * startIntake starts one Worker per configured queue and the HTTP server.
 * It resolves to { address, close() }: address is the HTTP server's
 * {address, port}; close() stops everything without waiting for the mirrors
 * (their jobs stay active and are resumed by the next intake).
 */
export async function startIntake(cfg, { log = new Logger({ level: cfg.logLevel }), retry } = {}) {
  const metrics = newMetrics();
  const throttle = new Throttle(60000);
  const shutdown = new AbortController();
  const state = { draining: false, apiRefused: 0, startedAt: Date.now() };

  const api = new TaskAPI({
    baseURL: cfg.apiURL,
    token: cfg.token,
    onAnswer: (status) => {
      if (status === 401 || status === 403) {
        if (!state.apiRefused) log.error('the task API refuses the producer token: not ready until it accepts it', { status });
        state.apiRefused = status;
      } else if (status !== 0 && state.apiRefused) {
        log.info('the task API accepts the producer token again', { status });
        state.apiRefused = 0;
      }
    },
  });

  const workers = cfg.queues.map((queue) => {
    const processor = makeProcessor({
      queue, api, metrics, throttle, retry,
      log, pollInterval: cfg.pollInterval, signal: shutdown.signal,
    });
    const w = new Worker(queue, processor, {
      connection: { ...cfg.redis },
      prefix: cfg.prefix,
      concurrency: cfg.concurrency,
      lockDuration: cfg.lockDuration,
      stalledInterval: cfg.stalledInterval,
      maxStalledCount: cfg.maxStalled,
    });
    w.on('error', (err) => {
      if (state.draining) return;
      const held = throttle.pass(`worker-error:${queue}:${err.message}`);
      if (held !== null) log.error('bullmq worker error', { queue, err: err.message, held_back: held });
    });
    w.on('stalled', (jobId) => log.warn('job stalled (its lock lapsed) and is delivered again', { queue, job_id: jobId }));
    return w;
  });

  // The admin endpoint's Queue objects, made on first use: all seven queues,
  // since the original scheduler may have left repeatables on any of them.
  let adminQueues = null;
  const queuesForAdmin = () => {
    adminQueues ??= QUEUES.map((name) => {
      const q = new Queue(name, { connection: { ...cfg.redis }, prefix: cfg.prefix });
      q.on('error', (err) => log.debug('admin queue connection error', { queue: name, err: err.message }));
      return q;
    });
    return adminQueues;
  };
  const repeatables = {
    list: () => listRepeatables(queuesForAdmin()),
    remove: () => removeRepeatables(queuesForAdmin()),
  };

  const health = async () => {
    const base = { queues: cfg.queues, startedAt: state.startedAt };
    if (state.draining) return { ...base, ready: false, why: 'draining: shutting down' };
    if (state.apiRefused) return { ...base, ready: false, why: `the task API refuses the producer token (${state.apiRefused})` };
    for (const w of workers) {
      if (!w.isRunning()) return { ...base, ready: false, why: `worker for ${w.name} not running` };
      // w.client waits for the connection: never longer than a second here.
      const client = await Promise.race([w.client, sleep(1000).then(() => null)]);
      if (client?.status !== 'ready') return { ...base, ready: false, why: `Valkey connection ${client?.status ?? 'not established'}` };
    }
    return { ...base, ready: true };
  };

  // The HTTP server reads readiness from healthNow, refreshed every 250 ms
  // (asking Valkey's connection status is asynchronous).
  let healthNow = { queues: cfg.queues, startedAt: state.startedAt, ready: false, why: 'starting' };
  const refresh = async () => {
    try {
      const h = await health();
      if (!state.draining) healthNow = h;
    } catch (err) {
      healthNow = { queues: cfg.queues, startedAt: state.startedAt, ready: false, why: err.message };
    }
  };
  let server;
  try {
    server = await startHTTP(cfg.http, { health: () => healthNow, registry: metrics.registry, token: cfg.token, repeatables, log });
  } catch (err) {
    shutdown.abort(new ShutdownError());
    await Promise.allSettled(workers.map((w) => w.close(true)));
    throw new Error(`listening on INTAKE_HTTP_ADDR: ${err.message}`);
  }
  await refresh();
  const refresher = setInterval(refresh, 250);
  refresher.unref();

  const address = server.address();
  log.info('intake started', {
    queues: cfg.queues, prefix: cfg.prefix, concurrency: cfg.concurrency, api: cfg.apiURL,
    valkey: `${cfg.redis.host ?? cfg.redis.name}:${cfg.redis.port ?? ''}/${cfg.redis.db}`,
    http: `${address.address}:${address.port}`,
  });

  let closing = null;
  const close = () => {
    closing ??= (async () => {
      state.draining = true;
      healthNow = { ...healthNow, ready: false, why: 'draining: shutting down' };
      log.info('shutting down: in-flight jobs stay active and are resumed by the next intake', {
        in_flight: workers.reduce((n, w) => n + (w.lockManager?.getActiveJobCount?.() ?? 0), 0),
      });
      shutdown.abort(new ShutdownError());
      clearInterval(refresher);
      await Promise.allSettled(workers.map((w) => w.close(true)));
      if (adminQueues) await Promise.allSettled(adminQueues.map((q) => q.close()));
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      log.info('intake stopped');
    })();
    return closing;
  };
  return { address, close, metrics };
}

/** listRepeatables lists the legacy repeatable jobs and job schedulers of queues. */
export async function listRepeatables(queues) {
  const out = {};
  for (const q of queues) {
    out[q.name] = (await repeatablesOf(q)).map(({ kind: _kind, ...r }) => r);
  }
  return { queues: out };
}

/** removeRepeatables removes them all and returns how many it removed. */
export async function removeRepeatables(queues) {
  let removed = 0;
  for (const q of queues) {
    for (const r of await repeatablesOf(q)) {
      const ok = r.kind === 'scheduler' ? await q.removeJobScheduler(r.key) : await q.removeRepeatableByKey(r.key);
      if (ok) removed++;
    }
  }
  return removed;
}

// Both APIs read the same sorted set (<prefix>:<queue>:repeat); an entry is
// a job scheduler when its hash counts iterations ("ic"), else a legacy
// repeatable job as TestPlanIt's scheduler adds them.
async function repeatablesOf(q) {
  const [legacy, schedulers] = await Promise.all([q.getRepeatableJobs(), q.getJobSchedulers()]);
  const byKey = new Map();
  for (const s of schedulers) {
    if (!s) continue;
    byKey.set(s.key, { kind: s.iterationCount !== undefined ? 'scheduler' : 'repeatable', key: s.key, name: s.name, pattern: s.pattern, every: s.every, next: s.next, id: s.iterationCount !== undefined ? s.key : s.id });
  }
  for (const r of legacy) {
    if (!r || byKey.has(r.key)) continue;
    byKey.set(r.key, { kind: 'repeatable', key: r.key, name: r.name, pattern: r.pattern ?? undefined, every: r.every ?? undefined, next: r.next, id: r.id ?? undefined });
  }
  const list = [...byKey.values()];
  // A legacy repeatable keeps the producer's jobId only in the options of
  // its next job (repeat:<key>:<next>).
  for (const r of list) {
    if (r.id || r.kind !== 'repeatable' || !r.next) continue;
    const next = await q.getJob(`repeat:${r.key}:${r.next}`);
    r.id = next?.opts?.repeat?.jobId ?? undefined;
  }
  for (const r of list) {
    if (r.every !== undefined && r.every !== null) r.every = Number(r.every);
    for (const k of ['pattern', 'every', 'id']) if (r[k] === undefined || r[k] === null) delete r[k];
  }
  return list;
}

/** main runs the intake until SIGTERM or SIGINT. */
export async function main(env = process.env) {
  let cfg;
  try {
    cfg = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  const log = new Logger({ level: cfg.logLevel });
  // Signals are handled from the start: startIntake does not wait for
  // Valkey, but a signal during start-up must not be lost either.
  const started = startIntake(cfg, { log });
  let stopping = false;
  const stop = async (sig) => {
    if (stopping) return;
    stopping = true;
    log.info('signal received', { signal: sig });
    const timer = setTimeout(() => {
      log.warn('shutdown took longer than INTAKE_SHUTDOWN_TIMEOUT; exiting', { timeout_ms: cfg.shutdownTimeout });
      process.exit(0);
    }, cfg.shutdownTimeout);
    timer.unref();
    try {
      await (await started).close();
    } catch {
      // start-up failed: reported below
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err: err?.message ?? String(err) }));
  try {
    await started;
  } catch (err) {
    log.error('cannot start', { err: err.message });
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main();
}
