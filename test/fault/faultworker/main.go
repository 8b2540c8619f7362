// Command faultworker is a test-only worker for the fault tests in
// test/fault: the real runtime (internal/worker) around one idempotent handler
// whose effect is counted in PostgreSQL, so a test can tell "exactly once"
// from "lost" or "twice" after crashes and outages. It is internal to the
// fleet and never shipped.
//
// Task type "fault:effect", payload {"key": "...", "gate": bool, "hogMB": n}:
//
//  1. records the attempt in fault_attempt (autocommit), so a test sees the
//     handler start;
//  2. in one transaction: inserts (kind 'fault', key) into worker.ledger;
//     only when that row is new, inserts key into fault_effect (a table
//     without a unique key: a deliberately non-idempotent effect, guarded by
//     the ledger, where a duplicate would show as a second row);
//  3. with gate, waits for the shared advisory lock faultGateKey inside that
//     transaction: a test holding the lock exclusively keeps the task "in the
//     middle", its effect written but not committed;
//  4. with hogMB, allocates and touches that many MiB and holds them for
//     holdMs (default 2000), so the memory guard fires while it is in
//     flight; without hogMB, holdMs alone makes the task take that long.
//
// Environment: the runtime's (VALKEY_URL, MAX_MEMORY_RESTART, ...) plus
// DATABASE_URL and FAULT_QUEUE (default notifications).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// TypeEffect is the one task type this worker handles.
const TypeEffect = "fault:effect"

// faultGateKey is the advisory lock a gated task waits for.
const faultGateKey = 0x66617574 // "faut"

type payload struct {
	Key    string `json:"key"`
	Gate   bool   `json:"gate"`
	HogMB  int    `json:"hogMB"`
	HoldMS int    `json:"holdMs"`
}

func main() {
	worker.Main(run)
}

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "faultworker", env.String("FAULT_QUEUE", "notifications"), "127.0.0.1:0")
	dbURL := env.Required("DATABASE_URL")
	if err := env.Err(); err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeEffect, func(ctx context.Context, t *asynq.Task) error {
		return handle(ctx, pool, t)
	})
	app := worker.App{
		Config: cfg,
		Mux:    mux,
		Checks: []worker.Check{{Name: "postgres", Ping: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("cannot reach %s: %w", postgres.Redact(dbURL), err)
			}
			return nil
		}}},
	}
	return app.Run(ctx)
}

func handle(ctx context.Context, pool *pgxpool.Pool, t *asynq.Task) error {
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Key == "" {
		return worker.Permanent(fmt.Errorf("bad payload %q", t.Payload()))
	}
	if _, err := pool.Exec(ctx, `INSERT INTO fault_attempt (key) VALUES ($1)`, p.Key); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	hold := time.Duration(p.HoldMS) * time.Millisecond
	var hog []byte
	if p.HogMB > 0 {
		if hold == 0 {
			hold = 2 * time.Second
		}
		hog = make([]byte, p.HogMB<<20)
		for i := range hog {
			hog[i] = byte(i)
		}
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if hog != nil {
		worker.LoggerFrom(ctx).Info("hog released", "mb", len(hog)>>20)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO worker.ledger (kind, key) VALUES ('fault', $1) ON CONFLICT DO NOTHING`, p.Key)
		if err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		if tag.RowsAffected() == 1 {
			if _, err := tx.Exec(ctx, `INSERT INTO fault_effect (key) VALUES ($1)`, p.Key); err != nil {
				return fmt.Errorf("effect: %w", err)
			}
		}
		if p.Gate {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, faultGateKey); err != nil {
				return fmt.Errorf("gate: %w", err)
			}
		}
		return nil
	})
}
