package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Check is a dependency that must answer before the worker starts and while
// it reports ready (PostgreSQL, SMTP, Elasticsearch...). Ping's error should
// say how the dependency was configured, without secrets.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// App is one worker process: the asynq servers (fetch loops) of one queue,
// its tenants, its dependency gate, and the [Runner]'s endpoints, signals
// and memory guard. Fill the fields and call [App.Run].
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
	// Tenants resolves each task's tenant for handlers registered with
	// [Handle]; its open pools are checked by /readyz. Nil means a resolver
	// built from Config.Tenants, closed when Run returns.
	Tenants *tenant.Resolver
	// Dependencies are what the tasks need besides their tenant's database
	// (SMTP, an issue tracker, S3, Elasticsearch): while one is down the
	// worker stops fetching, and a failure it caused spends no attempt
	// (see [Dependency]). They also answer /readyz.
	Dependencies []Dependency
	// MemoryUsage defaults to [ProcessRSS].
	MemoryUsage MemoryUsage
	// Signals defaults to the process's SIGTERM, SIGINT and SIGTSTP.
	Signals <-chan os.Signal
	// RetryDelay defaults to [task.RetryDelay], the per-queue backoff, or
	// to RETRY_BACKOFF_BASE and RETRY_BACKOFF_MAX when set.
	RetryDelay asynq.RetryDelayFunc
	// OnReady, if set, is called once the worker fetches tasks, with the
	// address its HTTP endpoints listen on ("" when disabled).
	OnReady func(httpAddr string)
}

// Run starts the worker and blocks until ctx is cancelled, SIGTERM or SIGINT
// arrives (drain: readiness 503, stop fetching, wait up to ShutdownTimeout
// for in-flight tasks, push back the rest), or the memory guard fires (same
// drain, then [ErrMemoryLimit]). SIGTSTP stops fetching and keeps the
// process alive until SIGTERM, as asynq's own Server.Run does. The lifecycle
// is the [Runner]'s, shared with the scheduler and the dashboard.
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
		reg = NewRegistry()
	}
	metrics, err := NewMetrics(reg)
	if err != nil {
		return err
	}
	delay := a.RetryDelay
	if delay == nil {
		delay = task.RetryDelay
		if cfg.RetryBackoffBase > 0 {
			delay = task.RetryDelayWith(cfg.RetryBackoffBase, cfg.RetryBackoffMax)
		}
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
	tenants := a.Tenants
	if tenants == nil {
		if tenants, err = tenant.NewResolver(cfg.Tenants, nil, log); err != nil {
			return err
		}
		defer tenants.Close()
	}
	if err := openTenants(ctx, tenants, log); err != nil {
		return err
	}

	gs, err := newGates(log, reg, a.Dependencies, func(ctx context.Context, id string) error {
		tn, err := tenants.Resolve(ctx, id)
		if err != nil || tn.DB == nil {
			return err
		}
		return tn.DB.Ping(ctx)
	}, !tenants.MultiTenant())
	if err != nil {
		return err
	}
	defer gs.close()

	var healthy atomic.Bool
	healthy.Store(true)
	asynqCfg := asynq.Config{
		Concurrency:       cfg.Concurrency,
		Queues:            map[string]int{cfg.Queue: 1},
		TaskCheckInterval: cfg.TaskCheckInterval,
		// Zero (a Config built by hand) keeps asynq's 5s.
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		RetryDelayFunc:           retryDelay(delay),
		IsFailure:                isFailure,
		ErrorHandler:             logArchived(log),
		ShutdownTimeout:          cfg.ShutdownTimeout,
		Logger:                   AsynqLogger(log),
		LogLevel:                 asynqLevel(cfg.LogLevel),
		HealthCheckFunc:          func(err error) { healthy.Store(err == nil) },
	}
	serverHealth := Check{Name: "asynq", Ping: func(context.Context) error {
		if !healthy.Load() {
			return errors.New("the server's own health check is failing")
		}
		return nil
	}}

	memCtx, stopMem := context.WithCancel(context.Background())
	defer stopMem()
	overLimit := make(chan error, 1)
	go watchMemory(memCtx, usage, cfg.MaxMemory, cfg.MemoryCheckInterval, func(used uint64) {
		log.Error("memory above MAX_MEMORY_RESTART", "used_bytes", used, "limit_bytes", cfg.MaxMemory)
		overLimit <- ErrMemoryLimit
	})

	qs := &queueService{
		newServers: func() []*asynq.Server { return fetchLoops(rc, asynqCfg, cfg.loops()) },
		h:          dispatch(a.Mux, metrics, log, tenants, gs), log: log,
	}
	qs.held = gs.wideIsDown // a dependency may go down before the server starts
	gs.onWide = qs.reconcile
	checks := append([]Check{serverHealth}, a.Checks...)
	checks = append(checks, Check{Name: "postgres", Ping: tenants.Ping})
	for _, d := range a.Dependencies {
		checks = append(checks, Check(d))
	}
	r := &Runner{
		Service: cfg.Service, HTTPAddr: cfg.HTTPAddr, ReadinessGrace: cfg.ReadinessGrace,
		Logger: log, Registry: reg, Valkey: rc, Signals: a.Signals, Stop: overLimit,
		Checks: checks,
		OnReady: func(httpAddr string) {
			log.Info("worker started", "queue", cfg.Queue, "concurrency", cfg.Concurrency, "fetch_loops", qs.loops(),
				"valkey", cfg.describeRedis(), "http", httpAddr, "max_memory_bytes", cfg.MaxMemory,
				"shutdown_timeout", cfg.ShutdownTimeout.String(), "task_check_interval", cfg.TaskCheckInterval.String())
			if a.OnReady != nil {
				a.OnReady(httpAddr)
			}
		},
	}
	return r.Run(ctx, qs)
}

