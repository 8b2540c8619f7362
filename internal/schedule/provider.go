package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Provider is the asynq.PeriodicTaskConfigProvider of the scheduler. On each
// call it re-reads the configuration file and the tenant list (so edits
// apply without a restart) and returns every enabled entry, once per tenant,
// with the task ID of that tenant's upcoming occurrence.
type Provider struct {
	overrides Overrides
	file      string
	timing    Timing
	clock     worker.Clock
	log       *slog.Logger
	tenantsFn func() ([]string, error)

	mu         sync.Mutex
	last       *Config // the last valid configuration
	lastErr    string  // the last reported error, not to repeat it every sync
	tenants    []string
	tenantsOK  bool   // tenants holds a valid list
	tenantsErr string // the last reported tenant error
	pending    map[occurrenceKey]registered
	firedAt    map[occurrenceKey]time.Time
}

// occurrenceKey names an entry of one tenant: each is registered with asynq
// separately, with its own upcoming occurrence.
type occurrenceKey struct{ tenant, entry string }

// ProviderOptions configure a [Provider].
type ProviderOptions struct {
	// Overrides come from the environment ([OverridesFromEnv]).
	Overrides Overrides
	// File is SCHEDULER_CONFIG_FILE, or "" for none. A missing file is an
	// error.
	File string
	// Timing must be the one the manager runs with.
	Timing Timing
	// Clock defaults to the system clock.
	Clock worker.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Tenants lists the tenants each occurrence is enqueued for, once per
	// tenant with {"tenantId": "<id>"} ({} for ""); it is called on every
	// sync, so a tenant added to the configuration gets its jobs without a
	// restart: tenant.Resolver.IDs in production. Nil means one tenant,
	// "": payloads without tenantId, as in a plain single-tenant deployment.
	Tenants func() ([]string, error)
}

// NewProvider returns a provider. Call [Provider.Load] once to check the
// configuration before starting.
func NewProvider(o ProviderOptions) *Provider {
	p := &Provider{overrides: o.Overrides, file: o.File, timing: o.Timing.WithDefaults(), clock: o.Clock, log: o.Logger,
		tenantsFn: o.Tenants, pending: map[occurrenceKey]registered{}, firedAt: map[occurrenceKey]time.Time{}}
	if p.clock == nil {
		p.clock = worker.SystemClock{}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.tenantsFn == nil {
		p.tenantsFn = func() ([]string, error) { return []string{""}, nil }
	}
	return p
}

// Load reads and resolves the configuration now, without remembering it.
func (p *Provider) Load() (Config, error) {
	var file []byte
	if p.file != "" {
		b, err := os.ReadFile(p.file)
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, fmt.Errorf("SCHEDULER_CONFIG_FILE: %s does not exist", p.file)
		}
		if err != nil {
			return Config{}, fmt.Errorf("SCHEDULER_CONFIG_FILE: %w", err)
		}
		file = b
	}
	cfg, err := Resolve(p.overrides, file, p.timing, p.clock.Now())
	if err != nil && p.file != "" {
		return Config{}, fmt.Errorf("%s: %w", p.file, err)
	}
	return cfg, err
}

// Current returns the configuration in force: the last valid one, loading it
// first if there is none yet.
func (p *Provider) Current() (Config, error) {
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	if last != nil {
		return *last, nil
	}
	return p.refresh()
}

// refresh loads the configuration and records it if it is valid. After a
// first valid configuration, an invalid one is logged (once per distinct
// error) and the last valid one stays in force, so a typo in the file never
// stops the schedule.
func (p *Provider) refresh() (Config, error) {
	cfg, err := p.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.last == nil {
			return Config{}, err
		}
		if err.Error() != p.lastErr {
			p.lastErr = err.Error()
			p.log.Error("scheduler configuration invalid; keeping the previous one", "err", err)
		}
		return *p.last, nil
	}
	p.lastErr = ""
	if p.last != nil && !p.last.equal(cfg) {
		p.log.Info("scheduler configuration reloaded", "entries", describe(cfg, p.clock.Now()), "disabled", cfg.Disabled)
	}
	p.last = &cfg
	return cfg, nil
}

// Tenants returns the tenants the occurrences are enqueued for: the last
// valid list, asking for it first if there is none yet. "" stands for the
// tasks without tenantId of a single-tenant deployment.
func (p *Provider) Tenants() ([]string, error) {
	p.mu.Lock()
	ok, ids := p.tenantsOK, p.tenants
	p.mu.Unlock()
	if ok {
		return slices.Clone(ids), nil
	}
	return p.refreshTenants()
}

// refreshTenants asks for the tenant list and records it. After a first
// valid list, an error (an unreadable tenant file) is logged once per
// distinct error and the last list stays in force; a change is logged.
func (p *Provider) refreshTenants() ([]string, error) {
	ids, err := p.tenantsFn()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if !p.tenantsOK {
			return nil, fmt.Errorf("tenants: %w", err)
		}
		if err.Error() != p.tenantsErr {
			p.tenantsErr = err.Error()
			p.log.Error("tenant configuration unreadable; keeping the previous tenants", "err", err, "tenants", p.tenants)
		}
		return slices.Clone(p.tenants), nil
	}
	p.tenantsErr = ""
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if ids == nil {
		ids = []string{}
	}
	if p.tenantsOK && !slices.Equal(ids, p.tenants) {
		p.log.Info("scheduler tenants changed", "tenants", ids, "added", without(ids, p.tenants), "removed", without(p.tenants, ids))
	}
	if len(ids) == 0 && (!p.tenantsOK || len(p.tenants) > 0) {
		p.log.Warn("no tenant configured (MULTI_TENANT_MODE): nothing is scheduled until one is")
	}
	p.tenants, p.tenantsOK = ids, true
	return slices.Clone(ids), nil
}

