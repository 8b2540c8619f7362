// Command notification-worker consumes the notifications queue:
// notifications:create-notification and notifications:send-daily-digest
// (see internal/notify and the README's "Notifications and email" section).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "notification-worker", task.QueueNotifications, ":9101")
	digestTime := env.String("DIGEST_TIME", "08:00")
	lookback := env.Duration("DIGEST_FIRST_LOOKBACK", 7*24*time.Hour)
	batch := env.Int("DIGEST_BATCH_SIZE", 1000, 1, 100000)
	if err := env.Err(); err != nil {
		return err
	}
	if _, err := time.Parse("15:04", digestTime); err != nil {
		return &config.ConfigError{Var: "DIGEST_TIME", Reason: fmt.Sprintf("%q is not a time of day as HH:MM", digestTime)}
	}
	client := worker.NewClient(cfg)
	defer client.Close()
	h := &notify.Handler{Enqueuer: client, DigestTime: digestTime, FirstDigestLookback: lookback, BatchSize: batch}
	mux := asynq.NewServeMux()
	h.Register(mux)
	return (&worker.App{Config: cfg, Mux: mux}).Run(ctx)
}