// fetchLoops returns the asynq servers of one worker: loops of them sharing
// cfg.Concurrency (never more in all), so that several dequeues are in
// flight at once. Their idle cost stays that of one server: each polls an
// empty queue loops times less often (the process as a whole polls every
// TaskCheckInterval on average), and only the first forwards due retries
// and scheduled tasks, deletes expired ones and runs the health check.
func fetchLoops(rc redis.UniversalClient, cfg asynq.Config, loops int) []*asynq.Server {
	const off = 24 * time.Hour // a loop's housekeeping left to the first loop
	srvs := make([]*asynq.Server, loops)
	for i := range loops {
		c := cfg
		c.Concurrency = cfg.Concurrency / loops
		if i < cfg.Concurrency%loops {
			c.Concurrency++
		}
		if loops > 1 {
			c.TaskCheckInterval = cfg.TaskCheckInterval * time.Duration(loops)
		}
		if i > 0 {
			c.DelayedTaskCheckInterval, c.JanitorInterval, c.HealthCheckInterval = off, off, off
			c.HealthCheckFunc = nil
		}
		srvs[i] = asynq.NewServerFromRedisClient(rc, c)
	}
	return srvs
}

// queueService runs a worker's asynq servers (its fetch loops) as one
// [Service] and [Pauser]. The dependency gate suspends them (they are shut
// down: nothing is fetched) while a dependency every task needs is down,
// and starts new ones when it is back; an asynq server cannot be restarted
// once stopped.
type queueService struct {
	newServers func() []*asynq.Server
	h          asynq.Handler
	log        *slog.Logger
	// held reports whether the gate holds the worker (a dependency every
	// task needs is down).
	held func() bool

	mu      sync.Mutex
	srvs    []*asynq.Server // nil while suspended or stopped
	stopped bool            // paused (SIGTSTP) or shut down: never start again
}

// loops returns the number of fetch loops running now.
func (q *queueService) loops() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.srvs)
}

func (q *queueService) Start() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held() {
		return nil
	}
	return q.start()
}

// start starts a new set of servers; q.mu is held.
func (q *queueService) start() error {
	srvs := q.newServers()
	for i, srv := range srvs {
		if err := srv.Start(q.h); err != nil {
			shutdownAll(srvs[:i])
			return fmt.Errorf("start asynq server: %w", err)
		}
	}
	q.srvs = srvs
	return nil
}

// reconcile suspends or resumes the servers to match the gate, in the
// background: it is called from a handler's failure, which a shutdown would
// wait for. Concurrent calls converge on the gate's current state.
func (q *queueService) reconcile() {
	go func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		held := q.held()
		switch {
		case q.stopped:
		case held && q.srvs != nil:
			q.log.Warn("a dependency every task needs is down: fetching stops until it is back")
			shutdownAll(q.srvs)
			q.srvs = nil
		case !held && q.srvs == nil:
			q.log.Info("dependencies back: fetching again")
			if err := q.start(); err != nil {
				q.log.Error("cannot start the asynq servers again", "error", err.Error())
			}
		}
	}()
}

