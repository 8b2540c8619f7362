package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// Entry names: the scheduler's periodic jobs.
const (
	EntryNightlyForecast    = "nightly-forecast"
	EntryAutoComplete       = "auto-complete-milestones"
	EntryMilestoneReminders = "milestone-reminders"
	EntryDigestSweep        = "digest-sweep"
)

// Definition is one periodic job the scheduler knows.
type Definition struct {
	// Name identifies the entry in configuration, logs, metrics and task IDs.
	Name string
	// TaskType is the task enqueued at each occurrence, with an empty
	// payload ({}) and the type's default options.
	TaskType string
	// DefaultCron is the cron expression used unless overridden.
	DefaultCron string
	// Env is the variable that overrides the cron expression ("off"
	// disables the entry).
	Env string
}

// Definitions returns the scheduler's entries with their defaults: the
// original scheduler's jobs, plus the digest sweep every 15 minutes (the
// notification worker's send-daily-digest handler sends each user the digest
// at 08:00 in the user's own time zone and is safe to run any number of times,
// so it must run often, not once at 08:00 server time).
func Definitions() []Definition {
	return []Definition{
		{EntryNightlyForecast, task.TypeUpdateAllCasesForecast, "0 3 * * *", "SCHEDULER_CRON_NIGHTLY_FORECAST"},
		{EntryAutoComplete, task.TypeAutoCompleteMilestones, "0 6 * * *", "SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES"},
		{EntryMilestoneReminders, task.TypeMilestoneDueNotifications, "0 6 * * *", "SCHEDULER_CRON_MILESTONE_REMINDERS"},
		{EntryDigestSweep, task.TypeSendDailyDigest, "*/15 * * * *", "SCHEDULER_CRON_DIGEST_SWEEP"},
	}
}

func lookupDefinition(name string) (Definition, bool) {
	for _, d := range Definitions() {
		if d.Name == name {
			return d, true
		}
	}
	return Definition{}, false
}

// Timing bounds how the per-occurrence task IDs are refreshed.
type Timing struct {
	// SyncInterval is how often the manager asks the provider for its
	// configs: it also bounds how late a changed configuration file is
	// picked up. Default 5s.
	SyncInterval time.Duration
	// Grace is how long after an occurrence the provider keeps returning
	// that occurrence's task ID, so that the entry is never re-registered
	// between its cron tick and its enqueue. Default 2s.
	Grace time.Duration
}

// WithDefaults fills the zero fields.
func (t Timing) WithDefaults() Timing {
	if t.SyncInterval <= 0 {
		t.SyncInterval = 5 * time.Second
	}
	if t.Grace <= 0 {
		t.Grace = 2 * time.Second
	}
	return t
}

// minGap is the shortest interval between two occurrences an entry may have:
// the ID of the next occurrence must be registered well before it fires.
func (t Timing) minGap() time.Duration { return 2 * (t.SyncInterval + t.Grace) }

// Overrides are the settings that come from the environment.
type Overrides struct {
	// TimeZone is SCHEDULER_TZ, an IANA name; empty means UTC.
	TimeZone string
	// Cron maps an entry name to the value of its variable (a cron
	// expression or "off"); empty values are ignored.
	Cron map[string]string
}

// OverridesFromEnv reads SCHEDULER_TZ and each entry's SCHEDULER_CRON_*.
func OverridesFromEnv(getenv func(string) string) Overrides {
	o := Overrides{TimeZone: strings.TrimSpace(getenv("SCHEDULER_TZ")), Cron: map[string]string{}}
	for _, d := range Definitions() {
		if v := strings.TrimSpace(getenv(d.Env)); v != "" {
			o.Cron[d.Name] = v
		}
	}
	return o
}

// Entry is one resolved, valid entry.
type Entry struct {
	Name     string
	TaskType string
	// Cron is the expression as configured, without the time zone.
	Cron string
	// Location is the time zone the expression is read in.
	Location *time.Location
	schedule cron.Schedule
}

