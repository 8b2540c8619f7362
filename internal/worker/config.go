package worker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Config is what every worker process reads from its environment. The
// variable names and defaults are listed per field; [LoadConfig] fills it.
type Config struct {
	// Service names the process in logs, metrics and the dashboard's
	// Servers view, e.g. "email-worker".
	Service string

	// Queue is the asynq queue this worker consumes (the original BullMQ
	// queue name).
	Queue string

	// Redis is parsed from VALKEY_URL (required).
	Redis asynq.RedisConnOpt
	// RedisURL is VALKEY_URL with the password redacted, for messages.
	RedisURL string

	// Concurrency is read from the queue's own variable
	// (NOTIFICATION_CONCURRENCY, EMAIL_CONCURRENCY, ...), default per queue
	// as in the original documentation.
	Concurrency int

	// FetchLoops is the number of fetch loops sharing Concurrency: asynq
	// servers in this one process, each dequeuing on its own, since one
	// server dequeues one task per Valkey round trip. FETCH_LOOPS, default
	// [DefaultFetchLoops] of the concurrency (also when 0); 1 is asynq's own
	// behaviour.
	FetchLoops int

	// HTTPAddr serves /healthz, /readyz and /metrics. HTTP_ADDR; the default
	// is given by the binary so that a whole fleet fits on one host. An
	// empty value disables the listener.
	HTTPAddr string

	// ShutdownTimeout bounds the wait for in-flight tasks after SIGTERM;
	// the rest are pushed back to the queue. SHUTDOWN_TIMEOUT, default 25s,
	// kept below the supervisors' grace periods (30s).
	ShutdownTimeout time.Duration

	// ReadinessGrace is how long /readyz reports 503 before the worker stops
	// fetching, so a load balancer or orchestrator notices first.
	// READINESS_GRACE, default 0.
	ReadinessGrace time.Duration

	// TaskCheckInterval is how long an idle worker waits between polls of
	// an empty queue. TASK_CHECK_INTERVAL, default 50ms (asynq's own is 1s,
	// which costs up to 1.5s of pickup latency).
	TaskCheckInterval time.Duration

	// DelayedTaskCheckInterval is how often due retries and scheduled tasks
	// are moved to the queue: the precision of a backoff or of a provider's
	// Retry-After. DELAYED_TASK_CHECK_INTERVAL, default 1s (asynq's own is
	// 5s).
	DelayedTaskCheckInterval time.Duration

	// RetryBackoffBase and RetryBackoffMax, when set, replace the queue's
	// backoff (base 5 or 10 s, cap 1 h or 10 min): RETRY_BACKOFF_BASE and
	// RETRY_BACKOFF_MAX, default unset. They shorten or stretch the window
	// in which a task's own failures spend its attempts (the fault tests
	// spend them all within seconds).
	RetryBackoffBase, RetryBackoffMax time.Duration

	// MaxMemory is the hard memory limit (resident set size): above it the
	// worker drains and exits non-zero. MAX_MEMORY_RESTART, default 1G,
	// "0" never matches since sizes must be positive. GOMEMLIMIT, when not
	// set, becomes 90% of it so the GC works harder before the guard fires.
	MaxMemory uint64

	// MemoryCheckInterval is how often the guard samples memory.
	// MEMORY_CHECK_INTERVAL, default 5s.
	MemoryCheckInterval time.Duration

	// Tenants says where each tenant's database, base URL and
	// Elasticsearch settings come from: MULTI_TENANT_MODE,
	// INSTANCE_TENANT_ID, TENANT_CONFIG_FILE, TENANT_CONFIGS,
	// TENANT_<ID>_*, else DATABASE_URL, NEXTAUTH_URL, ELASTICSEARCH_NODE
	// (see internal/tenant).
	Tenants tenant.Settings

	// LogFormat is "json" (default) or "text". LOG_FORMAT.
	LogFormat string
	// LogLevel is debug, info (default), warn or error. LOG_LEVEL.
	LogLevel slog.Level
}

// LoadConfig reads the runtime's variables for service consuming queue.
// Errors are recorded in env; the caller reads its own variables from the
// same env and then checks env.Err() once. httpAddr is the binary's default
// listen address.
func LoadConfig(env *config.Env, service, queue, httpAddr string) Config {
	c := Config{Service: service, Queue: queue}
	if spec, ok := task.LookupQueue(queue); ok {
		c.Concurrency = env.Int(spec.ConcurrencyEnv, spec.DefaultConcurrency, 1, 1000)
	} else if queue != "" {
		env.Fail("queue", "unknown queue %q", queue)
	}
	c.loadCommon(env, httpAddr)
	c.FetchLoops = env.Int("FETCH_LOOPS", DefaultFetchLoops(c.Concurrency), 1, 64)
	if c.FetchLoops > c.Concurrency && c.Concurrency > 0 {
		env.Fail("FETCH_LOOPS", "%d loops for concurrency %d: each loop needs at least one slot", c.FetchLoops, c.Concurrency)
	}
	c.Tenants = tenant.LoadSettings(env, tenant.EnvNames(), true)
	return c
}

