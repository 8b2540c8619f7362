#!/usr/bin/env bash
# Brings up what `make test` needs, on a fresh machine of this kind or one
# where everything already runs (then it only checks, in about a second):
# PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 when they are not
# answering (unless TEST_DATABASE_URL or REDIS_TEST_ADDR point elsewhere),
# then mailpit, supervisord and Chromium (scripts/ci-services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
  pg_isready -h 127.0.0.1 -p 5432
fi

if [ -z "${REDIS_TEST_ADDR:-}" ] && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/test.log
  for _ in $(seq 1 60); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

scripts/ci-services.sh
