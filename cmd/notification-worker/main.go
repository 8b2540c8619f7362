// Command notification-worker consumes the notifications queue:
// notifications:create-notification and notifications:send-daily-digest
// (see internal/notify and the README's "Notifications and email" section).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "notification-worker", task.QueueNotifications, ":9101")
	dbURL := env.Required("DATABASE_URL")
	digestTime := env.String("DIGEST_TIME", "08:00")
	lookback := env.Duration("DIGEST_FIRST_LOOKBACK", 7*24*time.Hour)
	batch := env.Int("DIGEST_BATCH_SIZE", 1000, 1, 100000)
	if err := env.Err(); err != nil {
		return err
	}
	if _, err := time.Parse("15:04", digestTime); err != nil {
		return &config.ConfigError{Var: "DIGEST_TIME", Reason: fmt.Sprintf("%q is not a time of day as HH:MM", digestTime)}
	}
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	client := asynq.NewClient(cfg.Redis)
	defer client.Close()
	h := &notify.Handler{DB: db, Queue: client, DigestTime: digestTime, FirstDigestLookback: lookback, BatchSize: batch}
	mux := asynq.NewServeMux()
	h.Register(mux)
	app := &worker.App{Config: cfg, Mux: mux, Checks: []worker.Check{{Name: "postgres", Ping: db.Ping}}}
	return app.Run(ctx)
}
