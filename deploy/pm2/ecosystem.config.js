// PM2 ecosystem for operators coming from the original TestPlanIt workers:
// the same pm2 habits (start, stop, restart, status, logs, delete, save,
// startup, monit) now run the Go binaries.
//
//   make build
//   pm2 start deploy/pm2/ecosystem.config.js
//   pm2 status | pm2 logs [email-worker] | pm2 restart all | pm2 delete all
//   pm2 save && pm2 startup            # persistence across reboots
//
// One app per binary found in TPI_BIN (default bin/, what `make build` made
// from cmd/*), except the tpictl CLI. Each app runs deploy/tpi-exec, which
// reads TPI_ENV_FILE (default .env at the repository root) at every start and
// then execs the binary: PM2 watches the Go process itself.
//
// import-worker (Testmo imports, needs S3) only when the env file sets
// AWS_BUCKET_NAME, as `make start` does; IMPORT=1 or IMPORT=0 in pm2's
// environment decides instead.
//
// Plus the BullMQ intake (intake/, Node.js; README "Replacing TestPlanIt's
// workers") when the env file sets INTAKE_API_URL, as `make start` does;
// INTAKE=1 or INTAKE=0 in pm2's environment decides instead. Run
// `npm ci --omit=dev` in intake/ first (`make intake-deps`).
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const bin = process.env.TPI_BIN || path.join(root, 'bin');
const envFile = process.env.TPI_ENV_FILE || path.join(root, '.env');

// Memory: the worker's own guard drains and exits at MAX_MEMORY_RESTART
// (1G by default; <NAME>_MAX_MEMORY_RESTART per binary), and PM2 restarts it.
// PM2's max_memory_restart (polled every 30 s, then a plain restart) stays
// above it as a backstop.
const pm2MemoryBackstop = process.env.PM2_MAX_MEMORY_RESTART || '1280M';

let names = [];
try {
  names = fs
    .readdirSync(bin)
    .filter((n) => n !== 'tpictl' && !n.startsWith('.'))
    .filter((n) => fs.statSync(path.join(bin, n)).isFile())
    .sort();
} catch (err) {
  throw new Error(`no binaries in ${bin}: run \`make build\` first (${err.message})`);
}
if (names.length === 0) {
  throw new Error(`no binaries in ${bin}: run \`make build\` first`);
}

// An optional process runs when asked (<SWITCH>=1) or configured (its
// variable set in the env file), the rule of the Makefile's INTAKE and IMPORT.
let envText = null;
function setInEnvFile(variable) {
  if (envText === null) {
    try {
      envText = fs.readFileSync(envFile, 'utf8');
    } catch {
      envText = '';
    }
  }
  return new RegExp(`^[ \\t]*(export[ \\t]+)?${variable}=[^\\s#]`, 'm').test(envText);
}
function optionOn(sw, variable) {
  if (process.env[sw] === '1' || process.env[sw] === '0') {
    return process.env[sw] === '1';
  }
  return setInEnvFile(variable);
}
// The import-worker exits 2 without AWS_BUCKET_NAME (IMPORT, the bucket).
if (!optionOn('IMPORT', 'AWS_BUCKET_NAME')) {
  names = names.filter((n) => n !== 'import-worker');
}
// The intake (INTAKE, INTAKE_API_URL).
if (optionOn('INTAKE', 'INTAKE_API_URL')) {
  names.push('bullmq-intake');
}

module.exports = {
  apps: names.map((name) => ({
    name,
    script: path.join(root, 'deploy', 'tpi-exec'),
    args: [name],
    interpreter: 'none',
    cwd: root,
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    // Drain: SIGINT/SIGTERM lets in-flight tasks finish within
    // SHUTDOWN_TIMEOUT (25 s; the intake's INTAKE_SHUTDOWN_TIMEOUT, 10 s);
    // PM2 waits longer before SIGKILL.
    kill_timeout: 40000,
    // PM2 stops with SIGINT; the intake drains on SIGTERM (the Go binaries
    // on either).
    ...(name === 'bullmq-intake' ? { kill_signal: 'SIGTERM' } : {}),
    min_uptime: 2000,
    max_restarts: 1000,
    restart_delay: 1000,
    max_memory_restart: pm2MemoryBackstop,
    merge_logs: true,
    time: true,
    env: {
      TPI_BIN: bin,
      TPI_ENV_FILE: envFile,
    },
  })),
};
