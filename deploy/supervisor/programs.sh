#!/usr/bin/env bash
# programs.sh NAME...: print one supervisord [program:NAME] section per fleet
# binary, from program.conf beside this script. The Makefile passes the
# binaries built from cmd/* (all but the tpictl CLI; import-worker only when
# the env file sets AWS_BUCKET_NAME), and bullmq-intake when the intake is on
# (`make procs`): tpi-exec runs it with node, so its program has the same
# command, stop signal, grace and logs as the Go binaries'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then
  echo "usage: programs.sh NAME..." >&2
  exit 2
fi
for name in "$@"; do
  case $name in
    *[!a-z0-9-]*|"") echo "programs.sh: bad program name '$name'" >&2; exit 2 ;;
  esac
  sed "s/@NAME@/$name/g" "$here/program.conf"
  echo
done