// Spec is the cron spec registered with asynq: the expression prefixed with
// CRON_TZ=<zone>, so that a time zone change takes effect without a restart
// and shows in the dashboard.
func (e Entry) Spec() string {
	if strings.HasPrefix(e.Cron, "@every") {
		return e.Cron
	}
	return "CRON_TZ=" + e.Location.String() + " " + e.Cron
}

// Next returns the first occurrence strictly after t.
func (e Entry) Next(t time.Time) time.Time { return e.schedule.Next(t) }

// Config is the resolved scheduler configuration.
type Config struct {
	// Location is the default time zone (SCHEDULER_TZ or the file's).
	Location *time.Location
	// Entries are the enabled entries, in Definitions order.
	Entries []Entry
	// Disabled names the entries switched off.
	Disabled []string
}

// fileConfig is the SCHEDULER_CONFIG_FILE format (YAML, or JSON, which YAML
// reads too).
type fileConfig struct {
	TimeZone string               `yaml:"timezone"`
	Entries  map[string]fileEntry `yaml:"entries"`
}

type fileEntry struct {
	Cron     string `yaml:"cron"`
	TimeZone string `yaml:"timezone"`
	Disabled bool   `yaml:"disabled"`
}

// Resolve builds the configuration from the defaults, then the environment
// overrides, then the file (nil when there is none), which wins: the file is
// the part that can change while the scheduler runs. now anchors the check
// that occurrences are far enough apart for timing.
func Resolve(o Overrides, file []byte, timing Timing, now time.Time) (Config, error) {
	timing = timing.WithDefaults()
	var fc fileConfig
	if len(bytes.TrimSpace(file)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(file))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		for name := range fc.Entries {
			if _, ok := lookupDefinition(name); !ok {
				var names []string
				for _, d := range Definitions() {
					names = append(names, d.Name)
				}
				return Config{}, fmt.Errorf("config file: unknown entry %q (entries: %s)", name, strings.Join(names, ", "))
			}
		}
	}

	tz := "UTC"
	tzSource := "default"
	if o.TimeZone != "" {
		tz, tzSource = o.TimeZone, "SCHEDULER_TZ"
	}
	if fc.TimeZone != "" {
		tz, tzSource = fc.TimeZone, "config file timezone"
	}
	loc, err := loadLocation(tz)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", tzSource, err)
	}
	cfg := Config{Location: loc}
	for _, d := range Definitions() {
		spec, source := d.DefaultCron, "default"
		if v, ok := o.Cron[d.Name]; ok {
			spec, source = v, d.Env
		}
		eloc := loc
		fe, inFile := fc.Entries[d.Name]
		if inFile {
			if fe.Cron != "" {
				spec, source = fe.Cron, "config file entries."+d.Name+".cron"
			}
			if fe.TimeZone != "" {
				if eloc, err = loadLocation(fe.TimeZone); err != nil {
					return Config{}, fmt.Errorf("config file entries.%s.timezone: %w", d.Name, err)
				}
			}
		}
		spec = strings.TrimSpace(spec)
		if (inFile && fe.Disabled) || strings.EqualFold(spec, "off") {
			cfg.Disabled = append(cfg.Disabled, d.Name)
			continue
		}
		e, err := newEntry(d, spec, eloc, timing, now)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", source, err)
		}
		cfg.Entries = append(cfg.Entries, e)
	}
	return cfg, nil
}

