package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
)

// Errors of [Resolver.Resolve] that belong to the task, not to the moment:
// the runtime archives such a task with the message, which names the tenant.
var (
	// ErrTenantRequired: multi-tenant mode and the task names no tenant.
	ErrTenantRequired = errors.New("tenant: the task has no tenantId (MULTI_TENANT_MODE is on)")
	// ErrUnknownTenant: multi-tenant mode and no configuration names it.
	ErrUnknownTenant = errors.New("tenant: unknown tenant")
	// ErrForeignTenant: single-tenant mode and the task names another
	// tenant than INSTANCE_TENANT_ID.
	ErrForeignTenant = errors.New("tenant: not this instance's tenant")
)

// Tenant is what a handler needs of its task's tenant.
type Tenant struct {
	// ID is the task's tenantId, or INSTANCE_TENANT_ID when the task has
	// none; "" in a plain single-tenant deployment. Every task a handler
	// enqueues carries it.
	ID string
	// DB is the tenant's PostgreSQL pool: opened on first use, shared by
	// the tenant's tasks, closed by the resolver when its URL changes. Nil
	// only for a single-tenant process configured without DATABASE_URL.
	DB *pgxpool.Pool
	// BaseURL is the web app's URL for links (baseUrl, else NEXTAUTH_URL).
	BaseURL string
	// ElasticsearchNode is the tenant's node (elasticsearchNode, else
	// ELASTICSEARCH_NODE).
	ElasticsearchNode string
	// ElasticsearchIndex is the tenant's index prefix, "" for the default.
	ElasticsearchIndex string
}

// Opener opens and checks a tenant's pool; [postgres.Open] followed by the
// worker schema check in production.
type Opener func(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error)

// Resolver maps tenant ids to [Tenant]s. It is safe for concurrent use.
type Resolver struct {
	s    Settings
	open Opener
	log  *slog.Logger
	// Recheck is the minimum interval between two looks at the config
	// file's modification time (default 1s): the file is re-read when it
	// changes, never on every task.
	recheck time.Duration

	mu       sync.Mutex
	configs  map[string]Config // multi-tenant: merged configuration
	fileStat fileStamp
	checked  time.Time
	pools    map[string]*pool // by tenant id ("" in single-tenant mode)
}

