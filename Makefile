# TestPlanIt background workers in Go. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
PKGS  ?= ./...
# Binaries under cmd/; each is built into $(BIN)/.
CMDS  := $(notdir $(patsubst %/main.go,%,$(wildcard cmd/*/main.go)))

export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/testplanit?sslmode=disable
export VALKEY_URL   ?= redis://127.0.0.1:6379/0

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_%-]+:.*##/ {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build every binary into bin/
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

.PHONY: services
services: ## start PostgreSQL and Redis when they are down, install mailpit, supervisord, chromium (idempotent, ~1 s when all is there)
	scripts/test-services.sh

.PHONY: test
test: services ## bring up what the tests need (services), then run every test against the real services
	$(GO) test -race -shuffle=on -count=1 -timeout 30m $(PKGS)
	@# Again for the packages that read or write timestamps, with the process in a zone far from UTC:
	@# TestPlanIt's columns hold UTC whatever the process's TZ (README "Tenants and time").
	TZ=Asia/Kolkata $(GO) test -race -count=1 -timeout 20m $(TZ_PKGS)
	@# The Kubernetes manifests, decoded strictly into the Kubernetes and KEDA types: a module of its own
	@# (deploy/k8s/go.mod), so that those dependencies stay out of the fleet's go.mod.
	cd deploy/k8s && $(GO) test -count=1 ./...
	@# The BullMQ intake (Node, intake/): its own tests against the real Redis (its packages: scripts/ci-services.sh).
	cd intake && npm test

# Packages that read or write timestamps; `make test` runs them a second time under TZ=Asia/Kolkata.
TZ_PKGS := ./internal/postgres/... ./internal/tenant/... ./internal/notify/... ./internal/email/... \
	./internal/forecast/... ./internal/schedule/... ./internal/worker/... \
	./cmd/notification-worker/ ./cmd/email-worker/ ./cmd/forecast-worker/ ./cmd/scheduler/ ./test/tenant/ \
	./internal/issuesync/... ./cmd/sync-worker/ ./internal/reindex/... ./cmd/reindex-worker/ \
	./internal/audit/... ./cmd/audit-worker/ ./internal/testmoimport/...

.PHONY: vet
vet: ## go vet
	$(GO) vet $(PKGS)

.PHONY: lint
lint: vet ## gofmt check, go vet and staticcheck (pinned)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

.PHONY: bench
bench: ## the benchmarks quoted in the README (real Redis/PostgreSQL)
	@# Runtime and bare asynq alternate within each of 5 rounds, so machine noise hits both sides.
	for i in 1 2 3 4 5; do $(GO) test -run '^$$' -bench 'RuntimeNoop|BareAsynqNoop|BareAsynqLoops' -benchtime 10000x -count 1 ./internal/worker | grep '^Benchmark'; done
	$(GO) test -run '^$$' -bench 'PickupLatency' -benchtime 200x -count 1 ./internal/worker
	@# Forecast: builds the 100,000-case / 20,000-link / 2,000,000-result data set once with COPY (about 30 s), then
	@# times the nightly job (steady and cold) beside the SQL floor; 5 rounds, quote medians.
	$(GO) test -run '^$$' -bench 'ForecastAll|ForecastSQLFloor' -benchtime 3x -count 5 -timeout 60m ./internal/forecast
	@# Email: one SMTP connection reused vs a new one per message, against a private mailpit on loopback
	@# (STARTTLS + AUTH PLAIN, and without TLS); the four variants alternate in each of 5 rounds.
	for i in 1 2 3 4 5; do $(GO) test -run '^$$' -bench 'EmailSend' -benchtime 500x -count 1 ./internal/smtp | grep '^Benchmark'; done
	@# Digest sweep fan-out: 10,000 daily-mode users, half with unread notifications, ours beside the original's
	@# per-user loop; they alternate in each of 5 rounds of 3 sweeps.
	for i in 1 2 3 4 5; do $(GO) test -run '^$$' -bench 'Digest' -benchtime 3x -count 1 ./internal/notify | grep '^Benchmark'; done
	@# Enqueue API (HTTP on loopback) beside the asynq client, and the cost of one credential check; 5 rounds.
	$(GO) test -run '^$$' -bench 'Enqueue|Auth' -count 5 ./internal/dashboard
	@# Issue sync: 500 issues against a fake Jira (20 ms per request) under a shared budget of 50 requests/s,
	@# our batched client beside one request per issue (the original's way); 3 rounds, quote medians.
	$(GO) test -run '^$$' -bench 'BulkSync' -benchtime 1x -count 3 ./internal/issuesync
	@# Search reindex: builds the 100,000-case data set (steps, tags, custom fields) once with COPY (about 20 s), then
	@# builds every case document beside the SQL floor (one streaming read of the same rows), and a full rebuild through
	@# the bulk indexer into the in-process Elasticsearch; 3 rounds, quote medians.
	$(GO) test -run '^$$' -bench 'BuildCaseDocs|CaseDocsSQLFloor|ReindexCases' -benchtime 1x -count 3 -timeout 30m ./internal/reindex
	@# Testmo export decoding: a generated 210 MB export (written once, about 3 s) decoded from a file, MB/s and rows/s,
	@# beside encoding/json's Decoder.Token on the same file; 3 rounds, quote medians (the issue asks >= 50 MB/s).
	$(GO) test -run '^$$' -bench 'TestmoDecode' -benchtime 3x -count 3 ./internal/testmo
	@# Testmo import: the generated 210 MB export (written once, about 5 s) uploaded to a private versitygw; analyze (S3 ->
	@# decoder -> COPY into staging, a fresh job each round) and import (a new seeded database each round, its analyze
	@# outside the timer), MB/s and rows/s; 3 rounds, quote medians.
	$(GO) test -run '^$$' -bench 'TestmoAnalyze|TestmoImport' -benchtime 1x -count 3 -timeout 120m ./internal/testmoimport

.PHONY: bench-vs-bullmq
bench-vs-bullmq: ## the runtime beside BullMQ (the engine we replace) and bare asynq, same Redis, 3 alternating rounds, with CPU per task on each side
	@# bench/bullmq is a copy of ../shared/bench/bullmq (BullMQ 5.81.5, as TestPlanIt uses it) plus cpu.mjs (the same run,
	@# reporting the CPU Node and Redis spend per job); node and npm needed.
	@# test/vsbullmq passes the rounds' output through and prints the medians, then `vs-bullmq c=<C>: <ratio>`.
	cd bench/bullmq && { test -d node_modules || npm ci --no-audit --no-fund; }
	$(GO) build -o /dev/null ./test/vsbullmq
	for i in 1 2 3; do \
	  $(GO) test -run '^$$' -bench 'RuntimeNoop|BareAsynqLoops' -benchtime 20000x -count 1 ./internal/worker | grep '^Benchmark'; \
	  node bench/bullmq/bench.mjs 20000 10; node bench/bullmq/bench.mjs 20000 50; \
	  node bench/bullmq/cpu.mjs 20000 10; node bench/bullmq/cpu.mjs 20000 50; \
	done | $(GO) run ./test/vsbullmq
	$(GO) test -run '^$$' -bench 'PickupLatency' -benchtime 200x -count 1 ./internal/worker | grep '^Benchmark'
	$(GO) test -run '^$$' -bench 'IdleRedisLoad' -benchtime 1x -count 1 ./internal/worker | grep '^Benchmark'

.PHONY: migrate
migrate: build ## apply migrations to DATABASE_URL: only the worker schema on TestPlanIt's own database, else all (MIGRATE_MODE=auto|worker-only|all)
	$(BIN)/tpictl migrate $(if $(MIGRATE_MODE),--mode $(MIGRATE_MODE))

.PHONY: seed
seed: build ## load demo data into DATABASE_URL
	$(BIN)/tpictl seed

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)

# ---- Running the fleet (README "Running the fleet") ------------------------
# The fleet is every binary under cmd/ except the operator CLI; run modes,
# supervisor programs and the footprint bench are all built from this list.
FLEET := $(filter-out tpictl,$(CMDS))
export TPI_ROOT     := $(CURDIR)
export TPI_BIN      ?= $(abspath $(BIN))
export TPI_RUN_DIR  ?= $(CURDIR)/var/run
export TPI_LOG_DIR  ?= $(CURDIR)/var/log
export TPI_ENV_FILE ?= $(wildcard $(CURDIR)/.env)
# bullmq-intake (intake/, Node.js; README "Replacing TestPlanIt's workers") is
# opt-in: run, start and the PM2 ecosystem add it when the env file sets
# INTAKE_API_URL. INTAKE=1 or INTAKE=0 on the command line decides instead;
# install-systemd installs its unit only with INTAKE=1.
INTAKE_ASKED := $(if $(filter command line environment,$(origin INTAKE)),$(filter 1,$(INTAKE)))
INTAKE ?= $(if $(TPI_ENV_FILE),$(if $(shell grep -Es '^[[:space:]]*(export[[:space:]]+)?INTAKE_API_URL=[^[:space:]\#]' $(TPI_ENV_FILE)),1,0),0)
# import-worker (Testmo imports) needs S3 and exits 2 without AWS_BUCKET_NAME:
# run, start and the PM2 ecosystem add it when the env file sets
# AWS_BUCKET_NAME. IMPORT=1 or IMPORT=0 on the command line decides instead;
# install-systemd installs every binary but enables its instance only with IMPORT=1.
IMPORT_ASKED := $(if $(filter command line environment,$(origin IMPORT)),$(filter 1,$(IMPORT)))
IMPORT ?= $(if $(TPI_ENV_FILE),$(if $(shell grep -Es '^[[:space:]]*(export[[:space:]]+)?AWS_BUCKET_NAME=[^[:space:]\#]' $(TPI_ENV_FILE)),1,0),0)
# What run and start supervise: the fleet (import-worker when it is on), plus
# the intake when it is on.
PROCS = $(filter-out $(if $(filter 1,$(IMPORT)),,import-worker),$(FLEET)) $(if $(filter 1,$(INTAKE)),bullmq-intake)
NPM ?= npm
SUPERVISOR_CONF := deploy/supervisor/supervisord.conf
SUPERVISORCTL   := supervisorctl -c $(SUPERVISOR_CONF)
# W=<binary> narrows stop, restart, status and logs to one program.
W ?=

.PHONY: fleet
fleet: ## list the binaries of the fleet (every cmd/ binary but tpictl)
	@echo $(FLEET)

.PHONY: procs
procs: ## list what run and start supervise: the fleet (import-worker only when .env sets AWS_BUCKET_NAME, or IMPORT=1), plus bullmq-intake when .env sets INTAKE_API_URL (or INTAKE=1)
	@echo $(PROCS)

.PHONY: run
run: build $(if $(filter 1,$(INTAKE)),intake-deps) ## the whole fleet in the foreground, prefixed log lines; Ctrl-C drains every process
	@echo "fleet ($(words $(PROCS))): $(PROCS)"
	@LOG_FORMAT=$${LOG_FORMAT:-text} $(MAKE) --no-print-directory -j$(words $(PROCS)) $(addprefix fg-,$(PROCS))

# One foreground process with its name before every line; sed ignores Ctrl-C
# so that the drain's last lines still get through.
fg-%:
	@deploy/tpi-exec $* 2>&1 | (trap '' INT TERM; exec sed -u "s/^/$$(printf '%-20s' '$*')| /")

run-%: build ## one binary in the foreground, e.g. make run-email-worker, make run-scheduler
	deploy/tpi-exec $*

.PHONY: intake-deps
intake-deps: ## npm ci --omit=dev in intake/ (bullmq-intake's dependencies) when node_modules is missing
	@test -d intake/node_modules || { cd intake && $(NPM) ci --omit=dev --no-audit --no-fund; }

run-bullmq-intake: intake-deps ## the BullMQ intake (Node.js) in the foreground
	deploy/tpi-exec bullmq-intake

.PHONY: start stop restart status logs delete
start: build $(if $(filter 1,$(INTAKE)),intake-deps) ## start the fleet under supervisord (daemon), or add new binaries to the running one; import-worker when .env sets AWS_BUCKET_NAME, the intake when it sets INTAKE_API_URL
	@mkdir -p $(TPI_RUN_DIR) $(TPI_LOG_DIR)
	@deploy/supervisor/programs.sh $(PROCS) > $(TPI_RUN_DIR)/programs.conf
	@if [ -S $(TPI_RUN_DIR)/supervisor.sock ] && $(SUPERVISORCTL) pid >/dev/null 2>&1; then \
		$(SUPERVISORCTL) update && $(SUPERVISORCTL) start all; \
	else supervisord -c $(SUPERVISOR_CONF); fi
	@$(SUPERVISORCTL) status; true

stop: ## stop the fleet's processes (supervisord stays; make start resumes them); W=<binary> for one
	$(SUPERVISORCTL) stop $(or $(W),all)

restart: ## restart the fleet's processes (re-reads .env); W=<binary> for one
	$(SUPERVISORCTL) restart $(or $(W),all)

status: ## state, PID and uptime of every process
	@$(SUPERVISORCTL) status $(W) || true

logs: ## follow the logs of every process, or of one with W=<binary>
	@if [ -n "$(W)" ]; then tail -n 50 -F $(TPI_LOG_DIR)/$(W).log; \
	else tail -n 20 -F $(TPI_LOG_DIR)/*.log; fi

delete: ## stop every process and supervisord itself, and forget the generated programs
	-$(SUPERVISORCTL) shutdown
	rm -f $(TPI_RUN_DIR)/programs.conf

.PHONY: fault
fault: ## the fault tests alone (also part of make test): kill -9 under supervisord, Redis AOF restart, PostgreSQL outage, memory limit
	$(GO) test -race -count=1 -v -timeout 15m ./test/fault

.PHONY: bench-import
bench-import: ## the real import-worker on a generated 1 GB Testmo export (SIZE=200MB for a quicker run): analyze MB/s, import rows/s, peak RSS
	scripts/bench-import.sh

.PHONY: bench-fleet
bench-fleet: build ## the whole fleet idle under supervisord: prints "fleet idle RSS MB" after SETTLE=30 s
	deploy/bench-fleet.sh

PREFIX      ?= /usr/local
SYSTEMD_DIR ?= /etc/systemd/system
ENV_DIR     ?= /etc/tpi-workers
# SYSTEMD_ENABLE=no installs the files without touching systemd (a staging
# tree, a test); DESTDIR also implies it.
SYSTEMD_ENABLE ?= yes

.PHONY: install-systemd
install-systemd: build ## (root) install binaries + tpi-worker@.service; enable one instance per binary (reboot-proof) but import-worker (IMPORT=1: it too, S3 needed); INTAKE=1 adds tpi-bullmq-intake.service
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/tpi-workers $(DESTDIR)$(PREFIX)/share/doc/tpi-workers \
		$(DESTDIR)$(SYSTEMD_DIR) $(DESTDIR)$(ENV_DIR)
	install -m 0755 $(addprefix $(BIN)/,$(CMDS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 deploy/tpi-exec $(DESTDIR)$(PREFIX)/lib/tpi-workers/tpi-exec
	install -m 0644 README.md .env.example $(DESTDIR)$(PREFIX)/share/doc/tpi-workers/
	for u in 'tpi-worker@.service' tpi-workers.target; do \
		sed 's|/usr/local|$(PREFIX)|g; s|/etc/tpi-workers|$(ENV_DIR)|g' "deploy/systemd/$$u" > "$(DESTDIR)$(SYSTEMD_DIR)/$$u"; done
	[ -f $(DESTDIR)$(ENV_DIR)/env ] || install -m 0640 .env.example $(DESTDIR)$(ENV_DIR)/env
ifeq ($(INTAKE_ASKED),1)
	@# The intake: its sources and production dependencies under lib/tpi-workers/intake, and its unit.
	rm -rf $(DESTDIR)$(PREFIX)/lib/tpi-workers/intake
	install -d $(DESTDIR)$(PREFIX)/lib/tpi-workers/intake
	cp -R intake/src intake/package.json intake/package-lock.json $(DESTDIR)$(PREFIX)/lib/tpi-workers/intake/
	cd $(DESTDIR)$(PREFIX)/lib/tpi-workers/intake && $(NPM) ci --omit=dev --no-audit --no-fund
	sed 's|/usr/local|$(PREFIX)|g; s|/etc/tpi-workers|$(ENV_DIR)|g' deploy/systemd/tpi-bullmq-intake.service > "$(DESTDIR)$(SYSTEMD_DIR)/tpi-bullmq-intake.service"
endif
	@if [ -z "$(DESTDIR)" ] && [ "$(SYSTEMD_ENABLE)" = yes ]; then \
		id -u tpi-workers >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tpi-workers; \
		chgrp tpi-workers $(ENV_DIR)/env; \
		systemctl daemon-reload; \
		systemctl enable tpi-workers.target $(foreach f,$(filter-out $(if $(IMPORT_ASKED),,import-worker),$(FLEET)),tpi-worker@$(f).service) $(if $(INTAKE_ASKED),tpi-bullmq-intake.service); \
		echo "Edit $(ENV_DIR)/env, then: systemctl start tpi-workers.target"; \
		$(if $(IMPORT_ASKED),,echo "Testmo imports (S3): set AWS_BUCKET_NAME there, then: systemctl enable --now tpi-worker@import-worker.service";) \
	fi

.PHONY: bench-scale
bench-scale: ## one worker as 1, 2 and 4 processes, I/O-bound (10 ms) and no-op tasks: tasks/s, medians of 5 rounds, `scale io 4/1` last
	@# test/scale: real processes of test/scale/scaleworker (the runtime, concurrency 10 each, FETCH_LOOPS default) on a
	@# private redis-server, plus one process of 40 slots for reference; the seven configurations alternate within each
	@# round. About 4 minutes on 2 shared cores. SCALE_FLAGS adds flags (go run ./test/scale -h), e.g. SCALE_FLAGS='-rounds 3 -procs 1,2,4,8'.
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	CGO_ENABLED=0 $(GO) build -trimpath -o "$$d/" ./test/scale ./test/scale/scaleworker && \
	"$$d/scale" -worker "$$d/scaleworker" $(SCALE_FLAGS)
