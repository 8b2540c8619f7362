package dashboard

import (
	"fmt"
	"net/netip"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// Config is the dashboard process's configuration; [LoadConfig] reads it
// from the environment and [Config.Validate] refuses an unprotected one.
type Config struct {
	// Addr is where everything is served. DASHBOARD_ADDR, default ":8080"
	// (or HTTP_ADDR when that is set).
	Addr string
	// RootPath is where asynqmon is mounted. DASHBOARD_PATH, default
	// "/admin/queues", as the original Admin > Job Queues page.
	RootPath string
	// ReadOnly makes the dashboard read-only for everyone (the enqueue API
	// is unaffected). DASHBOARD_READ_ONLY, default false.
	ReadOnly bool
	// InsecureOpen serves everything without authentication. It is refused
	// unless Addr binds to loopback, and then answers only requests whose
	// Host is a loopback name (no DNS rebinding). DASHBOARD_INSECURE_OPEN,
	// default false.
	InsecureOpen bool
	// Login bounds password guessing on basic auth (DASHBOARD_LOGIN_BURST,
	// DASHBOARD_LOGIN_INTERVAL); the zero value means the defaults.
	Login LoginLimit
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client that the login throttle counts; without them (the
	// default) X-Forwarded-For is ignored. DASHBOARD_TRUSTED_PROXIES, IP
	// addresses or CIDR blocks separated by commas.
	TrustedProxies []netip.Prefix
	// Credentials are the hashed secrets.
	Credentials Credentials
	// Redis is VALKEY_URL.
	Redis asynq.RedisConnOpt
	// MaxBodyBytes bounds an enqueue request. DASHBOARD_MAX_BODY, default 1M.
	MaxBodyBytes int64
	// Tenants are the fleet's tenant settings (MULTI_TENANT_MODE,
	// INSTANCE_TENANT_ID, TENANT_CONFIG_FILE, TENANT_CONFIGS, TENANT_<ID>_*):
	// the enqueue API refuses a task whose tenant the workers would refuse.
	// The zero value is a plain single-tenant deployment.
	Tenants tenant.Settings
	// QueueConcurrency is each queue's concurrency as its workers are
	// configured, read from the same variables (NOTIFICATION_CONCURRENCY,
	// EMAIL_CONCURRENCY, FORECAST_CONCURRENCY, SYNC_CONCURRENCY,
	// TESTMO_IMPORT_CONCURRENCY, ELASTICSEARCH_REINDEX_CONCURRENCY,
	// AUDIT_LOG_CONCURRENCY) with the
	// same defaults (pkg/task.Queues); the Job Queues page shows it beside
	// what the running workers offer. A missing queue means its default.
	QueueConcurrency map[string]int
}

// LoadConfig reads the DASHBOARD_* variables; the caller checks env.Err().
// base is the fleet's client configuration (VALKEY_URL, HTTP_ADDR, the
// tenant settings).
func LoadConfig(env *config.Env, base worker.Config) Config {
	return Config{
		Addr:         env.String("DASHBOARD_ADDR", base.HTTPAddr),
		RootPath:     env.String("DASHBOARD_PATH", "/admin/queues"),
		ReadOnly:     env.Bool("DASHBOARD_READ_ONLY", false),
		InsecureOpen: env.Bool("DASHBOARD_INSECURE_OPEN", false),
		Login: LoginLimit{
			Burst:    env.Int("DASHBOARD_LOGIN_BURST", defaultLoginBurst, 1, 1000),
			Interval: env.Duration("DASHBOARD_LOGIN_INTERVAL", defaultLoginInterval),
		},
		TrustedProxies: loadTrustedProxies(env),
		Credentials: Credentials{
			AdminUser:          env.String("DASHBOARD_USER", ""),
			AdminPasswordHash:  env.String("DASHBOARD_PASSWORD_HASH", ""),
			AdminTokenHash:     env.String("DASHBOARD_TOKEN_HASH", ""),
			ViewerUser:         env.String("DASHBOARD_VIEWER_USER", ""),
			ViewerPasswordHash: env.String("DASHBOARD_VIEWER_PASSWORD_HASH", ""),
			ViewerTokenHash:    env.String("DASHBOARD_VIEWER_TOKEN_HASH", ""),
			ProducerTokenHash:  env.String("DASHBOARD_PRODUCER_TOKEN_HASH", ""),
		},
		Redis:        base.Redis,
		MaxBodyBytes: int64(env.Bytes("DASHBOARD_MAX_BODY", 1<<20)),
		Tenants:      base.Tenants,

		QueueConcurrency: loadQueueConcurrency(env),
	}
}

// loadTrustedProxies reads DASHBOARD_TRUSTED_PROXIES.
func loadTrustedProxies(env *config.Env) []netip.Prefix {
	p, err := ParseTrustedProxies(env.String("DASHBOARD_TRUSTED_PROXIES", ""))
	if err != nil {
		env.Fail("DASHBOARD_TRUSTED_PROXIES", "%v", err)
	}
	return p
}

// Validate refuses to serve without credentials, unless told explicitly to
// run open on loopback.
func (c Config) Validate() error {
	if c.Redis == nil {
		return fmt.Errorf("config: VALKEY_URL: required but not set")
	}
	if c.Addr == "" {
		return fmt.Errorf("config: DASHBOARD_ADDR: required")
	}
	if err := checkRootPath(c.RootPath); err != nil {
		return err
	}
	if err := c.Credentials.validate(); err != nil {
		return err
	}
	if c.InsecureOpen {
		if !IsLoopback(c.Addr) {
			return fmt.Errorf("config: DASHBOARD_INSECURE_OPEN: refused because DASHBOARD_ADDR %q is not a loopback address (use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", c.Addr)
		}
		return nil
	}
	if !c.Credentials.hasAdmin() && c.Credentials.ViewerUser == "" && c.Credentials.ViewerTokenHash == "" {
		return fmt.Errorf("config: DASHBOARD_PASSWORD_HASH: no dashboard credentials: set DASHBOARD_USER and DASHBOARD_PASSWORD_HASH (bcrypt, tpictl hash-password) or DASHBOARD_TOKEN_HASH (tpictl new-token); " +
			"only on a loopback DASHBOARD_ADDR may DASHBOARD_INSECURE_OPEN=true serve without them")
	}
	return nil
}