type pool struct {
	url  string
	db   *pgxpool.Pool
	once chan struct{} // closed when db or err is set
	err  error
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// NewResolver returns a resolver for s. open defaults to opening the pool
// with [postgres.Open] and checking the worker schema. In multi-tenant mode
// the configuration is read now: a malformed file is an error.
func NewResolver(s Settings, open Opener, log *slog.Logger) (*Resolver, error) {
	if open == nil {
		open = OpenChecked
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{s: s, open: open, log: log, recheck: time.Second, pools: map[string]*pool{}}
	if s.MultiTenant {
		if err := r.reload(true); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// OpenChecked opens a pool and checks that the worker schema is there.
func OpenChecked(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	db, err := postgres.OpenMax(ctx, databaseURL, maxConns)
	if err != nil {
		return nil, err
	}
	if err := postgres.CheckWorkerSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// MultiTenant reports whether tasks must name their tenant.
func (r *Resolver) MultiTenant() bool { return r.s.MultiTenant }

// IDs returns the configured tenants, sorted: every tenant of the
// configuration that names a database in multi-tenant mode, else
// INSTANCE_TENANT_ID (possibly "").
// The scheduler enqueues each periodic job once per id.
func (r *Resolver) IDs() ([]string, error) {
	if !r.s.MultiTenant {
		return []string{r.s.InstanceID}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.maybeReload(); err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range sortedKeys(r.configs) {
		if r.configs[id].DatabaseURL == "" {
			continue // not usable: Lookup says why, per task
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Lookup returns the tenant's configuration without opening anything,
// applying the same rules as [Resolver.Resolve]; the returned id is the one
// tasks of this tenant carry.
func (r *Resolver) Lookup(id string) (string, Config, error) {
	if !r.s.MultiTenant {
		if id != "" && r.s.InstanceID != "" && id != r.s.InstanceID {
			return "", Config{}, fmt.Errorf("%w: the task names tenant %q, this instance serves %q (INSTANCE_TENANT_ID)", ErrForeignTenant, id, r.s.InstanceID)
		}
		if id == "" {
			id = r.s.InstanceID
		}
		return id, r.s.Default, nil
	}
	if id == "" {
		return "", Config{}, ErrTenantRequired
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.maybeReload(); err != nil {
		r.log.Warn("tenant configuration file unreadable; keeping the last one", "file", r.s.File, "error", err.Error())
	}
	c, ok := r.configs[id]
	if !ok {
		return "", Config{}, fmt.Errorf("%w %q: not in %s, TENANT_CONFIGS or TENANT_%s_DATABASE_URL", ErrUnknownTenant, id, r.s.File, strings.ToUpper(id))
	}
	if c.DatabaseURL == "" {
		return "", Config{}, fmt.Errorf("%w %q: its configuration has no databaseUrl", ErrUnknownTenant, id)
	}
	return id, c, nil
}

// Resolve returns the tenant of a task whose payload names id, opening its
// pool on first use. The errors [ErrTenantRequired], [ErrUnknownTenant] and
// [ErrForeignTenant] belong to the task; any other error (the database is
// unreachable) is transient.
func (r *Resolver) Resolve(ctx context.Context, id string) (*Tenant, error) {
	id, c, err := r.Lookup(id)
	if err != nil {
		return nil, err
	}
	if c.DatabaseURL == "" { // single-tenant without a database (tests, database-less workers)
		return &Tenant{ID: id, BaseURL: c.BaseURL, ElasticsearchNode: c.ElasticsearchNode, ElasticsearchIndex: c.ElasticsearchIndex}, nil
	}
	db, err := r.pool(ctx, id, c.DatabaseURL)
	if err != nil {
		if id != "" {
			return nil, fmt.Errorf("tenant %q: %w", id, err)
		}
		return nil, err
	}
	return &Tenant{ID: id, DB: db, BaseURL: c.BaseURL, ElasticsearchNode: c.ElasticsearchNode, ElasticsearchIndex: c.ElasticsearchIndex}, nil
}

// pool returns the open pool of a tenant, opening it once; a pool whose URL
// changed is replaced, the old one closed once its connections are back.
func (r *Resolver) pool(ctx context.Context, id, url string) (*pgxpool.Pool, error) {
	key := id
	if !r.s.MultiTenant {
		key = "" // one database, whatever the task's tenantId
	}
	r.mu.Lock()
	p := r.pools[key]
	if p != nil && p.url != url {
		delete(r.pools, key)
		go r.closePool(key, p)
		p = nil
	}
	if p == nil {
		p = &pool{url: url, once: make(chan struct{})}
		r.pools[key] = p
		r.mu.Unlock()
		p.db, p.err = r.open(ctx, url, r.s.MaxConns)
		close(p.once)
		if p.err != nil {
			r.mu.Lock()
			if r.pools[key] == p {
				delete(r.pools, key) // the next task tries again
			}
			r.mu.Unlock()
		}
		return p.db, p.err
	}
	r.mu.Unlock()
	select {
	case <-p.once:
		return p.db, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Resolver) closePool(key string, p *pool) {
	<-p.once
	if p.db != nil {
		r.log.Info("tenant database URL changed; closing the old pool", "tenant", key)
		p.db.Close()
	}
}

// maybeReload re-reads the file when its size or modification time changed,
// looking at most once per recheck interval. r.mu is held.
func (r *Resolver) maybeReload() error {
	if time.Since(r.checked) < r.recheck {
		return nil
	}
	return r.reload(false)
}

// reload reads the file if it changed (or always, when force) and merges
// the configuration. r.mu is held, or r is not shared yet.
func (r *Resolver) reload(force bool) error {
	r.checked = time.Now()
	st := stamp(r.s.File)
	if !force && st == r.fileStat {
		return nil
	}
	// Remembered before reading: a malformed edit is reported once, not at
	// every look, and the last configuration stays until the next change.
	r.fileStat = st
	var file map[string]Config
	if st.ok {
		b, err := os.ReadFile(r.s.File)
		if err != nil {
			return fmt.Errorf("TENANT_CONFIG_FILE: %w", err)
		}
		if file, err = parseConfigs(b); err != nil {
			return fmt.Errorf("TENANT_CONFIG_FILE %s: %w", r.s.File, err)
		}
	}
	r.configs = merge(file, r.s)
	// Pools of tenants that are gone are closed; changed URLs are handled
	// by pool() on the tenant's next task.
	for id, p := range r.pools {
		if c, ok := r.configs[id]; !ok || c.DatabaseURL != p.url {
			delete(r.pools, id)
			go r.closePool(id, p)
		}
	}
	if !force {
		r.log.Info("tenant configuration reloaded", "file", r.s.File, "tenants", len(r.configs))
	}
	return nil
}

func stamp(file string) fileStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

// Close closes every pool. In-flight users must be done.
func (r *Resolver) Close() {
	r.mu.Lock()
	pools := r.pools
	r.pools = map[string]*pool{}
	r.mu.Unlock()
	for _, p := range pools {
		<-p.once
		if p.db != nil {
			p.db.Close()
		}
	}
}

// Ping checks every open pool, for /readyz: the first error names its
// tenant. Tenants whose pool is not open yet are not contacted.
func (r *Resolver) Ping(ctx context.Context) error {
	r.mu.Lock()
	pools := make(map[string]*pool, len(r.pools))
	for id, p := range r.pools {
		pools[id] = p
	}
	r.mu.Unlock()
	for _, id := range sortedKeys(pools) {
		p := pools[id]
		select {
		case <-p.once:
		default:
			continue
		}
		if p.db == nil {
			continue
		}
		if err := p.db.Ping(ctx); err != nil {
			if id != "" {
				return fmt.Errorf("tenant %q: %w", id, err)
			}
			return err
		}
	}
	return nil
}
