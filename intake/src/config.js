// Configuration of the BullMQ intake, read once from the environment and
// validated before anything starts. An error names the variable, in the words
// of the fleet's Go binaries (internal/config): "config: X: required but not
// set". Secrets (the token, a password in VALKEY_URL) never appear in errors.

import { QUEUES } from './mapping.js';

/** ConfigError is a configuration mistake; main prints it and exits 2. */
export class ConfigError extends Error {
  constructor(variable, problem) {
    super(`config: ${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/**
 * @typedef {object} Config
 * @property {object} redis        ioredis options from VALKEY_URL (required).
 * @property {string} apiURL       INTAKE_API_URL (required): the dashboard's base URL, no trailing slash.
 * @property {string} token        INTAKE_PRODUCER_TOKEN (required): the plain producer token.
 * @property {string[]} queues     INTAKE_QUEUES: comma list; default all seven of the original's queues.
 * @property {string} prefix       INTAKE_PREFIX: BullMQ key prefix; default "bull" (TestPlanIt's).
 * @property {number} concurrency  INTAKE_CONCURRENCY: jobs mirrored at once per queue; default 200.
 * @property {number} pollInterval INTAKE_POLL_INTERVAL: ms, the longest wait between two status polls; default 500.
 * @property {number} lockDuration INTAKE_LOCK_DURATION: ms, BullMQ lock; default 60000.
 * @property {number} stalledInterval INTAKE_STALLED_INTERVAL: ms; default 30000.
 * @property {number} maxStalled   INTAKE_MAX_STALLED: BullMQ maxStalledCount; default 1000.
 * @property {number} shutdownTimeout INTAKE_SHUTDOWN_TIMEOUT: ms; default 10000.
 * @property {{host: string, port: number}} http INTAKE_HTTP_ADDR: default 127.0.0.1:9109; host "" is every interface; port 0 picks a free one.
 * @property {string} logLevel     LOG_LEVEL: debug, info, warn or error; default info.
 */

/**
 * loadConfig reads the intake's configuration from env (a plain object like
 * process.env). It throws a ConfigError naming the first bad variable.
 * @returns {Config}
 */
export function loadConfig(env) {
  const get = (name) => {
    const v = env[name];
    return v === undefined ? '' : String(v).trim();
  };
  const required = (name) => {
    const v = get(name);
    if (v === '') throw new ConfigError(name, 'required but not set');
    return v;
  };
  const int = (name, def, lo, hi) => {
    const raw = get(name);
    if (raw === '') return def;
    if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `"${raw}" is not an integer`);
    const n = Number(raw);
    if (n < lo || n > hi) throw new ConfigError(name, `${n} is out of range [${lo}, ${hi}]`);
    return n;
  };

  const redis = parseValkeyURL(required('VALKEY_URL'));
  const apiURL = parseAPIURL(required('INTAKE_API_URL'));
  const token = required('INTAKE_PRODUCER_TOKEN');
  if (/\s/.test(token)) throw new ConfigError('INTAKE_PRODUCER_TOKEN', 'must not contain spaces');

  const day = 24 * 3600 * 1000;
  const cfg = {
    redis,
    apiURL,
    token,
    queues: parseQueues(get('INTAKE_QUEUES')),
    prefix: get('INTAKE_PREFIX') || 'bull',
    concurrency: int('INTAKE_CONCURRENCY', 200, 1, 10000),
    pollInterval: int('INTAKE_POLL_INTERVAL', 500, 10, 60000),
    lockDuration: int('INTAKE_LOCK_DURATION', 60000, 1000, day),
    stalledInterval: int('INTAKE_STALLED_INTERVAL', 30000, 100, day),
    maxStalled: int('INTAKE_MAX_STALLED', 1000, 0, 1000000),
    shutdownTimeout: int('INTAKE_SHUTDOWN_TIMEOUT', 10000, 0, 3600000),
    http: parseHTTPAddr(get('INTAKE_HTTP_ADDR') || '127.0.0.1:9109'),
    logLevel: get('LOG_LEVEL').toLowerCase() || 'info',
  };
  if (/[\s:{}]/.test(cfg.prefix)) throw new ConfigError('INTAKE_PREFIX', `"${cfg.prefix}" must not contain spaces, ":" or braces`);
  if (!['debug', 'info', 'warn', 'error'].includes(cfg.logLevel)) {
    throw new ConfigError('LOG_LEVEL', `"${get('LOG_LEVEL')}" is not a level (debug, info, warn, error)`);
  }
  return cfg;
}

/**
 * parseValkeyURL turns VALKEY_URL, as the fleet reads it, into ioredis
 * options: redis://, rediss:// (TLS), valkey:// (read as redis://),
 * valkeys:// (TLS), and redis+sentinel:// / valkey+sentinel://
 * host1,host2/db?master=name. The database index is the path ("/2") or
 * ?db=2. maxRetriesPerRequest is null, as BullMQ's workers require.
 */
export function parseValkeyURL(raw) {
  const fail = (problem) => { throw new ConfigError('VALKEY_URL', problem); };
  const m = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(raw);
  if (!m) fail('not a URL (want redis://[user:password@]host[:port][/db])');
  const [, schemeRaw, userinfo, hosts, path, query] = m;
  const scheme = schemeRaw.toLowerCase();
  const params = new URLSearchParams(query ? query.slice(1) : '');
  const opts = { maxRetriesPerRequest: null };
  if (userinfo) {
    const i = userinfo.indexOf(':');
    const user = decode(i < 0 ? userinfo : userinfo.slice(0, i), fail);
    const pass = i < 0 ? '' : decode(userinfo.slice(i + 1), fail);
    if (i < 0) {
      opts.password = user; // redis://secret@host: the password alone, as ioredis reads it
    } else {
      if (user) opts.username = user;
      if (pass) opts.password = pass;
    }
  }
  opts.db = parseDB(path, params.get('db'), fail);
  switch (scheme) {
    case 'redis': case 'valkey': case 'rediss': case 'valkeys': {
      const { host, port } = parseHostPort(hosts, 6379, fail);
      opts.host = host;
      opts.port = port;
      if (scheme === 'rediss' || scheme === 'valkeys') opts.tls = { servername: host };
      return opts;
    }
    case 'redis+sentinel': case 'valkey+sentinel': {
      const name = params.get('master');
      if (!name) fail('sentinel URL needs ?master=<name>');
      const list = hosts.split(',').filter(Boolean);
      if (list.length === 0) fail('sentinel URL needs at least one host');
      opts.name = name;
      opts.sentinels = list.map((h) => parseHostPort(h, 26379, fail));
      if (params.get('sentinelPassword')) opts.sentinelPassword = params.get('sentinelPassword');
      if (params.get('sentinelUsername')) opts.sentinelUsername = params.get('sentinelUsername');
      return opts;
    }
    default:
      if (scheme.endsWith('+cluster')) {
        fail('a cluster URL is not supported: TestPlanIt adds its BullMQ jobs on one instance (prefix "bull" without a hash tag)');
      }
      return fail(`unsupported scheme "${scheme}" (use redis://, rediss://, valkey://, valkeys:// or redis+sentinel://)`);
  }
}

function decode(s, fail) {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail('bad percent-encoding in the user or password');
  }
}

function parseDB(path, query, fail) {
  const p = path.replace(/^\/+|\/+$/g, '');
  const raw = query ?? p;
  if (raw === '' || raw === null) return 0;
  if (!/^\d+$/.test(raw) || Number(raw) > 1000) fail(`database "${raw}" is not a number from 0`);
  return Number(raw);
}

function parseHostPort(s, defPort, fail) {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*)(?::(\d*))?$/.exec(s);
  if (!m || m[1] === '') fail('missing host');
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : defPort;
  if (!(port >= 1 && port <= 65535)) fail(`port "${m[2]}" is out of range`);
  return { host, port };
}

