package schedule

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/pkg/task"
)

var ref = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestResolveDefaults(t *testing.T) {
	cfg, err := Resolve(Overrides{}, nil, Timing{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		EntryNightlyForecast:    "CRON_TZ=UTC 0 3 * * *",
		EntryAutoComplete:       "CRON_TZ=UTC 0 6 * * *",
		EntryMilestoneReminders: "CRON_TZ=UTC 0 6 * * *",
		EntryDigestSweep:        "CRON_TZ=UTC */15 * * * *",
	}
	if len(cfg.Entries) != len(want) {
		t.Fatalf("entries %d, want %d", len(cfg.Entries), len(want))
	}
	for _, e := range cfg.Entries {
		if e.Spec() != want[e.Name] {
			t.Errorf("%s: spec %q, want %q", e.Name, e.Spec(), want[e.Name])
		}
	}
	if cfg.Entries[0].TaskType != task.TypeUpdateAllCasesForecast || cfg.Entries[3].TaskType != task.TypeSendDailyDigest {
		t.Errorf("task types %s, %s", cfg.Entries[0].TaskType, cfg.Entries[3].TaskType)
	}
}

func TestResolveOverridesAndFile(t *testing.T) {
	env := map[string]string{
		"SCHEDULER_TZ":                       "Europe/Paris",
		"SCHEDULER_CRON_NIGHTLY_FORECAST":    "30 2 * * *",
		"SCHEDULER_CRON_MILESTONE_REMINDERS": "off",
	}
	o := OverridesFromEnv(func(k string) string { return env[k] })
	cfg, err := Resolve(o, nil, Timing{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := specs(cfg); got != "nightly-forecast=CRON_TZ=Europe/Paris 30 2 * * *;auto-complete-milestones=CRON_TZ=Europe/Paris 0 6 * * *;digest-sweep=CRON_TZ=Europe/Paris */15 * * * *" {
		t.Errorf("env: %s", got)
	}
	if len(cfg.Disabled) != 1 || cfg.Disabled[0] != EntryMilestoneReminders {
		t.Errorf("disabled %v", cfg.Disabled)
	}
	// The file wins over the environment, and can set a zone per entry.
	file := `
timezone: America/New_York
entries:
  nightly-forecast: {cron: "0 1 * * *"}
  milestone-reminders: {cron: "0 7 * * 1-5", timezone: Asia/Tokyo}
  digest-sweep: {disabled: true}
`
	cfg, err = Resolve(o, []byte(file), Timing{}, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := specs(cfg); got != "nightly-forecast=CRON_TZ=America/New_York 0 1 * * *;auto-complete-milestones=CRON_TZ=America/New_York 0 6 * * *;milestone-reminders=CRON_TZ=Asia/Tokyo 0 7 * * 1-5" {
		t.Errorf("file: %s", got)
	}
	// JSON is YAML too.
	cfg, err = Resolve(Overrides{}, []byte(`{"entries":{"digest-sweep":{"cron":"*/5 * * * *"}}}`), Timing{}, ref)
	if err != nil || cfg.Entries[3].Spec() != "CRON_TZ=UTC */5 * * * *" {
		t.Errorf("json: %+v %v", cfg.Entries, err)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"bad zone", map[string]string{"SCHEDULER_TZ": "Mars/Olympus"}, "", `SCHEDULER_TZ: unknown time zone "Mars/Olympus"`},
		{"bad cron", map[string]string{"SCHEDULER_CRON_DIGEST_SWEEP": "every day"}, "", `SCHEDULER_CRON_DIGEST_SWEEP: cron "every day"`},
		{"zone in spec", map[string]string{"SCHEDULER_CRON_DIGEST_SWEEP": "CRON_TZ=UTC * * * * *"}, "", "set the time zone with SCHEDULER_TZ"},
		{"unanchored every", map[string]string{"SCHEDULER_CRON_NIGHTLY_FORECAST": "@every 24h"}, "", "@every is not anchored to the clock"},
		{"too frequent", nil, `entries: {digest-sweep: {cron: "* * * * *"}}`, "occurrences 1m0s apart; the scheduler needs at least 1m20s"},
		{"unknown entry", nil, `entries: {nightly-forcast: {cron: "0 3 * * *"}}`, `unknown entry "nightly-forcast"`},
		{"unknown field", nil, `entries: {digest-sweep: {schedule: "0 3 * * *"}}`, "field schedule not found"},
		{"bad file zone", nil, `entries: {digest-sweep: {timezone: Nowhere}}`, `entries.digest-sweep.timezone: unknown time zone "Nowhere"`},
		{"not yaml", nil, "entries: [", "config file:"},
		{"never fires", map[string]string{"SCHEDULER_CRON_NIGHTLY_FORECAST": "0 0 30 2 *"}, "", "never fires"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := OverridesFromEnv(func(k string) string { return tt.env[k] })
			timing := Timing{}
			if tt.name == "too frequent" {
				timing = Timing{SyncInterval: 30 * time.Second, Grace: 10 * time.Second}
			}
			_, err := Resolve(o, []byte(tt.file), timing, ref)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// One second is the one @every accepted: it is the same on every host.
	if _, err := Resolve(Overrides{Cron: map[string]string{EntryDigestSweep: "@every 1s"}}, nil, Timing{SyncInterval: 100 * time.Millisecond, Grace: 300 * time.Millisecond}, ref); err != nil {
		t.Fatal(err)
	}
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func TestOccurrenceIDsFollowTheTicks(t *testing.T) {
	clock := &fixedClock{}
	p := NewProvider(ProviderOptions{
		Overrides: Overrides{TimeZone: "Europe/Paris", Cron: map[string]string{EntryAutoComplete: "off", EntryMilestoneReminders: "off", EntryDigestSweep: "off"}},
		Clock:     clock,
	})
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tt := range []struct {
		now   time.Time
		fired string // an occurrence whose tick the scheduler saw before now
		want  string
	}{
		{now: time.Date(2026, 11, 26, 2, 59, 59, 0, paris), want: "schedule:nightly-forecast:2026-11-26T02:00:00Z"},
		{now: time.Date(2026, 11, 26, 3, 0, 0, 0, paris), want: "schedule:nightly-forecast:2026-11-26T02:00:00Z"},
		{now: time.Date(2026, 11, 26, 3, 0, 1, 900_000_000, paris), want: "schedule:nightly-forecast:2026-11-26T02:00:00Z"},
		// Past the grace, but the tick has not been seen (a late fire):
		// the occurrence is held.
		{now: time.Date(2026, 11, 26, 3, 0, 30, 0, paris), want: "schedule:nightly-forecast:2026-11-26T02:00:00Z"},
		// Once it fired, the next occurrence's ID is registered.
		{now: time.Date(2026, 11, 26, 3, 0, 31, 0, paris), fired: "schedule:nightly-forecast:2026-11-26T02:00:00Z", want: "schedule:nightly-forecast:2026-11-27T02:00:00Z"},
		{now: time.Date(2026, 11, 27, 3, 0, 1, 0, paris), want: "schedule:nightly-forecast:2026-11-27T02:00:00Z"},
		// Never fired: held for half the interval (12 h), then replaced.
		{now: time.Date(2026, 11, 27, 14, 59, 59, 0, paris), want: "schedule:nightly-forecast:2026-11-27T02:00:00Z"},
		{now: time.Date(2026, 11, 27, 15, 0, 1, 0, paris), want: "schedule:nightly-forecast:2026-11-28T02:00:00Z"},
		// Summer time: 03:00 in Paris is 01:00 UTC.
		{now: time.Date(2026, 7, 1, 12, 0, 0, 0, paris), want: "schedule:nightly-forecast:2026-07-02T01:00:00Z"},
	} {
		clock.t = tt.now
		if tt.fired != "" {
			p.fired(tt.fired)
		}
		configs, err := p.GetConfigs()
		if err != nil {
			t.Fatal(err)
		}
		if len(configs) != 1 {
			t.Fatalf("%d configs", len(configs))
		}
		var id string
		for _, o := range configs[0].Opts {
			if o.Type() == asynqTaskIDOpt {
				id = o.Value().(string)
			}
		}
		if id != tt.want {
			t.Errorf("at %s: task ID %q, want %q", tt.now, id, tt.want)
		}
		if configs[0].Cronspec != "CRON_TZ=Europe/Paris 0 3 * * *" || configs[0].Task.Type() != task.TypeUpdateAllCasesForecast {
			t.Errorf("config %q %s", configs[0].Cronspec, configs[0].Task.Type())
		}
	}
	if name, ok := EntryOf("schedule:nightly-forecast:2026-11-27T02:00:00Z"); !ok || name != EntryNightlyForecast {
		t.Errorf("EntryOf = %q %v", name, ok)
	}
	if at, ok := occurrenceOf("schedule:nightly-forecast:2026-11-27T02:00:00Z"); !ok || !at.Equal(time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("occurrenceOf = %s %v", at, ok)
	}
	if _, ok := EntryOf("email:notification:1"); ok {
		t.Error("EntryOf accepted a foreign ID")
	}
}

func specs(cfg Config) string {
	var s []string
	for _, e := range cfg.Entries {
		s = append(s, e.Name+"="+e.Spec())
	}
	return strings.Join(s, ";")
}

func TestAChangedSpecIsNotHeldToTheOldOccurrence(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 11, 26, 2, 59, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "s.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("entries: {nightly-forecast: {cron: \"0 3 * * *\"}, auto-complete-milestones: {disabled: true}, milestone-reminders: {disabled: true}, digest-sweep: {disabled: true}}")
	p := NewProvider(ProviderOptions{File: file, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	id := func() string {
		t.Helper()
		configs, err := p.GetConfigs()
		if err != nil || len(configs) != 1 {
			t.Fatalf("%d configs, %v", len(configs), err)
		}
		for _, o := range configs[0].Opts {
			if o.Type() == asynqTaskIDOpt {
				return o.Value().(string)
			}
		}
		return ""
	}
	if got := id(); got != "schedule:nightly-forecast:2026-11-26T03:00:00Z" {
		t.Fatal(got)
	}
	write("entries: {nightly-forecast: {cron: \"0 4 * * *\"}, auto-complete-milestones: {disabled: true}, milestone-reminders: {disabled: true}, digest-sweep: {disabled: true}}")
	clock.t = time.Date(2026, 11, 26, 3, 0, 30, 0, time.UTC)
	if got := id(); got != "schedule:nightly-forecast:2026-11-26T04:00:00Z" {
		t.Fatalf("after the change: %s", got)
	}
}

func TestOccurrenceIDsPerTenant(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 11, 26, 2, 59, 0, 0, time.UTC)}
	tenants := []string{"globex", "acme"}
	var log syncBuffer
	p := NewProvider(ProviderOptions{
		Overrides: Overrides{Cron: map[string]string{EntryAutoComplete: "off", EntryMilestoneReminders: "off", EntryDigestSweep: "off"}},
		Clock:     clock,
		Logger:    slog.New(slog.NewTextHandler(&log, nil)),
		Tenants:   func() ([]string, error) { return tenants, nil },
	})
	configs := func() map[string]string { // task ID -> payload
		t.Helper()
		cs, err := p.GetConfigs()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, c := range cs {
			for _, o := range c.Opts {
				if o.Type() == asynqTaskIDOpt {
					m[o.Value().(string)] = string(c.Task.Payload())
				}
			}
		}
		return m
	}
	want := map[string]string{
		"acme:schedule:nightly-forecast:2026-11-26T03:00:00Z":   `{"tenantId":"acme"}`,
		"globex:schedule:nightly-forecast:2026-11-26T03:00:00Z": `{"tenantId":"globex"}`,
	}
	if got := configs(); !maps.Equal(got, want) {
		t.Fatalf("configs %v, want %v", got, want)
	}
	// Only the tenant whose occurrence fired moves on to the next one.
	clock.t = time.Date(2026, 11, 26, 3, 0, 30, 0, time.UTC)
	p.fired("acme:schedule:nightly-forecast:2026-11-26T03:00:00Z")
	want = map[string]string{
		"acme:schedule:nightly-forecast:2026-11-27T03:00:00Z":   `{"tenantId":"acme"}`,
		"globex:schedule:nightly-forecast:2026-11-26T03:00:00Z": `{"tenantId":"globex"}`,
	}
	if got := configs(); !maps.Equal(got, want) {
		t.Fatalf("after acme fired: %v, want %v", got, want)
	}
	// A tenant added to the configuration is registered at the next sync; a
	// removed one is dropped.
	tenants = []string{"acme", "initech"}
	got := configs()
	if _, ok := got["initech:schedule:nightly-forecast:2026-11-27T03:00:00Z"]; !ok || len(got) != 2 {
		t.Fatalf("after the tenant change: %v", got)
	}
	if !strings.Contains(log.String(), `msg="scheduler tenants changed" tenants="[acme initech]" added=[initech] removed=[globex]`) {
		t.Errorf("log:\n%s", log.String())
	}
	// Single-tenant: the instance's id, or no tenant at all.
	for _, tt := range []struct{ tenant, id, payload string }{
		{"", "schedule:nightly-forecast:2026-11-27T03:00:00Z", `{}`},
		{"acme", "acme:schedule:nightly-forecast:2026-11-27T03:00:00Z", `{"tenantId":"acme"}`},
	} {
		tenants = []string{tt.tenant}
		if got := configs(); len(got) != 1 || got[tt.id] != tt.payload {
			t.Errorf("tenant %q: %v", tt.tenant, got)
		}
	}
}

func TestParseOccurrenceID(t *testing.T) {
	at := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		id     string
		ok     bool
		tenant string
	}{
		{"schedule:nightly-forecast:2026-11-27T02:00:00Z", true, ""},
		{"acme:schedule:nightly-forecast:2026-11-27T02:00:00Z", true, "acme"},
		{"eu:acme:schedule:nightly-forecast:2026-11-27T02:00:00Z", true, "eu:acme"},
		{"schedule:schedule:nightly-forecast:2026-11-27T02:00:00Z", true, "schedule"},
		{"acmeschedule:nightly-forecast:2026-11-27T02:00:00Z", false, ""},
		{":schedule:nightly-forecast:2026-11-27T02:00:00Z", false, ""},
		{"acme:email:notification:1", false, ""},
		{"schedule:", false, ""},
	} {
		o, ok := parseOccurrenceID(tt.id)
		if ok != tt.ok || ok && (o.tenant != tt.tenant || o.entry != EntryNightlyForecast || !o.at.Equal(at)) {
			t.Errorf("%q: %+v %v", tt.id, o, ok)
		}
		if ok && TenantOccurrenceID(o.tenant, o.entry, o.at) != tt.id {
			t.Errorf("%q does not round-trip", tt.id)
		}
	}
}
