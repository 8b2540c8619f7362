// The processor the BullMQ Worker runs for every job: hand the job to the
// fleet as a task (idempotent, by a task ID derived from the job), then keep
// the BullMQ job active while mirroring the task's progress, and end it as
// the task ends. BullMQ renews the job's lock while this promise is pending;
// the mirror only awaits timers and HTTP calls, so the event loop stays free
// and an import that runs for hours keeps its lock.

import { UnrecoverableError } from 'bullmq';

import { MisconfiguredError, NotFoundError, PermanentError, RefusedError, TransientError } from './api.js';
import { isRepeatable, routeJob, taskIdFor } from './mapping.js';

/** Retry of transient API trouble: 1 s doubling to 30 s, for as long as the worker runs. */
export const RETRY_START_MS = 1000;
export const RETRY_MAX_MS = 30000;
/** The first status poll comes this soon; the wait doubles up to the poll interval. */
export const POLL_START_MS = 100;

// States of a task that has not ended (asynq's).
const RUNNING = new Set(['pending', 'active', 'scheduled', 'retry', 'aggregating']);

export const REPEATABLE_REASON =
  'repeatable job of the original scheduler: not forwarded; our scheduler owns schedules (remove it: tpictl bullmq repeatables --remove)';

/**
 * makeProcessor returns the processor for queue's Worker.
 * deps: api (TaskAPI), log (Logger), metrics, throttle (Throttle),
 * pollInterval (ms), signal (aborted on shutdown), retry ({startMs, maxMs}).
 */
