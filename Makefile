# TestPlanIt background workers in Go. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
PKGS  ?= ./...
# Binaries under cmd/; each is built into $(BIN)/.
CMDS  := $(notdir $(wildcard cmd/*))

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

.PHONY: test
test: ## run every test against the real services (PostgreSQL, Redis; see README)
	$(GO) test -race -shuffle=on -count=1 -timeout 30m $(PKGS)

.PHONY: vet
vet: ## go vet
	$(GO) vet $(PKGS)

.PHONY: lint
lint: vet ## gofmt check, go vet and staticcheck (pinned)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

.PHONY: bench
bench: ## the benchmarks quoted in the README (real Redis/PostgreSQL)
	@# Runtime and bare asynq alternate within each of 5 rounds, so machine noise hits both sides.
	for i in 1 2 3 4 5; do $(GO) test -run '^$$' -bench 'RuntimeNoop|BareAsynqNoop' -benchtime 10000x -count 1 ./pkg/worker | grep '^Benchmark'; done
	$(GO) test -run '^$$' -bench 'PickupLatency' -benchtime 200x -count 1 ./pkg/worker

.PHONY: migrate
migrate: build ## apply all migrations to DATABASE_URL (MIGRATE_MODE=worker-only for a TestPlanIt-owned database)
	$(BIN)/tpictl migrate $(if $(MIGRATE_MODE),--mode $(MIGRATE_MODE))

.PHONY: seed
seed: build ## load demo data into DATABASE_URL
	$(BIN)/tpictl seed

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN)
