// JSON-lines logger: {"time","level","msg","service":"bullmq-intake",...}.
// Callers pass fields, never payloads or the token.

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };

/** Logger writes one JSON line per call to out (a function of a string). */
export class Logger {
  constructor({ level = 'info', out = (line) => process.stdout.write(line), fields = {} } = {}) {
    this.min = LEVELS[level] ?? LEVELS.info;
    this.out = out;
    this.fields = fields;
  }

  /** with returns a logger that adds fields to every line. */
  with(fields) {
    const l = new Logger({ out: this.out, fields: { ...this.fields, ...fields } });
    l.min = this.min;
    return l;
  }

  debug(msg, fields) { this.#write('debug', msg, fields); }
  info(msg, fields) { this.#write('info', msg, fields); }
  warn(msg, fields) { this.#write('warn', msg, fields); }
  error(msg, fields) { this.#write('error', msg, fields); }

  #write(level, msg, fields) {
    if (LEVELS[level] < this.min) return;
    const line = { time: new Date().toISOString(), level, msg, service: 'bullmq-intake', ...this.fields, ...fields };
    this.out(JSON.stringify(line, (_k, v) => (v instanceof Error ? v.message : v)) + '\n');
  }
}

/**
 * Throttle lets a repeated message through at most once per interval per
 * key, counting what it held back: a fleet API that is down for an hour
 * logs 60 lines, not one per job per retry.
 */
export class Throttle {
  constructor(intervalMs = 60000, now = Date.now) {
    this.intervalMs = intervalMs;
    this.now = now;
    this.seen = new Map(); // key -> { at, held }
  }

  /** pass returns null when key was let through within the interval, else the number held back since. */
  pass(key) {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.held++;
      return null;
    }
    const held = s ? s.held : 0;
    this.seen.set(key, { at: t, held: 0 });
    if (this.seen.size > 1000) this.seen.delete(this.seen.keys().next().value);
    return held;
  }
}
