// Command audit-worker consumes the audit-logs queue: it writes each
// audit-logs:audit-event task as one "AuditLog" row of its tenant's database,
// once whatever the retries, and writes a burst of events with one statement
// per group (see internal/audit and the README's "Audit log" section).
package main

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/audit"
	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "audit-worker", task.QueueAuditLogs, ":9108") // AUDIT_LOG_CONCURRENCY
	if err := env.Err(); err != nil {
		return err // one line naming the variable
	}
	mux := asynq.NewServeMux()
	(&audit.Handler{}).Register(mux)
	return (&worker.App{Config: cfg, Mux: mux}).Run(ctx)
}
