package schedule

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// fast is the timing of the tests: a one-second cron needs occurrences IDs
// refreshed within a second.
var fast = Timing{SyncInterval: 100 * time.Millisecond, Grace: 400 * time.Millisecond}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startScheduler(t *testing.T, opt asynq.RedisConnOpt, o Overrides, file string, log *syncBuffer) (*Scheduler, *prometheus.Registry) {
	t.Helper()
	return startWith(t, opt, ProviderOptions{Overrides: o, File: file}, log)
}

// startWith starts a scheduler whose provider has po, with the fast timing
// and a logger writing to log.
func startWith(t *testing.T, opt asynq.RedisConnOpt, po ProviderOptions, log *syncBuffer) (*Scheduler, *prometheus.Registry) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(log, nil))
	reg := prometheus.NewRegistry()
	po.Timing, po.Logger = fast, logger
	p := NewProvider(po)
	s, err := New(Options{Redis: opt, Provider: p, Timing: fast, HeartbeatInterval: 200 * time.Millisecond, Logger: logger, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func counter(t *testing.T, s *Scheduler, which string, entry string) float64 {
	t.Helper()
	switch which {
	case "enqueued":
		return testutil.ToFloat64(s.enqueued.WithLabelValues(entry))
	case "already":
		return testutil.ToFloat64(s.already.WithLabelValues(entry))
	default:
		return testutil.ToFloat64(s.failed.WithLabelValues(entry))
	}
}

func onlyDigestEverySecond() Overrides {
	return Overrides{Cron: map[string]string{
		EntryNightlyForecast: "off", EntryAutoComplete: "off", EntryMilestoneReminders: "off",
		EntryDigestSweep: "@every 1s",
	}}
}

func TestTwoSchedulersEnqueueEachOccurrenceOnce(t *testing.T) {
	opt, _ := testenv.Redis(t)
	insp := asynq.NewInspector(opt)
	defer insp.Close()

	var logA, logB syncBuffer
	a, _ := startScheduler(t, opt, onlyDigestEverySecond(), "", &logA)
	b, _ := startScheduler(t, opt, onlyDigestEverySecond(), "", &logB)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			a.Shutdown()
			b.Shutdown()
		}
	}
	defer stop()

	// Both schedulers fire every second; wait for both to have lost the race
	// at least twice, that is several occurrences seen by both.
	testenv.Eventually(t, 15*time.Second, func() bool {
		return counter(t, a, "already", EntryDigestSweep) >= 2 && counter(t, b, "already", EntryDigestSweep) >= 2
	}, "both schedulers to meet occurrences already enqueued by the other")
	stop()

	tasks, err := insp.ListPendingTasks(task.QueueNotifications, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := task.DefaultOptions(task.TypeSendDailyDigest, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range tasks {
		if ti.Type != task.TypeSendDailyDigest {
			t.Errorf("unexpected task type %s", ti.Type)
		}
		if task.FailureRetries(ti.MaxRetry) != defaults.MaxRetry || ti.Retention != defaults.Retention || ti.Timeout != defaults.Timeout {
			t.Errorf("task %s: MaxRetry %d Retention %s Timeout %s, want the type's defaults %+v", ti.ID, ti.MaxRetry, ti.Retention, ti.Timeout, defaults)
		}
		ids = append(ids, ti.ID)
	}
	slices.Sort(ids)
	// One task per occurrence, and no occurrence skipped: consecutive seconds.
	first, err := time.Parse(time.RFC3339, strings.TrimPrefix(ids[0], "schedule:digest-sweep:"))
	if err != nil {
		t.Fatalf("task ID %q: %v", ids[0], err)
	}
	for i, id := range ids {
		if want := OccurrenceID(EntryDigestSweep, first.Add(time.Duration(i)*time.Second)); id != want {
			t.Fatalf("task %d is %s, want %s (all: %v)", i, id, want, ids)
		}
	}
	enq := counter(t, a, "enqueued", EntryDigestSweep) + counter(t, b, "enqueued", EntryDigestSweep)
	already := counter(t, a, "already", EntryDigestSweep) + counter(t, b, "already", EntryDigestSweep)
	if int(enq) != len(ids) {
		t.Errorf("schedulers report %v enqueued, the queue holds %d", enq, len(ids))
	}
	// Every occurrence both saw was enqueued by exactly one of them.
	if already < 4 || already > enq {
		t.Errorf("already enqueued %v, enqueued %v", already, enq)
	}
	if f := counter(t, a, "failed", EntryDigestSweep) + counter(t, b, "failed", EntryDigestSweep); f != 0 {
		t.Errorf("%v enqueue errors; logs:\n%s\n%s", f, logA.String(), logB.String())
	}
	if !strings.Contains(logA.String()+logB.String(), "occurrence already enqueued (by another scheduler)") {
		t.Error("no log line for the lost race")
	}
}

func TestConfigFileIsReloadedWithoutRestart(t *testing.T) {
	opt, _ := testenv.Redis(t)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	file := filepath.Join(t.TempDir(), "schedule.yaml")
	write := func(s string) {
		t.Helper()
		// Write then rename, as an editor or a ConfigMap update does.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("entries:\n  digest-sweep: {disabled: true}\n")
	var log syncBuffer
	s, _ := startScheduler(t, opt, Overrides{}, file, &log)
	defer s.Shutdown()

	entries := func() map[string]string {
		es, err := insp.SchedulerEntries()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, e := range es {
			m[e.Task.Type()] = e.Spec
		}
		return m
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		m := entries()
		return len(m) == 3 && m[task.TypeUpdateAllCasesForecast] == "CRON_TZ=UTC 0 3 * * *"
	}, "the three entries of the first file in the dashboard's view")
	if _, ok := entries()[task.TypeSendDailyDigest]; ok {
		t.Fatal("the disabled digest sweep is registered")
	}

	write("timezone: Europe/Paris\nentries:\n  nightly-forecast: {cron: \"0 4 * * *\"}\n  milestone-reminders: {disabled: true}\n")
	testenv.Eventually(t, 5*time.Second, func() bool {
		m := entries()
		_, reminders := m[task.TypeMilestoneDueNotifications]
		return m[task.TypeUpdateAllCasesForecast] == "CRON_TZ=Europe/Paris 0 4 * * *" &&
			m[task.TypeSendDailyDigest] == "CRON_TZ=Europe/Paris */15 * * * *" && !reminders
	}, "the new file's entries")
	if !strings.Contains(log.String(), "scheduler configuration reloaded") {
		t.Errorf("no reload log line:\n%s", log.String())
	}

	// A broken file keeps the last good configuration and says why, once.
	write("entries:\n  nightly-forecast: {cron: \"61 4 * * *\"}\n")
	testenv.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(log.String(), "scheduler configuration invalid; keeping the previous one")
	}, "the invalid file reported")
	if m := entries(); m[task.TypeUpdateAllCasesForecast] != "CRON_TZ=Europe/Paris 0 4 * * *" {
		t.Errorf("entries after a broken file: %v", m)
	}
	if n := strings.Count(log.String(), "keeping the previous one"); n != 1 {
		t.Errorf("the invalid file was reported %d times", n)
	}
}

