package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// Check is a dependency that must answer before the worker starts and while
// it reports ready (PostgreSQL, SMTP, Elasticsearch...). Ping's error should
// say how the dependency was configured, without secrets.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// App is one worker process: an asynq server for one queue plus its HTTP
// endpoints, signals and memory guard. Fill the fields and call [App.Run].
type App struct {
	Config Config
	// Mux routes task types to the domain handlers. Required.
	Mux *asynq.ServeMux
	// Logger defaults to JSON or text on stderr per Config.
	Logger *slog.Logger
	// Registry receives the task metrics plus Go and process collectors.
	// Nil means a fresh registry (never the global one).
	Registry *prometheus.Registry
	// Checks are pinged at start (a failure stops the process with a line
	// naming the dependency) and by /readyz.
	Checks []Check
	// MemoryUsage defaults to [ProcessRSS].
	MemoryUsage MemoryUsage
	// Signals defaults to the process's SIGTERM, SIGINT and SIGTSTP.
	Signals <-chan os.Signal
	// RetryDelay defaults to [task.RetryDelay], the per-queue backoff.
	RetryDelay asynq.RetryDelayFunc
	// OnReady, if set, is called once the worker fetches tasks, with the
	// address its HTTP endpoints listen on ("" when disabled).
	OnReady func(httpAddr string)
}

type state int32

const (
	stateStarting state = iota
	stateRunning
	stateStopped // fetching stopped by SIGTSTP
	stateDraining
)

func (s state) String() string {
	return [...]string{"starting", "running", "stopped", "draining"}[s]
}

// Run starts the worker and blocks until ctx is cancelled, SIGTERM or SIGINT
// arrives (drain: readiness 503, stop fetching, wait up to ShutdownTimeout
// for in-flight tasks, push back the rest), or the memory guard fires (same
// drain, then [ErrMemoryLimit]). SIGTSTP stops fetching and keeps the
// process alive until SIGTERM, as asynq's own Server.Run does.
func (a *App) Run(ctx context.Context) error {
	cfg := a.Config
	if a.Mux == nil {
		return errors.New("worker: App.Mux is nil")
	}
	log := a.Logger
	if log == nil {
		log = NewLogger(os.Stderr, cfg.LogFormat, cfg.LogLevel, cfg.Service)
	}
	reg := a.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	metrics, err := NewMetrics(reg)
	if err != nil {
		return err
	}
	delay := a.RetryDelay
	if delay == nil {
		delay = task.RetryDelay
	}
	usage := a.MemoryUsage
	if usage == nil {
		usage = ProcessRSS
	}

	rc, err := cfg.DialValkey(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := pingChecks(ctx, a.Checks); err != nil {
		return err
	}

	var st atomic.Int32
	var healthy atomic.Bool
	healthy.Store(true)
	srv := asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            map[string]int{cfg.Queue: 1},
		TaskCheckInterval: cfg.TaskCheckInterval,
		RetryDelayFunc:    retryDelay(delay),
		IsFailure:         isFailure,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Logger:            AsynqLogger(log),
		LogLevel:          asynqLevel(cfg.LogLevel),
		HealthCheckFunc:   func(err error) { healthy.Store(err == nil) },
	})

	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	var httpAddr string
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("HTTP_ADDR: cannot listen on %s: %w", cfg.HTTPAddr, err)
		}
		httpAddr = ln.Addr().String()
		httpSrv = &http.Server{
			Handler:           a.httpHandler(reg, rc, &st, &healthy),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go func() {
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				httpErr <- err
			}
		}()
		defer httpSrv.Close()
	}

	if err := srv.Start(dispatch(a.Mux, metrics, log)); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	st.Store(int32(stateRunning))
	log.Info("worker started", "queue", cfg.Queue, "concurrency", cfg.Concurrency,
		"valkey", cfg.describeRedis(), "http", httpAddr, "max_memory_bytes", cfg.MaxMemory,
		"shutdown_timeout", cfg.ShutdownTimeout.String(), "task_check_interval", cfg.TaskCheckInterval.String())
	if a.OnReady != nil {
		a.OnReady(httpAddr)
	}

	sigs := a.Signals
	if sigs == nil {
		ch, stop := notifySignals()
		defer stop()
		sigs = ch
	}
	memCtx, stopMem := context.WithCancel(context.Background())
	defer stopMem()
	overLimit := make(chan uint64, 1)
	go watchMemory(memCtx, usage, cfg.MaxMemory, cfg.MemoryCheckInterval, func(used uint64) { overLimit <- used })

	drain := func(reason string) {
		st.Store(int32(stateDraining))
		log.Info("draining: readiness is 503, fetching stops, in-flight tasks finish", "reason", reason,
			"grace", cfg.ReadinessGrace.String(), "timeout", cfg.ShutdownTimeout.String())
		if cfg.ReadinessGrace > 0 {
			time.Sleep(cfg.ReadinessGrace)
		}
		srv.Stop()
		srv.Shutdown()
		if httpSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = httpSrv.Shutdown(sctx)
			cancel()
		}
		log.Info("worker stopped", "reason", reason)
	}

	for {
		select {
		case <-ctx.Done():
			drain("context cancelled")
			return nil
		case err := <-httpErr:
			drain("HTTP server failed")
			return fmt.Errorf("HTTP_ADDR: %w", err)
		case used := <-overLimit:
			log.Error("memory above MAX_MEMORY_RESTART", "used_bytes", used, "limit_bytes", cfg.MaxMemory)
			drain("memory limit")
			return ErrMemoryLimit
		case sig := <-sigs:
			if isStopSignal(sig) {
				if state(st.Load()) == stateRunning {
					// Report "stopped" only once the processor has
					// really stopped taking tasks.
					srv.Stop()
					st.Store(int32(stateStopped))
					log.Info("SIGTSTP: stopped fetching new tasks; send SIGTERM to exit")
				}
				continue
			}
			drain(sig.String())
			return nil
		}
	}
}

// DialValkey opens a client on VALKEY_URL and pings it within 5 seconds.
// Its error is one line that says how Valkey was configured, without the
// password: "valkey: cannot reach 127.0.0.1:6379 db 0 (VALKEY_URL=...): ...".
// The caller closes the client.
func (c Config) DialValkey(ctx context.Context) (redis.UniversalClient, error) {
	rc, ok := c.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("valkey: unsupported connection option for VALKEY_URL=" + c.RedisURL)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("valkey: cannot reach %s: %w", c.describeRedis(), err)
	}
	return rc, nil
}

func pingChecks(ctx context.Context, checks []Check) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, c := range checks {
		if err := c.Ping(pctx); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

func (a *App) httpHandler(reg *prometheus.Registry, rc redis.UniversalClient, st *atomic.Int32, healthy *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": a.Config.Service})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s := state(st.Load())
		body := map[string]string{"state": s.String()}
		code := http.StatusOK
		if s != stateRunning {
			code = http.StatusServiceUnavailable
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := rc.Ping(ctx).Err(); err != nil || !healthy.Load() {
			code, body["valkey"] = http.StatusServiceUnavailable, "unreachable"
		} else {
			body["valkey"] = "ok"
		}
		for _, c := range a.Checks {
			if err := c.Ping(ctx); err != nil {
				code, body[c.Name] = http.StatusServiceUnavailable, err.Error()
			} else {
				body[c.Name] = "ok"
			}
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