// DefaultFetchLoops is FETCH_LOOPS's default: one loop per slot up to 16,
// so concurrency 5 runs 5 loops of one slot each and 50 runs 16 loops of 3
// or 4. Beyond that the store, not the loops, is the limit, while every
// loop adds a heartbeat and a Valkey connection.
func DefaultFetchLoops(concurrency int) int { return max(1, min(concurrency, 16)) }

// loops is the number of fetch loops the worker runs: FetchLoops, its
// default when 0, never more than the slots.
func (c Config) loops() int {
	n := c.FetchLoops
	if n <= 0 {
		n = DefaultFetchLoops(c.Concurrency)
	}
	return max(1, min(n, c.Concurrency))
}

// LoadClientConfig reads the variables a process that only produces or
// inspects tasks needs (scheduler, dashboard, CLI): VALKEY_URL, logging,
// HTTP_ADDR and the tenants (DATABASE_URL optional).
func LoadClientConfig(env *config.Env, service, httpAddr string) Config {
	c := Config{Service: service}
	c.loadCommon(env, httpAddr)
	c.Tenants = tenant.LoadSettings(env, tenant.EnvNames(), false)
	return c
}

func (c *Config) loadCommon(env *config.Env, httpAddr string) {
	raw := env.Required("VALKEY_URL")
	if raw != "" {
		opt, err := ParseValkeyURL(raw)
		if err != nil {
			env.Fail("VALKEY_URL", "%v (value %s)", err, RedactURL(raw))
		}
		c.Redis, c.RedisURL = opt, RedactURL(raw)
	}
	c.HTTPAddr = env.String("HTTP_ADDR", httpAddr)
	c.ShutdownTimeout = env.Duration("SHUTDOWN_TIMEOUT", 25*time.Second)
	c.ReadinessGrace = env.Duration("READINESS_GRACE", 0)
	c.TaskCheckInterval = env.Duration("TASK_CHECK_INTERVAL", 50*time.Millisecond)
	if c.TaskCheckInterval < time.Millisecond {
		env.Fail("TASK_CHECK_INTERVAL", "must be at least 1ms")
	}
	c.DelayedTaskCheckInterval = env.Duration("DELAYED_TASK_CHECK_INTERVAL", time.Second)
	if c.DelayedTaskCheckInterval < 10*time.Millisecond {
		env.Fail("DELAYED_TASK_CHECK_INTERVAL", "must be at least 10ms")
	}
	c.RetryBackoffBase = env.Duration("RETRY_BACKOFF_BASE", 0)
	c.RetryBackoffMax = env.Duration("RETRY_BACKOFF_MAX", 0)
	if (c.RetryBackoffBase > 0) != (c.RetryBackoffMax > 0) || c.RetryBackoffMax < c.RetryBackoffBase {
		env.Fail("RETRY_BACKOFF_MAX", "set RETRY_BACKOFF_BASE and RETRY_BACKOFF_MAX together, the maximum not below the base")
	}
	c.MaxMemory = env.Bytes("MAX_MEMORY_RESTART", 1<<30)
	c.MemoryCheckInterval = env.Duration("MEMORY_CHECK_INTERVAL", 5*time.Second)
	if c.MemoryCheckInterval <= 0 {
		env.Fail("MEMORY_CHECK_INTERVAL", "must be positive") // the guard's ticker panics on 0
	}
	c.LogFormat = env.String("LOG_FORMAT", "json")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		env.Fail("LOG_FORMAT", "%q is not json or text", c.LogFormat)
	}
	lvl, err := parseLevel(env.String("LOG_LEVEL", "info"))
	if err != nil {
		env.Fail("LOG_LEVEL", "%q is not debug, info, warn or error", env.String("LOG_LEVEL", ""))
	}
	c.LogLevel = lvl
}

// describeRedis says how Valkey was configured, without the password.
func (c Config) describeRedis() string {
	switch o := c.Redis.(type) {
	case asynq.RedisClientOpt:
		return fmt.Sprintf("%s db %d (VALKEY_URL=%s)", o.Addr, o.DB, c.RedisURL)
	case asynq.RedisFailoverClientOpt:
		return fmt.Sprintf("sentinel master %q via %v db %d (VALKEY_URL=%s)", o.MasterName, o.SentinelAddrs, o.DB, c.RedisURL)
	case asynq.RedisClusterClientOpt:
		return fmt.Sprintf("cluster via %v (VALKEY_URL=%s)", o.Addrs, c.RedisURL)
	default:
		return "VALKEY_URL=" + c.RedisURL
	}
}