func TestStartRefusesAnInvalidConfiguration(t *testing.T) {
	opt, _ := testenv.Redis(t)
	p := NewProvider(ProviderOptions{File: filepath.Join(t.TempDir(), "missing.yaml")})
	s, err := New(Options{Redis: opt, Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), "SCHEDULER_CONFIG_FILE:") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err %v", err)
	}
}

func TestHistoriesOfReplacedEntriesArePruned(t *testing.T) {
	opt, _ := testenv.Redis(t)
	rc := testenv.RedisClient(t, opt)
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	p := NewProvider(ProviderOptions{Overrides: onlyDigestEverySecond(), Timing: fast, Logger: logger})
	s, err := New(Options{Redis: opt, Provider: p, Timing: fast, HeartbeatInterval: 200 * time.Millisecond,
		Logger: logger, HistoryPruneInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	histories := func() int {
		keys, err := rc.Keys(t.Context(), historyKeyPrefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	// Each occurrence is enqueued by a new entry and leaves that entry's
	// history; four occurrences would leave four keys without pruning.
	testenv.Eventually(t, 10*time.Second, func() bool { return counter(t, s, "enqueued", EntryDigestSweep) >= 4 }, "four occurrences")
	testenv.Eventually(t, 5*time.Second, func() bool { return histories() <= 1 }, "the histories of replaced entries pruned")
	if strings.Contains(log.String(), "cannot prune") {
		t.Errorf("prune errors:\n%s", log.String())
	}
}

func TestConflictOnAStaleIDIsAnError(t *testing.T) {
	opt, _ := testenv.Redis(t)
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	s, err := New(Options{Redis: opt, Provider: NewProvider(ProviderOptions{Timing: fast}), Timing: fast, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	tk := asynq.NewTask(task.TypeSendDailyDigest, []byte("{}"))
	fresh := OccurrenceID(EntryDigestSweep, time.Now().Add(time.Second)) // IDs have whole seconds: not in the past
	stale := OccurrenceID(EntryDigestSweep, time.Now().Add(-15*time.Minute).Truncate(time.Second))
	s.enqueueError(tk, []asynq.Option{asynq.Queue(task.QueueNotifications), asynq.TaskID(fresh)}, asynq.ErrTaskIDConflict)
	s.enqueueError(tk, []asynq.Option{asynq.TaskID(stale)}, asynq.ErrTaskIDConflict)
	if a, f := counter(t, s, "already", EntryDigestSweep), counter(t, s, "failed", EntryDigestSweep); a != 1 || f != 1 {
		t.Fatalf("already %v failed %v, want 1 and 1", a, f)
	}
	if !strings.Contains(log.String(), "its task ID is stale") {
		t.Errorf("log:\n%s", log.String())
	}
}

// tenantIDs returns the tenant list of a multi-tenant configuration with
// the given tenants, as the scheduler's command builds it.
func tenantIDs(t *testing.T, ids ...string) func() ([]string, error) {
	t.Helper()
	inline := map[string]tenant.Config{}
	for _, id := range ids {
		inline[id] = tenant.Config{DatabaseURL: "postgres://127.0.0.1:5432/" + id}
	}
	r, err := tenant.NewResolver(tenant.Settings{MultiTenant: true, File: filepath.Join(t.TempDir(), "none.json"), Inline: inline}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r.IDs
}

func TestTwoSchedulersEnqueueEachTenantsOccurrenceOnce(t *testing.T) {
	opt, _ := testenv.Redis(t)
	insp := asynq.NewInspector(opt)
	defer insp.Close()

	var logA, logB syncBuffer
	po := func() ProviderOptions {
		return ProviderOptions{Overrides: onlyDigestEverySecond(), Tenants: tenantIDs(t, "acme", "globex")}
	}
	a, _ := startWith(t, opt, po(), &logA)
	b, _ := startWith(t, opt, po(), &logB)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			a.Shutdown()
			b.Shutdown()
		}
	}
	defer stop()

	// Two tenants, one entry: two occurrences a second, each enqueued by one
	// scheduler and met as already enqueued by the other.
	testenv.Eventually(t, 15*time.Second, func() bool {
		return counter(t, a, "already", EntryDigestSweep) >= 4 && counter(t, b, "already", EntryDigestSweep) >= 4
	}, "both schedulers to meet occurrences already enqueued by the other")
	stop()

	tasks, err := insp.ListPendingTasks(task.QueueNotifications, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	byTenant := map[string][]string{}
	for _, ti := range tasks {
		tid, ok := TenantOf(ti.ID)
		if !ok {
			t.Fatalf("task ID %q is not an occurrence's", ti.ID)
		}
		if want := `{"tenantId":"` + tid + `"}`; string(ti.Payload) != want {
			t.Errorf("task %s: payload %s, want %s", ti.ID, ti.Payload, want)
		}
		byTenant[tid] = append(byTenant[tid], ti.ID)
	}
	if len(byTenant) != 2 || len(byTenant["acme"]) < 2 || len(byTenant["globex"]) < 2 {
		t.Fatalf("tasks by tenant: %v", byTenant)
	}
	for tid, ids := range byTenant {
		slices.Sort(ids)
		// One task per occurrence and tenant, none skipped: consecutive seconds.
		first, err := time.Parse(time.RFC3339, strings.TrimPrefix(ids[0], tid+":schedule:digest-sweep:"))
		if err != nil {
			t.Fatalf("task ID %q: %v", ids[0], err)
		}
		for i, id := range ids {
			if want := TenantOccurrenceID(tid, EntryDigestSweep, first.Add(time.Duration(i)*time.Second)); id != want {
				t.Fatalf("%s: task %d is %s, want %s (all: %v)", tid, i, id, want, ids)
			}
		}
	}
	enq := counter(t, a, "enqueued", EntryDigestSweep) + counter(t, b, "enqueued", EntryDigestSweep)
	if int(enq) != len(tasks) {
		t.Errorf("schedulers report %v enqueued, the queue holds %d", enq, len(tasks))
	}
	if f := counter(t, a, "failed", EntryDigestSweep) + counter(t, b, "failed", EntryDigestSweep); f != 0 {
		t.Errorf("%v enqueue errors; logs:\n%s\n%s", f, logA.String(), logB.String())
	}
	if !strings.Contains(logA.String()+logB.String(), "tenant=globex") {
		t.Error("no log line names the tenant")
	}
}
