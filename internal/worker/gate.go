package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Dependency is a service a worker's tasks need and that can be away for a
// while: SMTP, an issue tracker, S3, Elasticsearch. (PostgreSQL is declared
// by the runtime itself, once per tenant.) A worker lists its dependencies
// in [App.Dependencies]; the runtime's dependency gate does the rest.
type Dependency struct {
	// Name labels the dependency in logs, metrics and errors ("smtp").
	Name string
	// Ping reports whether the dependency answers now, within ctx.
	Ping func(ctx context.Context) error
}

// The dependency gate. A task's failure whose dependency does not answer a
// ping right after it is not the task's fault: the task goes back to the
// queue without spending an attempt ([UnavailableError]), the dependency is
// marked down, and probed with backoff until it answers again. While a
// dependency that every task needs is down, the worker stops fetching
// altogether (its asynq server is shut down and started again on the
// dependency's return); while one tenant's database is down, that tenant's
// tasks wait and the other tenants' run. A failure while every dependency
// answers belongs to the task and spends an attempt.

// UnavailableError is what a task gets when a dependency it needs is down:
// it is retried after RetryAfter without counting as a failure.
type UnavailableError struct {
	Dependency string
	Err        error
	RetryAfter time.Duration
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s unavailable, the task waits for it (no attempt spent): %v", e.Dependency, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Probe backoff of a down dependency.
const (
	probeMin = 250 * time.Millisecond
	probeMax = 5 * time.Second
	// pingTimeout bounds the ping that decides whose fault a failure is.
	pingTimeout = 3 * time.Second
)

// gate is one dependency's state (one per tenant for PostgreSQL).
type gate struct {
	name   string // "smtp", "postgres"
	tenant string // the tenant of a database gate
	// wide: every task of the worker needs it, so its outage stops
	// fetching altogether.
	wide bool
	ping func(ctx context.Context) error
	g    *gates

	mu      sync.Mutex
	down    bool
	since   time.Time
	lastErr error
}

func (g *gate) label() string {
	if g.tenant == "" {
		return g.name
	}
	return g.name + " (tenant " + g.tenant + ")"
}

// isDown reports the state and, when down, how long a task should wait.
func (g *gate) isDown() (bool, time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return false, 0, nil
	}
	// Wait about half of the outage so far: seconds after a short one, at
	// most probeMax after a long one.
	wait := min(max(time.Since(g.since)/2, time.Second), probeMax)
	return true, wait, g.lastErr
}

// markDown closes the gate (once) and starts its prober.
func (g *gate) markDown(err error) {
	g.mu.Lock()
	if g.down {
		g.mu.Unlock()
		return
	}
	g.down, g.since, g.lastErr = true, time.Now(), err
	g.mu.Unlock()
	g.g.log.Warn("dependency down: its tasks wait, no attempt is spent", "dependency", g.name, "tenant", g.tenant, "error", err.Error())
	g.g.up.WithLabelValues(g.name, g.tenant).Set(0)
	g.g.changed(g, true)
	go g.probe()
}

