#!/usr/bin/env bash
# bench-fleet.sh: the fleet's idle footprint (`make bench-fleet`).
#
# Starts every binary of the fleet under supervisord with the shipped
# configuration (deploy/supervisor), against a scratch PostgreSQL database
# (migrated) and a private redis-server, waits SETTLE seconds (default 30)
# with no task to run, then prints the resident memory (VmRSS) of each
# process and their sum: "fleet idle RSS MB". supervisord's own RSS is
# printed apart. Everything it starts is stopped and dropped on exit.
#
# Needs: bin/ built (make build), supervisord, redis-server, psql, and
# PostgreSQL at PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
settle=${SETTLE:-30}
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
bin=${TPI_BIN:-$root/bin}
mapfile -t fleet < <(cd "$root" && make -s fleet | tr ' ' '\n')

work=$(mktemp -d /tmp/tpi-bench-XXXXXX)
db="tpi_bench_fleet_$$"
redis_pid=""
cleanup() {
  set +e
  [ -S "$work/run/supervisor.sock" ] && supervisorctl -c "$root/deploy/supervisor/supervisord.conf" shutdown >/dev/null
  for _ in $(seq 1 100); do [ -e "$work/run/supervisord.pid" ] || break; sleep 0.2; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Dependencies: a private Redis, a scratch database with the migrations.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
db_url=$(printf '%s' "$admin" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")
DATABASE_URL=$db_url "$bin/tpictl" migrate >/dev/null

export TPI_ROOT=$root TPI_BIN=$bin TPI_RUN_DIR=$work/run TPI_LOG_DIR=$work/log TPI_ENV_FILE=
export DATABASE_URL=$db_url VALKEY_URL=redis://127.0.0.1:$port/0
# Free ports for every HTTP listener; the dashboard open on loopback only.
export HTTP_ADDR=127.0.0.1:0 DASHBOARD_INSECURE_OPEN=true
export EMAIL_SERVER_HOST=127.0.0.1 EMAIL_SERVER_PORT=1025 EMAIL_FROM=bench@example.com
export ENCRYPTION_KEY=bench-fleet-key   # sync-worker refuses to start without it
export ELASTICSEARCH_NODE=http://127.0.0.1:9200   # reindex-worker refuses to start without it (none needs to answer)
# import-worker refuses to start without a bucket; an S3 endpoint where nothing listens (its gate waits) and
# static keys (no instance-metadata lookup). The bench measures every binary, whatever `make procs` would run.
export AWS_BUCKET_NAME=bench AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
mkdir -p "$TPI_RUN_DIR" "$TPI_LOG_DIR"
"$root/deploy/supervisor/programs.sh" "${fleet[@]}" > "$TPI_RUN_DIR/programs.conf"
ctl() { supervisorctl -c "$root/deploy/supervisor/supervisord.conf" "$@"; }
supervisord -c "$root/deploy/supervisor/supervisord.conf"

for _ in $(seq 1 100); do
  running=$(ctl status 2>/dev/null | grep -c RUNNING || true)
  [ "$running" -eq "${#fleet[@]}" ] && break
  sleep 0.2
done
if [ "$running" -ne "${#fleet[@]}" ]; then
  ctl status || true
  for n in "${fleet[@]}"; do echo "--- $n"; tail -n 5 "$TPI_LOG_DIR/$n.log"; done
  echo "bench-fleet: only $running of ${#fleet[@]} processes running" >&2
  exit 1
fi
echo "fleet of ${#fleet[@]} processes running under supervisord; idle for ${settle}s..."
sleep "$settle"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
total=0
printf '%-22s %8s %10s\n' process pid "RSS MB"
for n in "${fleet[@]}"; do
  pid=$(ctl pid "$n")
  kb=$(rss_kb "$pid")
  total=$((total + kb))
  printf '%-22s %8s %10.1f\n' "$n" "$pid" "$(echo "$kb / 1024" | bc -l)"
done
sup_kb=$(rss_kb "$(cat "$TPI_RUN_DIR/supervisord.pid")")
printf '%-22s %8s %10.1f\n' "(supervisord)" "$(cat "$TPI_RUN_DIR/supervisord.pid")" "$(echo "$sup_kb / 1024" | bc -l)"
printf 'fleet idle RSS MB: %.1f (%d processes, %.1f per process; with supervisord %.1f)\n' \
  "$(echo "$total / 1024" | bc -l)" "${#fleet[@]}" "$(echo "$total / 1024 / ${#fleet[@]}" | bc -l)" \
  "$(echo "($total + $sup_kb) / 1024" | bc -l)"
