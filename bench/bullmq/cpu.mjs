// BullMQ's CPU per job: bench.mjs's run (no-op jobs, one Worker of
// concurrency C, removeOnComplete), with the CPU each side spends while the
// jobs are processed (not while they are added): this Node process
// (process.cpuUsage) and Redis (INFO cpu, used_cpu_sys + used_cpu_user).
// usage: node cpu.mjs [jobs] [concurrency]  -> prints one JSON line
import { Queue, Worker } from 'bullmq';
const N = Number(process.argv[2] || 20000), C = Number(process.argv[3] || 10);
const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT || 6379) };
const name = 'bench-cpu-' + process.pid;
const q = new Queue(name, { connection });
await q.obliterate({ force: true }).catch(() => {});
for (let i = 0; i < N; i += 1000) {
  const batch = [];
  for (let j = i; j < Math.min(N, i + 1000); j++) batch.push({ name: 'noop', data: { i: j }, opts: { removeOnComplete: true } });
  await q.addBulk(batch);
}
const redis = await q.client;
const redisCPU = async () => {
  const info = await redis.info('cpu');
  let s = 0;
  for (const line of info.split('\n')) {
    const [k, v] = line.trim().split(':');
    if (k === 'used_cpu_sys' || k === 'used_cpu_user') s += Number(v);
  }
  return s * 1e6; // µs
};
let done = 0;
const r0 = await redisCPU(), c0 = process.cpuUsage(), t0 = performance.now();
await new Promise((resolve) => {
  const w = new Worker(name, async () => {}, { connection, concurrency: C });
  w.on('completed', () => { if (++done === N) { resolve(); } });
  w.on('error', (e) => console.error(e));
  globalThis.w = w;
});
const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0), r1 = await redisCPU();
await globalThis.w.close(); await q.obliterate({ force: true }).catch(() => {}); await q.close();
console.log(JSON.stringify({
  engine: 'bullmq', jobs: N, concurrency: C, process_per_s: Math.round(N / s),
  cpu_us_per_job: +((c.user + c.system) / N).toFixed(2), redis_cpu_us_per_job: +((r1 - r0) / N).toFixed(2),
}));
process.exit(0);
