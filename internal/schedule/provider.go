package schedule

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Provider is the asynq.PeriodicTaskConfigProvider of the scheduler. On each
// call it re-reads the configuration file (so edits apply without a restart)
// and returns every enabled entry with the task ID of its upcoming
// occurrence.
type Provider struct {
	overrides Overrides
	file      string
	timing    Timing
	clock     worker.Clock
	log       *slog.Logger

	mu      sync.Mutex
	last    *Config // the last valid configuration
	lastErr string  // the last reported error, not to repeat it every sync
	pending map[string]registered
	firedAt map[string]time.Time
}

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
}

// NewProvider returns a provider. Call [Provider.Load] once to check the
// configuration before starting.
func NewProvider(o ProviderOptions) *Provider {
	p := &Provider{overrides: o.Overrides, file: o.File, timing: o.Timing.WithDefaults(), clock: o.Clock, log: o.Logger,
		pending: map[string]registered{}, firedAt: map[string]time.Time{}}
	if p.clock == nil {
		p.clock = worker.SystemClock{}
	}
	if p.log == nil {
		p.log = slog.Default()
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

// Occurrence is an entry's upcoming occurrence as registered with asynq.
type Occurrence struct {
	Entry Entry
	// At is the occurrence's time.
	At time.Time
	// TaskID is OccurrenceID(Entry.Name, At).
	TaskID string
}

// registered is the occurrence an entry was last registered for.
type registered struct {
	spec string
	at   time.Time
}

// upcoming returns the occurrence each entry of cfg is to be registered for
// at now: the first one after now minus the grace period, so that an
// occurrence's ID stays registered for Grace after its tick. If an entry's
// tick has not been seen yet (a stalled or CPU-throttled process fires
// late), its occurrence is kept up to half the interval to the next one,
// rather than replaced before it fires.
func (p *Provider) upcoming(cfg Config, now time.Time) []Occurrence {
	p.mu.Lock()
	defer p.mu.Unlock()
	occ := make([]Occurrence, 0, len(cfg.Entries))
	for _, e := range cfg.Entries {
		at := e.Next(now.Add(-p.timing.Grace))
		if prev, ok := p.pending[e.Name]; ok && prev.spec == e.Spec() && prev.at.Before(at) &&
			!p.firedAt[e.Name].Equal(prev.at) && now.Before(prev.at.Add(hold(e, prev.at))) {
			at = prev.at
		}
		p.pending[e.Name] = registered{spec: e.Spec(), at: at}
		occ = append(occ, Occurrence{Entry: e, At: at, TaskID: OccurrenceID(e.Name, at)})
	}
	return occ
}

// hold is how long after occurrence at its ID may stay registered: half the
// interval to the next occurrence, which leaves the other half (at least
// SyncInterval + Grace, see Timing) to register the next one.
func hold(e Entry, at time.Time) time.Duration { return e.Next(at).Sub(at) / 2 }

// fired records that the entry of the occurrence ID fired (whatever the
// enqueue's outcome), so that the next sync moves it to its next occurrence.
func (p *Provider) fired(taskID string) {
	name, ok := EntryOf(taskID)
	at, ok2 := occurrenceOf(taskID)
	if !ok || !ok2 {
		return
	}
	p.mu.Lock()
	p.firedAt[name] = at
	p.mu.Unlock()
}

// stale reports whether an occurrence ID is older than its entry could still
// be registered for: a conflict on it is not another scheduler's enqueue.
func (p *Provider) stale(taskID string, now time.Time) bool {
	name, ok := EntryOf(taskID)
	at, ok2 := occurrenceOf(taskID)
	if !ok || !ok2 {
		return false
	}
	p.mu.Lock()
	cfg := p.last
	p.mu.Unlock()
	limit := p.timing.Grace
	if cfg != nil {
		for _, e := range cfg.Entries {
			if e.Name == name {
				limit = max(limit, hold(e, at))
			}
		}
	}
	return now.Sub(at) > limit
}

// GetConfigs implements asynq.PeriodicTaskConfigProvider.
func (p *Provider) GetConfigs() ([]*asynq.PeriodicTaskConfig, error) {
	cfg, err := p.refresh()
	if err != nil {
		return nil, err
	}
	var out []*asynq.PeriodicTaskConfig
	for _, o := range p.upcoming(cfg, p.clock.Now()) {
		opts, err := task.DefaultOptions(o.Entry.TaskType, nil)
		if err != nil {
			return nil, err
		}
		opts.TaskID = o.TaskID
		out = append(out, &asynq.PeriodicTaskConfig{
			Cronspec: o.Entry.Spec(),
			Task:     asynq.NewTask(o.Entry.TaskType, []byte("{}")),
			Opts:     opts.AsynqOptions(),
		})
	}
	return out, nil
}

// describe lists entries with their next run, for logs.
func describe(cfg Config, now time.Time) []string {
	var s []string
	for _, e := range cfg.Entries {
		s = append(s, fmt.Sprintf("%s %q -> %s next %s", e.Name, e.Spec(), e.TaskType, e.Next(now).Format(time.RFC3339)))
	}
	return s
}