// probe pings with backoff until the dependency answers, then opens the
// gate.
func (g *gate) probe() {
	wait := probeMin
	for {
		select {
		case <-g.g.stop:
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		err := g.ping(ctx)
		cancel()
		if err == nil {
			break
		}
		g.mu.Lock()
		g.lastErr = err
		g.mu.Unlock()
		wait = min(wait*2, probeMax)
	}
	g.mu.Lock()
	g.down = false
	outage := time.Since(g.since)
	g.mu.Unlock()
	g.g.log.Info("dependency back: its tasks run again", "dependency", g.name, "tenant", g.tenant, "outage", outage.Round(time.Millisecond).String())
	g.g.up.WithLabelValues(g.name, g.tenant).Set(1)
	g.g.changed(g, false)
}

// gates holds a worker's gates: the declared dependencies, and PostgreSQL
// per tenant.
type gates struct {
	log  *slog.Logger
	up   *prometheus.GaugeVec
	stop chan struct{}
	// pg pings a tenant's database.
	pg func(ctx context.Context, tenant string) error
	// pgWide: single-tenant mode, where the one database is needed by every
	// task, so its outage stops fetching like any worker-wide dependency.
	pgWide bool
	// onWide is called when the number of worker-wide gates down goes
	// from 0 to 1 or back to 0; it reads the current state with
	// [gates.wideIsDown] (calls may race, the state does not).
	onWide func()

	mu       sync.Mutex
	wide     []*gate
	tenants  map[string]*gate
	wideDown int
}

func newGates(log *slog.Logger, reg prometheus.Registerer, deps []Dependency, pg func(context.Context, string) error, pgWide bool) (*gates, error) {
	gs := &gates{
		log: log, stop: make(chan struct{}), pg: pg, pgWide: pgWide, tenants: map[string]*gate{},
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tpi_dependency_up",
			Help: "1 while the dependency answers, 0 while it is down and its tasks wait (tenant set for a tenant's database).",
		}, []string{"dependency", "tenant"}),
	}
	if err := reg.Register(gs.up); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	for _, d := range deps {
		if d.Name == "" || d.Ping == nil {
			return nil, errors.New("worker: a Dependency needs a Name and a Ping")
		}
		gs.wide = append(gs.wide, &gate{name: d.Name, ping: d.Ping, g: gs, wide: true})
		gs.up.WithLabelValues(d.Name, "").Set(1)
	}
	if pgWide {
		g := gs.tenantGate("")
		g.wide = true
		gs.wide = append(gs.wide, g)
	}
	return gs, nil
}

// tenantGate returns the PostgreSQL gate of a tenant ("" in single-tenant
// mode).
func (gs *gates) tenantGate(tenant string) *gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g, ok := gs.tenants[tenant]
	if !ok {
		g = &gate{name: "postgres", tenant: tenant, g: gs, ping: func(ctx context.Context) error { return gs.pg(ctx, tenant) }}
		gs.tenants[tenant] = g
		gs.up.WithLabelValues("postgres", tenant).Set(1)
	}
	return g
}

// forTask returns the gates a task of tenant needs.
func (gs *gates) forTask(tenant string) []*gate {
	out := append([]*gate(nil), gs.wide...)
	if !gs.pgWide {
		out = append(out, gs.tenantGate(tenant))
	}
	return out
}

// changed counts a worker-wide gate going down or up.
func (gs *gates) changed(g *gate, down bool) {
	if !g.wide {
		return
	}
	gs.mu.Lock()
	before := gs.wideDown
	if down {
		gs.wideDown++
	} else {
		gs.wideDown--
	}
	after := gs.wideDown
	gs.mu.Unlock()
	if gs.onWide != nil && (before == 0) != (after == 0) {
		gs.onWide()
	}
}

// wideIsDown reports whether a dependency every task needs is down.
func (gs *gates) wideIsDown() bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.wideDown > 0
}

func (gs *gates) close() { close(gs.stop) }

// admit returns an [UnavailableError] when a gate of the task is down.
func admit(gs []*gate) error {
	for _, g := range gs {
		if down, wait, err := g.isDown(); down {
			return &UnavailableError{Dependency: g.label(), Err: err, RetryAfter: wait}
		}
	}
	return nil
}

// blame decides whose fault a task's failure is: when one of the task's
// dependencies does not answer a ping now, the failure is the dependency's
// (the gate closes, the task waits without spending an attempt); otherwise
// err is returned as is and counts against the task.
func blame(ctx context.Context, gs []*gate, err error) error {
	if err == nil || IsPermanent(err) || ctx.Err() != nil {
		return err
	}
	var rl *RateLimitError
	var un *UnavailableError
	if errors.As(err, &rl) || errors.As(err, &un) {
		return err
	}
	for _, g := range gs {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
		perr := g.ping(pctx)
		cancel()
		if perr != nil {
			g.markDown(perr)
			return &UnavailableError{Dependency: g.label(), Err: err, RetryAfter: time.Second}
		}
	}
	return err
}