func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New(`"Local" is ambiguous: name an IANA time zone such as UTC or Europe/Paris`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

func newEntry(d Definition, spec string, loc *time.Location, timing Timing, now time.Time) (Entry, error) {
	e := Entry{Name: d.Name, TaskType: d.TaskType, Cron: spec, Location: loc}
	switch {
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return Entry{}, fmt.Errorf("cron %q: set the time zone with SCHEDULER_TZ or timezone, not in the expression", spec)
	case strings.HasPrefix(spec, "@every") && spec != "@every 1s":
		// "@every 1h" counts from the scheduler's start, so two schedulers
		// would fire at different instants and both enqueue. Only whole
		// seconds are the same everywhere.
		return Entry{}, fmt.Errorf("cron %q: @every is not anchored to the clock (two schedulers would fire at different times); use a cron expression (\"@every 1s\" is accepted for tests)", spec)
	}
	sched, err := cron.ParseStandard(e.Spec())
	if err != nil {
		return Entry{}, fmt.Errorf("cron %q: %v", spec, err)
	}
	e.schedule = sched
	// Occurrences must be far enough apart for the next occurrence's task ID
	// to be registered before it fires.
	t := e.Next(now)
	for range 200 {
		n := e.Next(t)
		if n.IsZero() {
			break
		}
		if gap := n.Sub(t); gap < timing.minGap() {
			return Entry{}, fmt.Errorf("cron %q: occurrences %s apart; the scheduler needs at least %s (2 x (SCHEDULER_SYNC_INTERVAL + SCHEDULER_GRACE))", spec, gap, timing.minGap())
		}
		t = n
	}
	if t.IsZero() || e.Next(now).IsZero() {
		return Entry{}, fmt.Errorf("cron %q never fires", spec)
	}
	return e, nil
}

// OccurrenceID is the deterministic task ID of the occurrence of entry at
// time at: "schedule:<entry>:<at in UTC, RFC 3339>". The task ID of a
// tenant's occurrence is [TenantOccurrenceID].
func OccurrenceID(entry string, at time.Time) string {
	return "schedule:" + entry + ":" + at.UTC().Format(time.RFC3339)
}

// TenantOccurrenceID is the task ID of tenant's occurrence of entry at time
// at: task.TenantKey(tenant, OccurrenceID(entry, at)), that is
// "<tenant>:schedule:<entry>:<at>", or OccurrenceID's when tenant is "".
func TenantOccurrenceID(tenant, entry string, at time.Time) string {
	return task.TenantKey(tenant, OccurrenceID(entry, at))
}

// occurrence is what an ID made by [TenantOccurrenceID] says.
type occurrence struct {
	tenant, entry string
	at            time.Time
}

// parseOccurrenceID reads an ID made by [TenantOccurrenceID]. The tenant is
// everything before the last "schedule:" (entry names and RFC 3339 times
// never contain it), so a tenant id may contain colons.
func parseOccurrenceID(taskID string) (occurrence, bool) {
	i := strings.LastIndex(taskID, "schedule:")
	if i < 0 || (i > 0 && (i == 1 || taskID[i-1] != ':')) {
		return occurrence{}, false
	}
	var o occurrence
	if i > 0 {
		o.tenant = taskID[:i-1]
	}
	name, at, ok := strings.Cut(taskID[i+len("schedule:"):], ":")
	if !ok || name == "" {
		return occurrence{}, false
	}
	o.entry = name
	o.at, _ = time.Parse(time.RFC3339, at)
	return o, true
}

// EntryOf returns the entry name of an ID made by [OccurrenceID] or
// [TenantOccurrenceID].
func EntryOf(taskID string) (string, bool) {
	o, ok := parseOccurrenceID(taskID)
	return o.entry, ok
}

// TenantOf returns the tenant of an ID made by [TenantOccurrenceID] ("" for
// an ID without a tenant).
func TenantOf(taskID string) (string, bool) {
	o, ok := parseOccurrenceID(taskID)
	return o.tenant, ok
}

// occurrenceOf returns the occurrence time of an ID made by [OccurrenceID]
// or [TenantOccurrenceID].
func occurrenceOf(taskID string) (time.Time, bool) {
	o, ok := parseOccurrenceID(taskID)
	return o.at, ok && !o.at.IsZero()
}

// equal reports whether two configs schedule the same thing.
func (c Config) equal(o Config) bool {
	if c.Location.String() != o.Location.String() || !slices.Equal(c.Disabled, o.Disabled) || len(c.Entries) != len(o.Entries) {
		return false
	}
	for i := range c.Entries {
		if c.Entries[i].Name != o.Entries[i].Name || c.Entries[i].Spec() != o.Entries[i].Spec() {
			return false
		}
	}
	return true
}
