package forecast_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// now is the fixed clock of the milestone tests: 06:00 UTC, when the
// scheduler runs both milestone jobs.
var now = time.Date(2026, 3, 10, 6, 0, 0, 0, time.UTC)

func (f *fixture) milestone(name string, due any, notifyDaysBefore int, auto, completed, deleted bool, creator string) int {
	f.t.Helper()
	return f.id(`INSERT INTO "Milestones" ("projectId", "milestoneTypesId", name, "completedAt", "notifyDaysBefore",
		"automaticCompletion", "isCompleted", "isDeleted", "createdBy")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		f.base.Project, f.base.MilestoneType, name, due, notifyDaysBefore, auto, completed, deleted, creator)
}

func TestDueStatusFollowsTheOriginalRounding(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		due         time.Time
		notify      int
		days        int
		overdue, ok bool
	}{
		{now.Add(42 * time.Hour), 5, 2, false, true},    // 1.75 days ahead: ceil -> 2
		{now.Add(42 * time.Hour), 1, 2, false, false},   // not yet
		{now, 1, 0, false, true},                        // due this instant
		{now.Add(-time.Millisecond), 1, -1, true, true}, // just passed: floor -> -1
		{now.Add(-42 * time.Hour), 1, -2, true, true},   // overdue
		{now.Add(10 * 24 * time.Hour), 3, 10, false, false},
	} {
		days, overdue, ok := forecast.DueStatus(now, c.due, c.notify)
		if days != c.days || overdue != c.overdue || ok != c.ok {
			t.Errorf("due %s notify %d: got %d %v %v, want %d %v %v", c.due, c.notify, days, overdue, ok, c.days, c.overdue, c.ok)
		}
	}
}

func TestAutoCompleteMilestones(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.base.Admin()
	overdue := f.milestone("overdue", now.Add(-42*time.Hour), 0, true, false, false, admin)
	dueNow := f.milestone("due now", now, 0, true, false, false, admin)
	f.milestone("not yet", now.Add(time.Hour), 0, true, false, false, admin)
	f.milestone("manual completion", now.Add(-time.Hour), 0, false, false, false, admin)
	f.milestone("deleted", now.Add(-time.Hour), 0, true, false, true, admin)
	f.milestone("already completed", now.Add(-time.Hour), 0, true, true, false, admin)
	f.milestone("no due date", nil, 0, true, false, false, admin)

	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Clock: &fixedClock{now}}
	ids, err := m.AutoComplete(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{overdue, dueNow}; !slices.Equal(ids, want) {
		t.Fatalf("completed %v, want %v", ids, want)
	}
	var due time.Time
	if err := f.pool.QueryRow(f.ctx, `SELECT "completedAt" FROM "Milestones" WHERE id = $1 AND "isCompleted"`, overdue).Scan(&due); err != nil || !due.Equal(now.Add(-42*time.Hour)) {
		t.Errorf("completedAt must be kept: %v %v", due, err)
	}
	if ids, err := m.AutoComplete(f.ctx); err != nil || len(ids) != 0 {
		t.Errorf("second pass: %v %v", ids, err)
	}
}

// reminderWorld holds three due milestones and the people around them.
type reminderWorld struct {
	soon, overdue, dueNow int
	admin, alice, bob     string
}

func buildReminders(f *fixture) reminderWorld {
	w := reminderWorld{admin: f.base.Admin(), alice: f.user("alice@example.com"), bob: f.user("bob@example.com")}
	carol := f.user("carol@example.com")
	w.soon = f.milestone("Release 1.0", now.Add(42*time.Hour), 5, false, false, false, w.admin)
	w.overdue = f.milestone("Sprint 7", now.Add(-42*time.Hour), 1, false, false, false, w.admin)
	w.dueNow = f.milestone("Beta", now, 2, false, false, false, w.bob)
	f.milestone("later", now.Add(10*24*time.Hour), 3, false, false, false, carol)
	f.milestone("no reminders", now.Add(-time.Hour), 0, false, false, false, carol)
	f.milestone("completed", now.Add(-time.Hour), 3, false, true, false, carol)
	f.milestone("deleted", now.Add(-time.Hour), 3, false, false, true, carol)

	// Around "Release 1.0": a run by alice with a case assigned to bob and a
	// result executed by admin; a session by alice assigned to bob. Carol
	// only appears in a deleted run and a deleted session.
	run := f.run("regression", runOpts{milestone: w.soon, creator: w.alice})
	c := f.newCase("case", "MANUAL", nil, nil)
	rc := f.runCase(run, c, "", w.bob)
	f.result(rc, 10, false, w.admin)
	f.exec(`INSERT INTO "Sessions" ("projectId", "templateId", name, "milestoneId", "stateId", "assignedToId", "createdById")
		VALUES ($1, $2, 'explore', $3, $4, $5, $6)`, f.base.Project, f.base.Template, w.soon, f.base.SessionState, w.bob, w.alice)
	gone := f.run("deleted run", runOpts{milestone: w.soon, creator: carol, deleted: true})
	f.runCase(gone, c, "", carol)
	f.exec(`INSERT INTO "Sessions" ("projectId", "templateId", name, "milestoneId", "stateId", "assignedToId", "createdById", "isDeleted")
		VALUES ($1, $2, 'gone', $3, $4, $5, $5, true)`, f.base.Project, f.base.Template, w.soon, f.base.SessionState, carol)
	return w
}

func pendingReminders(t *testing.T, insp *asynq.Inspector) map[string]task.CreateNotification {
	t.Helper()
	tasks, err := insp.ListPendingTasks(task.QueueNotifications, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	out := map[string]task.CreateNotification{}
	for _, ti := range tasks {
		var p task.CreateNotification
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			t.Fatal(err)
		}
		out[ti.ID] = p
	}
	return out
}

func TestMilestoneRemindersOncePerMilestoneUserAndDay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := buildReminders(f)
	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	clock := &fixedClock{now}
	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Enqueuer: client, Clock: clock}

	st, err := m.RemindDue(f.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Milestones != 4 || st.Due != 3 || st.Recipients != 5 || st.Enqueued != 5 || st.AlreadySent != 0 {
		t.Fatalf("stats %+v", st)
	}
	got := pendingReminders(t, insp)
	id := func(m int, u string) string { return forecast.ReminderTaskID("", m, u, "2026-03-10") }
	wantIDs := []string{id(w.soon, w.admin), id(w.soon, w.alice), id(w.soon, w.bob), id(w.overdue, w.admin), id(w.dueNow, w.bob)}
	var gotIDs []string
	for k := range got {
		gotIDs = append(gotIDs, k)
	}
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Fatalf("task IDs (-want +got):\n%s", diff)
	}

	soon := got[id(w.soon, w.alice)]
	if soon.Type != task.NotificationTypeMilestoneDueReminder || soon.Title != "Milestone Due Soon" ||
		soon.Message != `Milestone "Release 1.0" in project "Demo Project" is due on 3/12/2026` ||
		soon.RelatedEntityType != "Milestone" || soon.UserID != w.alice {
		t.Errorf("due soon: %+v", soon)
	}
	var data map[string]any
	if err := json.Unmarshal(soon.Data, &data); err != nil {
		t.Fatal(err)
	}
	wantData := map[string]any{"milestoneName": "Release 1.0", "projectName": "Demo Project",
		"projectId": float64(f.base.Project), "milestoneId": float64(w.soon),
		"dueDate": "2026-03-12T00:00:00.000Z", "isOverdue": false}
	if diff := cmp.Diff(wantData, data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	late := got[id(w.overdue, w.admin)]
	if late.Title != "Milestone Overdue" || late.Message != `Milestone "Sprint 7" in project "Demo Project" was due on 3/8/2026` {
		t.Errorf("overdue: %+v", late)
	}

	// A manual trigger or a retry the same day sends nothing more.
	st, err = m.RemindDue(f.ctx, "")
	if err != nil || st.Enqueued != 0 || st.AlreadySent != 5 {
		t.Fatalf("second run: %+v %v", st, err)
	}
	// A retry after the enqueue but before the ledger commit: the task IDs
	// still stop the duplicates.
	f.exec(`DELETE FROM worker.ledger WHERE kind = $1`, forecast.ReminderLedgerKind)
	if _, err := m.RemindDue(f.ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(pendingReminders(t, insp)); n != 5 {
		t.Fatalf("%d reminders after a retry, want 5", n)
	}

	// The next day: everyone is reminded again (the due-now milestone is
	// now overdue).
	clock.t = now.Add(24 * time.Hour)
	f.exec(`INSERT INTO worker.ledger (kind, key, created_at) VALUES ($1, 'old', $2), ('other', 'old', $2)`,
		forecast.ReminderLedgerKind, now.Add(-30*24*time.Hour))
	st, err = m.RemindDue(f.ctx, "")
	if err != nil || st.Enqueued != 5 {
		t.Fatalf("next day: %+v %v", st, err)
	}
	next := pendingReminders(t, insp)
	if len(next) != 10 || next[forecast.ReminderTaskID("", w.dueNow, w.bob, "2026-03-11")].Title != "Milestone Overdue" {
		t.Fatalf("next day: %d tasks", len(next))
	}
	var old, other int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FILTER (WHERE kind = $1 AND key = 'old'),
		count(*) FILTER (WHERE kind = 'other') FROM worker.ledger`, forecast.ReminderLedgerKind).Scan(&old, &other); err != nil || old != 0 || other != 1 {
		t.Errorf("ledger pruning: %d old reminder rows, %d rows of another kind, %v", old, other, err)
	}
}

