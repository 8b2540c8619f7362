#!/usr/bin/env bash
# bench-import.sh: the Testmo import worker on a big export (`make bench-import`).
#
# Builds bin/import-worker and bin/tpictl, generates a SIZE export (default 1GB, binary
# units; `tpictl gen-testmo`), starts a private versitygw (S3) and a private redis-server
# on free ports and a scratch PostgreSQL database (migrated and seeded), runs the real
# import-worker under /usr/bin/time -v, and `tpictl import <key> --upload FILE` (analyze,
# then import with the default mapping). Then it stops the worker with SIGTERM and prints
# the export size, analyze MB/s, import rows/s, the wall times and the worker's peak RSS
# ("Maximum resident set size"). Everything it starts is stopped and dropped on exit.
#
# BENCH_IMPORT_FILE=path reuses that export (generated there, and kept, if missing).
# Needs: go, versitygw (scripts/ci-services.sh), redis-server, psql, curl, bc, python3, and
# PostgreSQL at PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# Takes a while at 1GB: generation about a minute, analyze and import several.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
size=${SIZE:-1GB}
admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
bin=${TPI_BIN:-$root/bin}
key=uploads/imports/testmo/bench-import.json

if ! command -v /usr/bin/time >/dev/null; then
  echo "installing GNU time (/usr/bin/time)"
  apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
fi
versitygw=$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")
[ -x "$versitygw" ] || { echo "bench-import: versitygw not found; run scripts/ci-services.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/tpi-bench-import-XXXXXX)
db="tpi_bench_import_$$"
s3_pid="" redis_pid="" time_pid=""
cleanup() {
  set +e
  if [ -n "$time_pid" ] && kill -0 "$time_pid" 2>/dev/null; then
    kill -TERM $(pgrep -P "$time_pid") 2>/dev/null
    wait "$time_pid" 2>/dev/null
  fi
  [ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null && wait "$s3_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secs() { date +%s.%N; }
since() { echo "$(secs) - $1" | bc -l; }

echo "building bin/import-worker and bin/tpictl"
(cd "$root" && mkdir -p "$bin" && CGO_ENABLED=0 go build -trimpath -o "$bin/" ./cmd/import-worker ./cmd/tpictl)

# The export.
export_file=${BENCH_IMPORT_FILE:-$work/export.json}
if [ -s "$export_file" ]; then
  echo "reusing $export_file"
else
  echo "generating a $size export into $export_file"
  t0=$(secs)
  "$bin/tpictl" gen-testmo --size "$size" --out "$export_file" | tail -n 1
  printf 'generated in %.1f s\n' "$(since "$t0")"
fi
bytes=$(stat -c %s "$export_file")

# Dependencies: a private versitygw and redis-server, a scratch database, migrated and seeded.
s3_port=$(free_port)
mkdir -p "$work/s3/testplanit"
HOME=$work "$versitygw" --access bench-access --secret bench-secret-key --region us-east-1 \
  --port "127.0.0.1:$s3_port" posix "$work/s3" >"$work/versitygw.log" 2>&1 &
s3_pid=$!
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break; sleep 0.1; done
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL
DATABASE_URL=$(printf '%s' "$admin" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")
"$bin/tpictl" migrate >/dev/null
"$bin/tpictl" seed >/dev/null

export VALKEY_URL=redis://127.0.0.1:$redis_port/0
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_REGION=us-east-1 AWS_BUCKET_NAME=testplanit
export AWS_ACCESS_KEY_ID=bench-access AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_EC2_METADATA_DISABLED=true
http_port=$(free_port)

# The worker, under GNU time, with the production defaults but for the log level.
HTTP_ADDR=127.0.0.1:$http_port LOG_LEVEL=warn \
  /usr/bin/time -v -o "$work/time.txt" "$bin/import-worker" >"$work/worker.log" 2>&1 &
time_pid=$!
for _ in $(seq 1 300); do
  "$bin/tpictl" healthcheck "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$time_pid" 2>/dev/null || break
  sleep 0.1
done
if ! "$bin/tpictl" healthcheck "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then
  tail -n 20 "$work/worker.log"
  echo "bench-import: import-worker is not ready" >&2
  exit 1
fi

echo "import-worker ready; tpictl import $key --upload $export_file"
t0=$(secs)
if ! "$bin/tpictl" import "$key" --upload "$export_file" --poll 5s; then
  tail -n 20 "$work/worker.log"
  exit 1
fi
total=$(since "$t0")

# Stop the worker (SIGTERM drains), then read its peak RSS.
kill -TERM $(pgrep -P "$time_pid")
wait "$time_pid" || true
time_pid=""
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")

# The phases' times from the job row: analysis.meta.durationMs, and the import's start and end.
IFS='|' read -r analyze_ms import_s rows staged < <(psql -At "$DATABASE_URL" -c \
  "SELECT analysis->'meta'->>'durationMs', extract(epoch FROM \"completedAt\" - \"lastImportStartedAt\"),
          \"processedCount\", \"totalRows\"
     FROM \"TestmoImportJob\" ORDER BY \"createdAt\" DESC LIMIT 1")

# MB/s as `go test` counts it (10^6 bytes); the RSS in MiB, as /usr/bin/time's kbytes are KiB.
printf 'export: %d bytes (%.1f MB), %d rows\n' "$bytes" "$(echo "$bytes / 1000000" | bc -l)" "$staged"
printf 'analyze: %.1f s, %.1f MB/s\n' "$(echo "$analyze_ms / 1000" | bc -l)" "$(echo "$bytes / 1000 / $analyze_ms" | bc -l)"
printf 'import: %.1f s, %d rows, %.0f rows/s\n' "$import_s" "$rows" "$(echo "$rows / $import_s" | bc -l)"
printf 'total (upload, analyze, import, as tpictl saw it): %.1f s\n' "$total"
printf 'import-worker peak RSS: %.1f MB\n' "$(echo "$rss_kb / 1024" | bc -l)"
