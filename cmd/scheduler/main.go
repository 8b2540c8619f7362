// Command scheduler enqueues TestPlanIt's periodic jobs (nightly forecast,
// milestone auto-completion and reminders, the digest sweep) on asynq's
// PeriodicTaskManager. It is long-running, reloads SCHEDULER_CONFIG_FILE
// without a restart, and is safe to run twice: each occurrence has a
// deterministic task ID. See the README's "Scheduler" section.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
	_ "time/tzdata" // SCHEDULER_TZ works in images without a zone database

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/testplanit/tpi-workers/pkg/schedule"
	"github.com/testplanit/tpi-workers/pkg/task"
	"github.com/testplanit/tpi-workers/pkg/worker"
)

func main() {
	worker.Main(func(ctx context.Context, getenv func(string) string) error {
		return run(ctx, getenv, os.Stderr)
	})
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	env := worker.NewEnv(getenv)
	cfg := worker.LoadClientConfig(env, "scheduler", ":9107")
	timing := schedule.Timing{
		SyncInterval: env.Duration("SCHEDULER_SYNC_INTERVAL", 5*time.Second),
		Grace:        env.Duration("SCHEDULER_GRACE", 2*time.Second),
	}
	heartbeat := env.Duration("SCHEDULER_HEARTBEAT_INTERVAL", 10*time.Second)
	file := env.String("SCHEDULER_CONFIG_FILE", "")
	if err := env.Err(); err != nil {
		return err
	}
	log := worker.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel, cfg.Service)

	rc, err := cfg.DialValkey(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()

	provider := schedule.NewProvider(schedule.ProviderOptions{
		Overrides: schedule.OverridesFromEnv(getenv), File: file, Timing: timing, Logger: log,
	})
	current, err := provider.Current()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := schedule.New(schedule.Options{
		Redis: cfg.Redis, Provider: provider, Timing: timing, HeartbeatInterval: heartbeat,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}

	var httpSrv *http.Server
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("HTTP_ADDR: cannot listen on %s: %w", cfg.HTTPAddr, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			if err := rc.Ping(r.Context()).Err(); err != nil {
				http.Error(w, "valkey unreachable", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		})
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = httpSrv.Serve(ln) }()
		defer httpSrv.Close()
		log.Info("http listening", "addr", ln.Addr().String())
	}

	if err := s.Start(); err != nil {
		return err
	}
	logEntries(log, current, file, timing)
	<-ctx.Done()
	log.Info("scheduler stopping")
	s.Shutdown()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
	log.Info("scheduler stopped")
	return nil
}

// logEntries says at start what will run when.
func logEntries(log *slog.Logger, cfg schedule.Config, file string, timing schedule.Timing) {
	now := time.Now()
	log.Info("scheduler started", "entries", len(cfg.Entries), "disabled", cfg.Disabled,
		"timezone", cfg.Location.String(), "config_file", file, "sync_interval", timing.WithDefaults().SyncInterval.String())
	for _, e := range cfg.Entries {
		next := e.Next(now)
		q, _ := task.QueueOf(e.TaskType)
		log.Info("entry", "entry", e.Name, "cron", e.Cron, "timezone", e.Location.String(), "type", e.TaskType,
			"queue", q, "next_run", next.In(e.Location).Format(time.RFC3339), "next_run_utc", next.UTC().Format(time.RFC3339),
			"next_task_id", schedule.OccurrenceID(e.Name, next))
	}
}