type failingEnqueuer struct{ calls int }

func (e *failingEnqueuer) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	e.calls++
	return nil, errors.New("valkey: connection refused")
}

func TestMilestoneRemindersRetryAfterAnEnqueueFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	buildReminders(f)
	h := &forecast.Handler{Enqueuer: &failingEnqueuer{}, Clock: &fixedClock{now}}
	ctx := worker.WithTenant(f.ctx, &tenant.Tenant{DB: f.pool})
	err := h.MilestoneDueNotifications(ctx, task.MilestoneDueNotifications{})
	if err == nil || worker.IsPermanent(err) {
		t.Fatalf("an enqueue failure must fail the task, to be retried: %v", err)
	}
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM worker.ledger`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the ledger must roll back with the failure: %d rows, %v", n, err)
	}

	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	h.Enqueuer = client
	if err := h.MilestoneDueNotifications(ctx, task.MilestoneDueNotifications{}); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	if got := len(pendingReminders(t, insp)); got != 5 {
		t.Fatalf("%d reminders after the retry, want 5", got)
	}
}

// TestMilestoneRemindersCarryTheResolvedTenant runs the reminder task of a
// payload without tenantId in a process whose tenant resolved to "acme"
// (INSTANCE_TENANT_ID): every reminder, task ID and ledger key carries acme,
// and the runtime's client, which refuses a follow-up task of another
// tenant, accepts them all.
func TestMilestoneRemindersCarryTheResolvedTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := buildReminders(f)
	opt, _ := testenv.Redis(t)
	client := &worker.Client{Client: asynq.NewClient(opt)}
	defer client.Close()
	mux := asynq.NewServeMux()
	(&forecast.Handler{Enqueuer: client, Clock: &fixedClock{now}}).Register(mux)
	tk, err := task.NewMilestoneDueNotifications(task.MilestoneDueNotifications{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.ProcessTask(worker.WithTenant(f.ctx, &tenant.Tenant{ID: "acme", DB: f.pool}), tk); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	got := pendingReminders(t, insp)
	if len(got) != 5 {
		t.Fatalf("%d reminders, want 5: %v", len(got), keys(got))
	}
	for id, p := range got {
		if p.TenantID != "acme" || !strings.HasPrefix(id, "acme:"+forecast.ReminderLedgerKind+":") {
			t.Errorf("reminder %s has tenant %q", id, p.TenantID)
		}
	}
	if _, ok := got[forecast.ReminderTaskID("acme", w.soon, w.alice, "2026-03-10")]; !ok {
		t.Errorf("task IDs %v", keys(got))
	}
	rows, err := f.pool.Query(f.ctx, `SELECT key FROM worker.ledger WHERE kind = $1 ORDER BY key`, forecast.ReminderLedgerKind)
	if err != nil {
		t.Fatal(err)
	}
	if ledger, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(ledger) != 5 {
		t.Fatalf("ledger %v %v", ledger, err)
	} else {
		for _, k := range ledger {
			if !strings.HasPrefix(k, "acme:") {
				t.Errorf("ledger key %q is not keyed by the tenant", k)
			}
		}
	}

	// Without a tenant, the keys differ: nothing counts as already sent.
	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Enqueuer: client, Clock: &fixedClock{now}}
	if st, err := m.RemindDue(f.ctx, ""); err != nil || st.Enqueued != 5 || st.AlreadySent != 0 {
		t.Fatalf("no tenant: %+v %v", st, err)
	}
}

func TestReminderDayFollowsTheConfiguredZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := buildReminders(f)
	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	tokyo := time.FixedZone("JST", 9*3600)
	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Enqueuer: client, Clock: &fixedClock{now.Add(16 * time.Hour)}, Location: tokyo}
	if _, err := m.RemindDue(f.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	// 22:00 UTC on March 10 is March 11 in Tokyo; the tenant prefixes the ID.
	got := pendingReminders(t, insp)
	if _, ok := got["acme:milestone-reminder:"+strconv.Itoa(w.overdue)+":"+w.admin+":2026-03-11"]; !ok {
		t.Fatalf("task IDs %v", keys(got))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestConcurrentReminderRunsSendOnce runs the scheduled job and a manual
// trigger at the same moment: the ledger rows of the first transaction make
// the second wait, then find every reminder already sent.
func TestConcurrentReminderRunsSendOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	buildReminders(f)
	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Enqueuer: client, Clock: &fixedClock{now}}

	results := make(chan forecast.ReminderStats, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			st, err := m.RemindDue(f.ctx, "")
			results <- st
			errs <- err
		}()
	}
	enqueued, already := 0, 0
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		st := <-results
		enqueued += st.Enqueued
		already += st.AlreadySent
	}
	if enqueued != 5 || already != 15 {
		t.Errorf("enqueued %d, already sent %d; want 5 and 15", enqueued, already)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	if n := len(pendingReminders(t, insp)); n != 5 {
		t.Errorf("%d reminders, want 5", n)
	}
}

// TestMilestonesUseTheClockAndZoneOnly puts the clock at 20:00 UTC on March
// 10, given in Tokyo's zone (05:00 on March 11 there): with no Location the
// reminder day and the message's date are UTC's, whatever the clock's zone
// and the process's (run the tests with TZ=Asia/Kolkata, where it is already
// March 11 as well), and "now" compares with the UTC due dates as an
// instant.
func TestMilestonesUseTheClockAndZoneOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := f.base.Admin()
	evening := time.Date(2026, 3, 10, 20, 0, 0, 0, time.UTC)
	clock := &fixedClock{evening.In(time.FixedZone("JST", 9*3600))}
	late := f.milestone("late tonight", evening.Add(3*time.Hour), 1, true, false, false, admin)
	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	m := &forecast.Milestones{Store: forecast.NewStore(f.pool), Enqueuer: client, Clock: clock}

	if ids, err := m.AutoComplete(f.ctx); err != nil || len(ids) != 0 {
		t.Fatalf("a milestone due in 3 hours was completed: %v %v", ids, err)
	}
	if _, err := m.RemindDue(f.ctx, ""); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	got := pendingReminders(t, insp)
	r, ok := got[forecast.ReminderTaskID("", late, admin, "2026-03-10")]
	if !ok {
		t.Fatalf("task IDs %v", keys(got))
	}
	if want := `Milestone "late tonight" in project "Demo Project" is due on 3/10/2026`; r.Message != want {
		t.Errorf("message %q, want %q", r.Message, want)
	}
}