export function makeProcessor({ queue, api, log, metrics, throttle, pollInterval, signal, retry = {} }) {
  const retryStart = retry.startMs ?? RETRY_START_MS;
  const retryMax = retry.maxMs ?? RETRY_MAX_MS;

  // persist calls fn until it returns or fails with an error that retrying
  // cannot cure. Transient and misconfiguration errors are logged at most
  // once a minute per kind and call, however many jobs meet them.
  async function persist(what, fn) {
    let wait = retryStart;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        countAPIError(metrics, err);
        if (!(err instanceof TransientError || err instanceof MisconfiguredError) || signal.aborted) throw err;
        const held = throttle.pass(`${queue}:${what}:${err.name}`);
        if (held !== null) {
          const fields = { queue, call: what, err: err.message, retry_in_ms: wait, held_back: held };
          if (err instanceof MisconfiguredError) {
            log.error('the task API refuses the intake: check INTAKE_API_URL and INTAKE_PRODUCER_TOKEN (DASHBOARD_PRODUCER_TOKEN_HASH); retrying', fields);
          } else {
            log.warn('task API unavailable; retrying', fields);
          }
        }
        await sleep(wait, signal);
        wait = Math.min(wait * 2, retryMax);
      }
    }
  }

  // setProgress mirrors a progress value; Valkey trouble is logged (the
  // Worker reconnects, the next poll tries again), never fatal.
  async function setProgress(job, progress, taskId) {
    try {
      await job.updateProgress(progress);
      return true;
    } catch (err) {
      if (throttle.pass(`${queue}:progress`) !== null) log.warn('cannot update the job progress', { queue, job_id: job.id, task_id: taskId, err: err.message });
      return false;
    }
  }

  async function handle(job, ctx) {
    if (isRepeatable(job)) {
      ctx.outcome = 'repeatable';
      throw new UnrecoverableError(REPEATABLE_REASON);
    }
    const route = routeJob(queue, job.name);
    if (route.complete) {
      ctx.outcome = 'not forwarded';
      log.info('job completed without a task', { queue, job_id: job.id, job_name: job.name, why: route.why });
      return route.complete;
    }

    // Handover.
    const taskId = taskIdFor(job);
    ctx.taskId = taskId;
    // Only the ID: retries, timeouts and retention are our contract's (the
    // original's attempts, corrected: failures retried over hours, outages
    // not counted), not the job's attempts.
    const options = { taskId };
    const body = { type: route.forward, payload: job.data ?? {}, options };
    let answer;
    try {
      answer = await persist('enqueue', () => api.enqueue(body, signal));
    } catch (err) {
      if (err instanceof RefusedError) {
        ctx.outcome = 'refused';
        metrics.refused.inc({ queue });
        throw new UnrecoverableError(`refused by the fleet's task contract: ${err.message}`);
      }
      throw err;
    }
    const taskQueue = typeof answer.queue === 'string' && answer.queue ? answer.queue : queue;
    metrics.handedOver.inc({ queue, duplicate: String(Boolean(answer.duplicate)) });
    log.info('job handed over', { queue, job_id: job.id, task_id: taskId, type: route.forward, task_queue: taskQueue, duplicate: Boolean(answer.duplicate) });

    // Mirror.
    let lastProgress = typeof job.progress === 'number' ? job.progress : null;
    let mirrored = false; // whether this task reported progress
    let wait = POLL_START_MS;
    for (;;) {
      await sleep(wait, signal);
      wait = Math.min(wait * 2, pollInterval);
      let st;
      try {
        st = await persist('status', () => api.status(taskQueue, taskId, signal));
      } catch (err) {
        if (err instanceof NotFoundError) {
          throw new UnrecoverableError(`task ${taskId} was deleted from queue ${taskQueue} before it finished`);
        }
        throw err;
      }
      if (typeof st.progress === 'number' && Number.isFinite(st.progress) && st.progress !== lastProgress) {
        if (await setProgress(job, st.progress, taskId)) lastProgress = st.progress;
        mirrored = true;
      }
      if (RUNNING.has(st.state)) continue;
      if (st.state === 'completed') {
        // A finished task is 100 % done, as the original reindex worker
        // said last, even when its result document carries no percentage.
        if (mirrored && lastProgress !== 100) await setProgress(job, 100, taskId);
        return st.result ?? null;
      }
      if (st.state === 'archived') {
        const attempts = Number.isInteger(st.attempts) ? st.attempts : (Number(st.retried) || 0) + 1;
        throw new UnrecoverableError(`archived after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${st.error || 'no error recorded'}`);
      }
      throw new UnrecoverableError(`task ${taskId} is in an unknown state "${st.state}"`);
    }
  }

  return async function processJob(job) {
    const ctx = { taskId: undefined, outcome: undefined };
    metrics.inFlight.inc({ queue });
    try {
      const value = await handle(job, ctx);
      metrics.completed.inc({ queue });
      if (!ctx.outcome) log.info('job completed', { queue, job_id: job.id, task_id: ctx.taskId });
      return value;
    } catch (err) {
      if (signal.aborted) {
        // Shutting down: leave the job active. Its lock lapses and the next
        // intake resumes it (the handover is idempotent). Settling now
        // would fail it, so never settle.
        return new Promise(() => {});
      }
      metrics.failed.inc({ queue });
      const reason = err instanceof UnrecoverableError ? err.message : `intake error: ${err.message}`;
      const fields = { queue, job_id: job.id, task_id: ctx.taskId, reason };
      if (ctx.outcome === 'repeatable') log.warn('repeatable job not forwarded', { ...fields, job_name: job.name });
      else log.info('job failed', fields);
      // Never let BullMQ retry what the intake handed over: our fleet
      // retries the task, BullMQ only mirrors the end.
      throw err instanceof UnrecoverableError ? err : new UnrecoverableError(reason);
    } finally {
      metrics.inFlight.dec({ queue });
    }
  };
}

function countAPIError(metrics, err) {
  const kind =
    err instanceof TransientError ? 'transient'
      : err instanceof MisconfiguredError ? 'misconfigured'
        : err instanceof RefusedError ? 'refused'
          : err instanceof NotFoundError ? 'not_found'
            : err instanceof PermanentError ? 'permanent' : null;
  if (kind) metrics.apiErrors.inc({ kind });
}

/** sleep waits ms, or rejects with the signal's reason when it is aborted. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason ?? new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