function parseAPIURL(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError('INTAKE_API_URL', `"${raw}" is not a URL (want http://host:port)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host) {
    throw new ConfigError('INTAKE_API_URL', `"${raw}" is not an http(s) URL (want http://host:port)`);
  }
  if (u.username || u.password) {
    throw new ConfigError('INTAKE_API_URL', 'must not hold credentials (the token is INTAKE_PRODUCER_TOKEN)');
  }
  return (u.origin + u.pathname).replace(/\/+$/, '');
}

function parseQueues(raw) {
  if (raw === '') return [...QUEUES];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new ConfigError('INTAKE_QUEUES', 'no queue named');
  for (const q of list) {
    if (!QUEUES.includes(q)) {
      throw new ConfigError('INTAKE_QUEUES', `unknown queue "${q}" (known: ${QUEUES.join(', ')})`);
    }
  }
  return [...new Set(list)];
}

/** parseHTTPAddr reads host:port; ":9109" listens on every interface. */
export function parseHTTPAddr(raw) {
  const i = raw.lastIndexOf(':');
  const bad = () => new ConfigError('INTAKE_HTTP_ADDR', `"${raw}" is not host:port (examples: 127.0.0.1:9109, :9109)`);
  if (i < 0) throw bad();
  const host = raw.slice(0, i).replace(/^\[|\]$/g, '');
  const portRaw = raw.slice(i + 1);
  if (!/^\d+$/.test(portRaw) || Number(portRaw) > 65535) throw bad();
  return { host, port: Number(portRaw) }; // host "": every interface (IPv4 and IPv6)
}
