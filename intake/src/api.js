// Client of the dashboard's task API (POST /api/v1/tasks, GET
// /api/v1/tasks/{queue}/{id}). Every failure is classified by an error class
// that says what the caller does with it.

/** RefusedError: our task contract refused the task (400); permanent. */
export class RefusedError extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'RefusedError';
  }
}

/**
 * MisconfiguredError: the API refused our token (401/403) or is not at this
 * URL (404/405 on the enqueue endpoint). The intake is wrong, not the job:
 * retried, and the intake reports not ready.
 */
export class MisconfiguredError extends Error {
  constructor(status, reason) {
    super(`the task API answered ${status}: ${reason}`);
    this.name = 'MisconfiguredError';
    this.status = status;
  }
}

/** TransientError: network trouble, timeout, 429, 503 or another 5xx; retried. */
export class TransientError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TransientError';
  }
}

/** NotFoundError: no such task (404 on the status endpoint). */
export class NotFoundError extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'NotFoundError';
  }
}

/** PermanentError: any other answer (413, 415, ...); not retried. */
export class PermanentError extends Error {
  constructor(status, reason) {
    super(`the task API answered ${status}: ${reason}`);
    this.name = 'PermanentError';
    this.status = status;
  }
}

const REQUEST_TIMEOUT_MS = 30000;

/**
 * TaskAPI calls the dashboard at baseURL with the producer token. onAnswer
 * is told of every answer received (status code, or 0 for none) so that the
 * caller can track readiness and count errors.
 */
export class TaskAPI {
  constructor({ baseURL, token, onAnswer = () => {}, timeoutMs = REQUEST_TIMEOUT_MS }) {
    this.baseURL = baseURL;
    this.token = token;
    this.onAnswer = onAnswer;
    this.timeoutMs = timeoutMs;
  }

  /**
   * enqueue hands a task over: { type, payload, options }. It resolves to the
   * API's answer ({ id, queue, duplicate? ... }) on 201 or 200.
   */
  async enqueue(body, signal) {
    const { status, json } = await this.#call('POST', '/api/v1/tasks', body, signal);
    if (status === 201 || status === 200) return json ?? {};
    const reason = reasonOf(json, status);
    if (status === 400 || status === 422) throw new RefusedError(reason);
    if (status === 401 || status === 403 || status === 404 || status === 405) throw new MisconfiguredError(status, reason);
    throw classifyOther(status, reason);
  }

  /** status reads one task's status. */
  async status(queue, id, signal) {
    const path = `/api/v1/tasks/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
    const { status, json } = await this.#call('GET', path, undefined, signal);
    if (status === 200 && json && typeof json === 'object') return json;
    const reason = reasonOf(json, status);
    if (status === 404) throw new NotFoundError(reason);
    if (status === 401 || status === 403) throw new MisconfiguredError(status, reason);
    if (status === 200) throw new TransientError('the task API answered 200 without a JSON object');
    throw classifyOther(status, reason);
  }

  async #call(method, path, body, signal) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new TransientError(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    const onAbort = () => ctl.abort(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let res;
      try {
        res = await fetch(this.baseURL + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: ctl.signal,
        });
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        this.onAnswer(0);
        throw new TransientError(`${method} ${path.split('/').slice(0, 4).join('/')}: ${describeFetchError(err)}`);
      }
      let text;
      try {
        text = await res.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        this.onAnswer(0);
        throw new TransientError(`reading the answer: ${describeFetchError(err)}`);
      }
      this.onAnswer(res.status);
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      return { status: res.status, json };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function classifyOther(status, reason) {
  if (status === 429 || status === 408 || status >= 500) return new TransientError(`the task API answered ${status}: ${reason}`);
  return new PermanentError(status, reason);
}

function reasonOf(json, status) {
  if (json && typeof json.error === 'string' && json.error) return json.error;
  return `HTTP ${status}`;
}

// fetch (undici) hides the useful part in err.cause: ECONNREFUSED, timeouts.
function describeFetchError(err) {
  if (err instanceof TransientError) return err.message;
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return 'request aborted';
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err?.message ?? String(err);
}