// Pause stops every loop's fetching; it returns once they have stopped.
func (q *queueService) Pause() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	var wg sync.WaitGroup
	for _, srv := range q.srvs {
		wg.Go(srv.Stop)
	}
	wg.Wait()
}

// Shutdown stops fetching, waits for in-flight tasks up to the servers'
// ShutdownTimeout (the loops drain in parallel) and pushes back the rest.
func (q *queueService) Shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	shutdownAll(q.srvs)
	q.srvs = nil
}

// shutdownAll stops every server's fetching first, then waits for all of
// them, in parallel both times: the drain takes one ShutdownTimeout at most,
// and stopping takes one idle poll at most (an idle loop answers Stop only
// when its poll's sleep ends, up to 1.5 × its TaskCheckInterval).
func shutdownAll(srvs []*asynq.Server) {
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Go(srv.Stop)
	}
	wg.Wait()
	for _, srv := range srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}

// DialValkey opens a client on VALKEY_URL and pings it within 5 seconds.
// Its error is one line that says how Valkey was configured, without the
// password: "valkey: cannot reach 127.0.0.1:6379 db 0 (VALKEY_URL=...): ...".
// The caller closes the client.
func (c Config) DialValkey(ctx context.Context) (redis.UniversalClient, error) {
	rc, ok := c.withPoolSize().MakeRedisClient().(redis.UniversalClient)
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

// openTenants opens the tenants' databases at start and checks their worker
// schema. In single-tenant mode a failure stops the process with a line
// naming the database. In multi-tenant mode an unreachable tenant is logged
// and retried with its tasks, so one tenant's outage does not stop the
// others; a missing worker schema stops the process, since every task of
// that tenant would fail.
func openTenants(ctx context.Context, r *tenant.Resolver, log *slog.Logger) error {
	ids, err := r.IDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := r.Resolve(pctx, id)
		cancel()
		switch {
		case err == nil:
		case !r.MultiTenant(), errors.Is(err, postgres.ErrWorkerSchemaMissing):
			return err
		default:
			log.Warn("tenant database unreachable at start; its tasks wait", "tenant", id, "error", err.Error())
		}
	}
	if r.MultiTenant() {
		log.Info("multi-tenant mode", "tenants", len(ids))
	}
	return nil
}

// withPoolSize sizes the connection pool for a worker's fetch loops, which
// share one client: every slot may be completing a task while every loop
// dequeues and keeps its heartbeat, so go-redis's default (10 per CPU) would
// make them queue for connections. A pool size set in VALKEY_URL is kept.
func (c Config) withPoolSize() asynq.RedisConnOpt {
	if c.Concurrency == 0 {
		return c.Redis
	}
	n := c.Concurrency + 3*c.loops() + 10
	switch o := c.Redis.(type) {
	case asynq.RedisClientOpt:
		if o.PoolSize == 0 {
			o.PoolSize = max(n, 10*runtime.GOMAXPROCS(0))
		}
		return o
	case asynq.RedisFailoverClientOpt:
		if o.PoolSize == 0 {
			o.PoolSize = max(n, 10*runtime.GOMAXPROCS(0))
		}
		return o
	case asynq.RedisClusterClientOpt:
		return clusterConnOpt{o, max(n, 10*runtime.GOMAXPROCS(0))}
	default:
		return c.Redis
	}
}

// clusterConnOpt is asynq's cluster option with a pool size, which asynq's
// lacks. go-redis keeps a pool per node, and all of a queue's keys share one
// hash slot (asynq:{<queue>}:…), hence one node: a worker's fetch loops all
// draw on that node's pool.
type clusterConnOpt struct {
	asynq.RedisClusterClientOpt
	poolSize int
}

// MakeRedisClient returns a *redis.ClusterClient.
func (o clusterConnOpt) MakeRedisClient() any {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: o.Addrs, MaxRedirects: o.MaxRedirects, Username: o.Username, Password: o.Password,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		TLSConfig: o.TLSConfig, PoolSize: o.poolSize,
	})
}
