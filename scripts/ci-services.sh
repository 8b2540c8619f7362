#!/usr/bin/env bash
# Installs the real services some tests need beyond PostgreSQL and Redis
# (called by .ci/run; safe to re-run). Versions as in SERVICES.md.
set -euo pipefail
cd "$(dirname "$0")/.."
GOBIN="$(go env GOPATH)/bin"
export PATH="$GOBIN:$PATH"

# SMTP capture server for the email tests (internal/testenv starts its own
# instance per test on free ports).
if ! command -v mailpit >/dev/null 2>&1; then
  echo "installing mailpit v1.33.1"
  go install github.com/axllent/mailpit@v1.33.1
fi
mailpit --help >/dev/null

# S3-compatible server for the object store's tests (internal/testenv starts
# its own instance per test on a free port, posix backend on a temporary
# directory); docker-compose.yml runs the same version.
if ! command -v versitygw >/dev/null 2>&1; then
  echo "installing versitygw v1.8.0"
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
versitygw --version >/dev/null

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# supervisord for the fleet's daemon mode and its fault tests.
command -v supervisord >/dev/null 2>&1 || apt_install supervisor
# Headless Chromium for the dashboard's browser test.
command -v chromium >/dev/null 2>&1 || apt_install chromium
# Node and the BullMQ intake's packages (intake/package-lock.json) for the
# intake's own tests and the end-to-end test that produces with BullMQ.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ ! -f intake/node_modules/.package-lock.json ] || [ intake/package-lock.json -nt intake/node_modules/.package-lock.json ]; then
  echo "installing the intake's packages (npm ci)"
  (cd intake && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "extra services ready: mailpit v1.33.1, versitygw v1.8.0, supervisord $(supervisord --version), $(chromium --version 2>/dev/null), node $(node --version)"