// without returns the elements of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Occurrence is a tenant's upcoming occurrence of an entry as registered
// with asynq.
type Occurrence struct {
	Entry Entry
	// Tenant is the tenantId of the task, "" for none.
	Tenant string
	// At is the occurrence's time.
	At time.Time
	// TaskID is TenantOccurrenceID(Tenant, Entry.Name, At).
	TaskID string
}

// registered is the occurrence an entry was last registered for.
type registered struct {
	spec string
	at   time.Time
}

// upcoming returns the occurrence each entry of cfg is to be registered for
// at now, for each tenant: the first one after now minus the grace period,
// so that an occurrence's ID stays registered for Grace after its tick. If
// the tick of a tenant's entry has not been seen yet (a stalled or
// CPU-throttled process fires late), its occurrence is kept up to half the
// interval to the next one, rather than replaced before it fires. The state
// of entries and tenants that are gone is dropped.
func (p *Provider) upcoming(cfg Config, tenants []string, now time.Time) []Occurrence {
	p.mu.Lock()
	defer p.mu.Unlock()
	occ := make([]Occurrence, 0, len(cfg.Entries)*len(tenants))
	pending := make(map[occurrenceKey]registered, len(cfg.Entries)*len(tenants))
	for _, tenant := range tenants {
		for _, e := range cfg.Entries {
			k := occurrenceKey{tenant, e.Name}
			at := e.Next(now.Add(-p.timing.Grace))
			if prev, ok := p.pending[k]; ok && prev.spec == e.Spec() && prev.at.Before(at) &&
				!p.firedAt[k].Equal(prev.at) && now.Before(prev.at.Add(hold(e, prev.at))) {
				at = prev.at
			}
			pending[k] = registered{spec: e.Spec(), at: at}
			occ = append(occ, Occurrence{Entry: e, Tenant: tenant, At: at, TaskID: TenantOccurrenceID(tenant, e.Name, at)})
		}
	}
	p.pending = pending
	for k := range p.firedAt {
		if _, ok := pending[k]; !ok {
			delete(p.firedAt, k)
		}
	}
	return occ
}

// hold is how long after occurrence at its ID may stay registered: half the
// interval to the next occurrence, which leaves the other half (at least
// SyncInterval + Grace, see Timing) to register the next one.
func hold(e Entry, at time.Time) time.Duration { return e.Next(at).Sub(at) / 2 }

// fired records that the tenant's entry of the occurrence ID fired
// (whatever the enqueue's outcome), so that the next sync moves it to its
// next occurrence.
func (p *Provider) fired(taskID string) {
	o, ok := parseOccurrenceID(taskID)
	if !ok || o.at.IsZero() {
		return
	}
	p.mu.Lock()
	p.firedAt[occurrenceKey{o.tenant, o.entry}] = o.at
	p.mu.Unlock()
}

// stale reports whether an occurrence ID is older than its entry could still
// be registered for: a conflict on it is not another scheduler's enqueue.
func (p *Provider) stale(taskID string, now time.Time) bool {
	o, ok := parseOccurrenceID(taskID)
	if !ok || o.at.IsZero() {
		return false
	}
	p.mu.Lock()
	cfg := p.last
	p.mu.Unlock()
	limit := p.timing.Grace
	if cfg != nil {
		for _, e := range cfg.Entries {
			if e.Name == o.entry {
				limit = max(limit, hold(e, o.at))
			}
		}
	}
	return now.Sub(o.at) > limit
}

// GetConfigs implements asynq.PeriodicTaskConfigProvider: one config per
// enabled entry and tenant.
func (p *Provider) GetConfigs() ([]*asynq.PeriodicTaskConfig, error) {
	cfg, err := p.refresh()
	if err != nil {
		return nil, err
	}
	tenants, err := p.refreshTenants()
	if err != nil {
		return nil, err
	}
	var out []*asynq.PeriodicTaskConfig
	for _, o := range p.upcoming(cfg, tenants, p.clock.Now()) {
		t, err := task.New(o.Entry.TaskType, tenantPayload(o.Tenant))
		if err != nil {
			// A tenant id the contract refuses: skip that tenant, not the
			// whole schedule, and say so at every sync until it is fixed.
			p.log.Error("occurrence not registered: invalid tenant", "entry", o.Entry.Name, "tenant", o.Tenant, "err", err)
			continue
		}
		opts, err := task.DefaultOptions(o.Entry.TaskType, nil)
		if err != nil {
			return nil, err
		}
		opts.TaskID = o.TaskID
		out = append(out, &asynq.PeriodicTaskConfig{Cronspec: o.Entry.Spec(), Task: t, Opts: opts.AsynqOptions()})
	}
	return out, nil
}

// tenantPayload is the payload of a scheduled task: {"tenantId": "<id>"},
// or {} without a tenant.
func tenantPayload(tenant string) []byte {
	if tenant == "" {
		return []byte("{}")
	}
	b, _ := json.Marshal(struct {
		TenantID string `json:"tenantId"`
	}{tenant}) // cannot fail: a struct of one string
	return b
}

// describe lists entries with their next run, for logs.
func describe(cfg Config, now time.Time) []string {
	var s []string
	for _, e := range cfg.Entries {
		s = append(s, fmt.Sprintf("%s %q -> %s next %s", e.Name, e.Spec(), e.TaskType, e.Next(now).Format(time.RFC3339)))
	}
	return s
}
