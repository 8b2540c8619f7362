// Command scheduler enqueues TestPlanIt's periodic jobs (nightly forecast,
// milestone auto-completion and reminders, the digest sweep) on asynq's
// PeriodicTaskManager, once per tenant (every configured tenant with
// MULTI_TENANT_MODE=true, else INSTANCE_TENANT_ID). It is long-running,
// reloads SCHEDULER_CONFIG_FILE and the tenant configuration without a
// restart, and is safe to run twice: each occurrence has a deterministic
// task ID per tenant. See the README's "Scheduler" section.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // SCHEDULER_TZ works in images without a zone database

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func main() {
	worker.Main(func(ctx context.Context, getenv func(string) string) error {
		return run(ctx, getenv, os.Stderr)
	})
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	env := config.NewEnv(getenv)
	cfg := worker.LoadClientConfig(env, "scheduler", ":9107")
	timing := schedule.Timing{
		SyncInterval: env.Duration("SCHEDULER_SYNC_INTERVAL", 5*time.Second),
		Grace:        env.Duration("SCHEDULER_GRACE", 2*time.Second),
	}
	heartbeat := env.Duration("SCHEDULER_HEARTBEAT_INTERVAL", 10*time.Second)
	file := env.String("SCHEDULER_CONFIG_FILE", "")
	forward := forwardQueues(env, "SCHEDULER_FORWARD_QUEUES", task.QueueTestmoImports)
	forwardEvery := env.Duration("SCHEDULER_FORWARD_INTERVAL", schedule.DefaultForwardInterval)
	if err := env.Err(); err != nil {
		return err
	}
	log := worker.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel, cfg.Service)

	rc, err := cfg.DialValkey(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()

	tenants, err := tenant.NewResolver(cfg.Tenants, nil, log)
	if err != nil {
		return err
	}
	defer tenants.Close()
	provider := schedule.NewProvider(schedule.ProviderOptions{
		Overrides: schedule.OverridesFromEnv(getenv), File: file, Timing: timing, Logger: log,
		Tenants: tenants.IDs,
	})
	current, err := provider.Current()
	if err != nil {
		return err
	}
	served, err := provider.Tenants()
	if err != nil {
		return err
	}
	reg := worker.NewRegistry()
	s, err := schedule.New(schedule.Options{
		Redis: cfg.Redis, Provider: provider, Timing: timing, HeartbeatInterval: heartbeat,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	fwd := &schedule.Forwarder{Inspector: asynq.NewInspectorFromRedisClient(rc), Queues: forward, Interval: forwardEvery, Logger: log}
	if err := fwd.Register(reg); err != nil {
		return err
	}
	r := &worker.Runner{
		Service: cfg.Service, HTTPAddr: cfg.HTTPAddr, ReadinessGrace: cfg.ReadinessGrace,
		Logger: log, Registry: reg, Valkey: rc,
		OnReady: func(addr string) {
			logEntries(log, current, cfg.Tenants, served, file, timing, addr)
			if len(forward) > 0 {
				log.Info("forwarding due retries and scheduled tasks of queues whose worker may be scaled to zero",
					"queues", forward, "interval", forwardEvery.String())
			}
		},
	}
	return r.Run(ctx, worker.ServiceFuncs{
		StartFunc: func() error {
			if err := s.Start(); err != nil {
				return err
			}
			return fwd.Start()
		},
		ShutdownFunc: func() { fwd.Shutdown(); s.Shutdown() },
	})
}

// forwardQueues reads the comma-separated queues whose due retries and
// scheduled tasks the scheduler moves to pending (their worker may be
// scaled to zero); "none" is none.
func forwardQueues(env *config.Env, name, def string) []string {
	v := env.String(name, def)
	if v == "none" {
		return nil
	}
	known := map[string]bool{}
	var names []string
	for _, q := range task.Queues() {
		known[q.Name] = true
		names = append(names, q.Name)
	}
	var qs []string
	for q := range strings.SplitSeq(v, ",") {
		q = strings.TrimSpace(q)
		if q == "" {
			continue
		}
		if !known[q] {
			env.Fail(name, "unknown queue %q (queues: %s, or none)", q, strings.Join(names, ", "))
			return nil
		}
		qs = append(qs, q)
	}
	return qs
}

// logEntries says at start what will run when, and for which tenants.
func logEntries(log *slog.Logger, cfg schedule.Config, ts tenant.Settings, served []string, file string, timing schedule.Timing, httpAddr string) {
	now := time.Now()
	attrs := []any{"entries", len(cfg.Entries), "disabled", cfg.Disabled, "timezone", cfg.Location.String(),
		"config_file", file, "sync_interval", timing.WithDefaults().SyncInterval.String(), "http", httpAddr,
		// "" is the tenant of a plain single-tenant deployment: no tenantId.
		"multi_tenant", ts.MultiTenant, "tenants", slices.DeleteFunc(slices.Clone(served), func(id string) bool { return id == "" })}
	if ts.MultiTenant {
		attrs = append(attrs, "tenant_config_file", ts.File)
	}
	log.Info("scheduler started", attrs...)
	// The task ID of one tenant's occurrence; "<tenant>" stands for each
	// tenant when there are several.
	idTenant := "<tenant>"
	if len(served) == 1 {
		idTenant = served[0]
	}
	for _, e := range cfg.Entries {
		next := e.Next(now)
		q, _ := task.QueueOf(e.TaskType)
		log.Info("entry", "entry", e.Name, "cron", e.Cron, "timezone", e.Location.String(), "type", e.TaskType,
			"queue", q, "next_run", next.In(e.Location).Format(time.RFC3339), "next_run_utc", next.UTC().Format(time.RFC3339),
			"next_task_id", schedule.TenantOccurrenceID(idTenant, e.Name, next))
	}
}
