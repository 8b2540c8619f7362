// Command forecast-worker consumes the forecast-updates queue: case and run
// forecasts, milestone auto-completion and milestone due reminders (see
// internal/forecast and the README's "Forecasts" section).
package main

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the reminder zone works in images without a zone database

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadConfig(env, "forecast-worker", task.QueueForecast, ":9103")
	// The reminder day (one reminder per milestone, user and day) is a day
	// in the scheduler's time zone unless MILESTONE_REMINDER_TZ says
	// otherwise (for a reminder entry given its own zone).
	zoneVar := "MILESTONE_REMINDER_TZ"
	zone := env.String(zoneVar, "")
	if zone == "" {
		zoneVar, zone = "SCHEDULER_TZ", env.String("SCHEDULER_TZ", "UTC")
	}
	batch := env.Int("FORECAST_BATCH_SIZE", forecast.DefaultBatchSize, 1, 1_000_000)
	if err := env.Err(); err != nil {
		return err
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return &config.ConfigError{Var: zoneVar, Reason: fmt.Sprintf("unknown time zone %q", zone)}
	}
	client := worker.NewClient(cfg)
	defer client.Close()
	h := &forecast.Handler{Enqueuer: client, Location: loc, BatchSize: batch}
	mux := asynq.NewServeMux()
	h.Register(mux)
	return (&worker.App{Config: cfg, Mux: mux}).Run(ctx)
}
