package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// Service is the work a [Runner] runs: a queue worker's asynq server, the
// scheduler, or nothing more than the Runner's HTTP handler (the dashboard).
type Service interface {
	// Start begins the work and returns; an error stops the process.
	Start() error
	// Shutdown stops the work and waits for what is in flight, within the
	// service's own timeout. The Runner calls it once, after /readyz has
	// answered 503 for READINESS_GRACE.
	Shutdown()
}

// Pauser is a [Service] that can stop taking new work and keep running, on
// SIGTSTP (asynq's convention), until SIGTERM.
type Pauser interface {
	Pause()
}

// Runner is the lifecycle every long-running binary of the fleet shares:
// /healthz, /readyz and /metrics on one address, signals (SIGTERM and SIGINT
// drain, SIGTSTP pauses a [Pauser]), readiness 503 before the drain, and an
// orderly shutdown. Fill the fields and call [Runner.Run].
type Runner struct {
	// Service names the process in logs and /healthz.
	Service string
	// HTTPAddr serves the endpoints (and Handler); "" disables them.
	HTTPAddr string
	// AddrVar names HTTPAddr's variable in errors; default HTTP_ADDR.
	AddrVar string
	// Handler, if set, serves every path but /healthz and /readyz on
	// HTTPAddr, /metrics included (the dashboard guards its own).
	Handler http.Handler
	// ReadinessGrace is how long /readyz answers 503 before Shutdown.
	ReadinessGrace time.Duration
	// Logger defaults to JSON on stderr.
	Logger *slog.Logger
	// Registry is exposed on /metrics; nil means a fresh one with the Go
	// and process collectors (never the global registry).
	Registry *prometheus.Registry
	// Valkey and Checks are pinged by /readyz.
	Valkey redis.UniversalClient
	Checks []Check
	// Signals defaults to the process's SIGTERM, SIGINT and SIGTSTP.
	Signals <-chan os.Signal
	// Stop, if set, asks for a drain; Run then returns the error received
	// (the memory guard sends [ErrMemoryLimit]).
	Stop <-chan error
	// OnReady, if set, is called once the service runs, with the address the
	// endpoints listen on ("" when disabled).
	OnReady func(httpAddr string)
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

type state int32

const (
	stateStarting state = iota
	stateRunning
	stateStopped // SIGTSTP: no new work
	stateDraining
)

func (s state) String() string {
	return [...]string{"starting", "running", "stopped", "draining"}[s]
}

// Run starts the endpoints, then svc, and blocks until ctx is cancelled,
// SIGTERM or SIGINT arrives, Stop delivers, or the HTTP server fails. It then
// drains: /readyz answers 503, after ReadinessGrace svc.Shutdown runs, then
// the endpoints stop.
func (r *Runner) Run(ctx context.Context, svc Service) error {
	log := r.Logger
	if log == nil {
		log = NewLogger(os.Stderr, "json", slog.LevelInfo, r.Service)
	}
	reg := r.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	var st atomic.Int32
	var httpSrv *HTTPServer
	var httpAddr string
	var httpErr <-chan error // nil without a listener: never ready
	if r.HTTPAddr != "" {
		ep := &Endpoints{Service: r.Service, Registry: reg, Valkey: r.Valkey, Checks: r.Checks,
			State: func() (string, bool) {
				s := state(st.Load())
				return s.String(), s == stateRunning
			}}
		h := ep.Handler()
		if r.Handler != nil {
			h = ep.Mount(r.Handler)
		}
		var err error
		if httpSrv, err = serve(r.addrVar(), r.HTTPAddr, h); err != nil {
			return err
		}
		defer httpSrv.Shutdown()
		httpAddr, httpErr = httpSrv.Addr(), httpSrv.Err()
	}

	if err := svc.Start(); err != nil {
		return err
	}
	st.Store(int32(stateRunning))
	if r.OnReady != nil {
		r.OnReady(httpAddr)
	}

	sigs := r.Signals
	if sigs == nil {
		ch, stop := notifySignals()
		defer stop()
		sigs = ch
	}
	drain := func(reason string) {
		st.Store(int32(stateDraining))
		log.Info("draining: readiness is 503, new work stops, work in flight finishes", "reason", reason,
			"grace", r.ReadinessGrace.String())
		if r.ReadinessGrace > 0 {
			time.Sleep(r.ReadinessGrace)
		}
		svc.Shutdown()
		if httpSrv != nil {
			httpSrv.Shutdown()
		}
		log.Info("stopped", "reason", reason)
	}
	for {
		select {
		case <-ctx.Done():
			drain("context cancelled")
			return nil
		case err := <-httpErr:
			drain("HTTP server failed")
			return err
		case err := <-r.Stop:
			reason := err.Error()
			if errors.Is(err, ErrMemoryLimit) {
				reason = "memory limit"
			}
			drain(reason)
			return err
		case sig := <-sigs:
			if isStopSignal(sig) {
				p, ok := svc.(Pauser)
				if ok && state(st.Load()) == stateRunning {
					// Report "stopped" only once the service has really
					// stopped taking work.
					p.Pause()
					st.Store(int32(stateStopped))
					log.Info("SIGTSTP: stopped taking new work; send SIGTERM to exit")
				}
				continue
			}
			drain(sig.String())
			return nil
		}
	}
}

func (r *Runner) addrVar() string {
	if r.AddrVar == "" {
		return "HTTP_ADDR"
	}
	return r.AddrVar
}

// ServiceFuncs adapts two functions to a [Service].
type ServiceFuncs struct {
	StartFunc    func() error
	ShutdownFunc func()
}

// Start calls StartFunc when set.
func (s ServiceFuncs) Start() error {
	if s.StartFunc == nil {
		return nil
	}
	return s.StartFunc()
}

// Shutdown calls ShutdownFunc when set.
func (s ServiceFuncs) Shutdown() {
	if s.ShutdownFunc != nil {
		s.ShutdownFunc()
	}
}
