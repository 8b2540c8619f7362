// Command dashboard serves the Admin > Job Queues view (asynqmon) under
// DASHBOARD_PATH, the enqueue API (POST /api/v1/tasks) and asynq's queue
// metrics (/metrics), behind authentication: it refuses to start without
// credentials unless it binds to loopback with DASHBOARD_INSECURE_OPEN=true.
// See the README's "Dashboard" and "Enqueue API" sections.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

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
	rc.Close()

	srv, err := dashboard.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("DASHBOARD_ADDR: cannot listen on %s: %w", cfg.Addr, err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	c := cfg.Credentials
	if cfg.InsecureOpen {
		log.Warn("dashboard is OPEN: no authentication (DASHBOARD_INSECURE_OPEN on loopback)", "addr", ln.Addr().String())
	}
	log.Info("dashboard listening", "addr", ln.Addr().String(), "path", cfg.RootPath, "read_only", cfg.ReadOnly,
		"admin_basic", c.AdminUser != "", "admin_token", c.AdminTokenHash != "",
		"viewer_basic", c.ViewerUser != "", "viewer_token", c.ViewerTokenHash != "",
		"enqueue_api", c.ProducerTokenHash != "" || cfg.InsecureOpen, "valkey", base.RedisURL)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("DASHBOARD_ADDR: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(sctx)
	log.Info("dashboard stopped")
	return nil
}
