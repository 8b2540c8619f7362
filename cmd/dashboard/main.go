// Command dashboard serves the Admin > Job Queues view (asynqmon) under
// DASHBOARD_PATH, the enqueue API (POST /api/v1/tasks) and asynq's queue
// metrics (/metrics), behind authentication: it refuses to start without
// credentials unless it binds to loopback with DASHBOARD_INSECURE_OPEN=true.
// See the README's "Dashboard" and "Enqueue API" sections.
package main

import (
	"context"
	"io"
	"os"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/worker"
)

func main() {
	worker.Main(func(ctx context.Context, getenv func(string) string) error {
		return run(ctx, getenv, os.Stderr)
	})
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	env := config.NewEnv(getenv)
	base := worker.LoadClientConfig(env, "dashboard", ":8080")
	cfg := dashboard.LoadConfig(env, base)
	if err := env.Err(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := worker.NewLogger(stderr, base.LogFormat, base.LogLevel, base.Service)

	rc, err := base.DialValkey(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()

	srv, err := dashboard.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	c := cfg.Credentials
	r := &worker.Runner{
		Service: base.Service, HTTPAddr: cfg.Addr, AddrVar: "DASHBOARD_ADDR", Handler: srv.Handler(),
		ReadinessGrace: base.ReadinessGrace, Logger: log, Registry: worker.NewRegistry(), Valkey: rc,
		OnReady: func(addr string) {
			if cfg.InsecureOpen {
				log.Warn("dashboard is OPEN: no authentication (DASHBOARD_INSECURE_OPEN on loopback)", "addr", addr)
			}
			log.Info("dashboard listening", "addr", addr, "path", cfg.RootPath, "read_only", cfg.ReadOnly,
				"admin_basic", c.AdminUser != "", "admin_token", c.AdminTokenHash != "",
				"viewer_basic", c.ViewerUser != "", "viewer_token", c.ViewerTokenHash != "",
				"enqueue_api", c.ProducerTokenHash != "" || cfg.InsecureOpen, "valkey", base.RedisURL,
				"multi_tenant", cfg.Tenants.MultiTenant, "instance_tenant", cfg.Tenants.InstanceID)
		},
	}
	// The dashboard's work is its HTTP handler, served by the Runner.
	return r.Run(ctx, worker.ServiceFuncs{})
}
