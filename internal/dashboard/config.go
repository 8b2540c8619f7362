package dashboard

import (
	"fmt"
	"strings"

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
	// unless Addr binds to loopback. DASHBOARD_INSECURE_OPEN, default false.
	InsecureOpen bool
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
	}
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
	if !strings.HasPrefix(c.RootPath, "/") || c.RootPath == "/" || strings.HasPrefix(c.RootPath, "/api/") || c.RootPath == "/metrics" || c.RootPath == "/healthz" {
		return fmt.Errorf("config: DASHBOARD_PATH: %q must start with / and not be /, /api/..., /metrics or /healthz", c.RootPath)
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
