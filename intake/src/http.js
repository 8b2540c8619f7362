// The intake's HTTP endpoints: /healthz, /readyz, /metrics, and the admin
// endpoint /repeatables (GET lists, DELETE removes the original scheduler's
// repeatable jobs), guarded by the producer token.

import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

/**
 * startHTTP listens on addr ({host, port}) and resolves to the server once
 * it listens. deps:
 *   health()      -> { ready: boolean, why?: string, queues: string[], startedAt: number }
 *   registry      prom-client Registry
 *   token         the producer token the admin endpoint wants
 *   repeatables   { list(): Promise<{queues}>, remove(): Promise<number> }
 *   log           Logger
 */
export function startHTTP(addr, { health, registry, token, repeatables, log }) {
  const handler = async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://intake').pathname;
    try {
      if (path === '/healthz' && req.method === 'GET') {
        const h = health();
        return send(res, 200, { status: 'ok', service: 'bullmq-intake', queues: h.queues, uptime: Math.round((Date.now() - h.startedAt) / 1000) });
      }
      if (path === '/readyz' && req.method === 'GET') {
        const h = health();
        return h.ready ? send(res, 200, { status: 'ready' }) : send(res, 503, { status: 'not ready', reason: h.why });
      }
      if (path === '/metrics' && req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': registry.contentType });
        return res.end(await registry.metrics());
      }
      if (path === '/repeatables') {
        if (req.method !== 'GET' && req.method !== 'DELETE') {
          res.setHeader('Allow', 'GET, DELETE');
          return send(res, 405, { error: 'method not allowed: use GET or DELETE' });
        }
        if (!authorized(req.headers.authorization, token)) {
          log.warn('admin request refused', { path, method: req.method, remote: req.socket.remoteAddress });
          res.setHeader('WWW-Authenticate', 'Bearer realm="bullmq-intake"');
          return send(res, 401, { error: 'unauthorized: missing or wrong bearer token (INTAKE_PRODUCER_TOKEN)' });
        }
        if (req.method === 'GET') return send(res, 200, await repeatables.list());
        const removed = await repeatables.remove();
        log.info('repeatable jobs removed', { removed });
        return send(res, 200, { removed });
      }
      return send(res, 404, { error: 'not found' });
    } catch (err) {
      log.error('http request failed', { path, method: req.method, err: err.message });
      return send(res, 503, { error: `cannot reach Valkey: ${err.message}` });
    }
  };
  const server = http.createServer((req, res) => { handler(req, res); });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host || undefined, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function send(res, code, body) {
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}

// authorized compares the bearer token in constant time (over digests, so
// the lengths do not leak either).
function authorized(header, token) {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const digest = (s) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1].trim()), digest(token));
}
