package notify_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func addNotification(t testing.TB, db *pgxpool.Pool, userID string, at time.Time, read, deleted bool) string {
	t.Helper()
	id := cuid.New()
	_, err := db.Exec(context.Background(), `INSERT INTO "Notification" (id, "userId", type, title, message, "isRead", "isDeleted", "createdAt", "updatedAt")
VALUES ($1, $2, 'WORK_ASSIGNED', 't', 'm', $3, $4, $5, $6)`, id, userID, read, deleted, at, at)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// digestTasks returns the pending send-digest-email payloads by user.
func digestTasks(t testing.TB, insp *asynq.Inspector) map[string][]task.SendDigestEmail {
	t.Helper()
	tasks, err := insp.ListPendingTasks(task.QueueEmails, asynq.PageSize(10000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	out := map[string][]task.SendDigestEmail{}
	for _, tk := range tasks {
		p, err := task.Decode[task.SendDigestEmail](asynq.NewTask(tk.Type, tk.Payload))
		if err != nil {
			t.Fatal(err)
		}
		if tk.ID != p.TaskID() {
			t.Errorf("task ID %q, want %q", tk.ID, p.TaskID())
		}
		out[p.UserID] = append(out[p.UserID], p)
	}
	return out
}

// sweep runs h's sweep for the tenant "" of db.
func sweep(t testing.TB, h *notify.Handler, db *pgxpool.Pool) notify.DigestResult {
	t.Helper()
	res, err := h.Sweep(inTenant("", db), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDigestTimeZones(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	setGlobalMode(t, db, "IN_APP_EMAIL_DAILY")
	for _, u := range []user{
		{id: "tokyo", mode: "IN_APP_EMAIL_DAILY", tz: "Asia/Tokyo", active: true},
		{id: "paris", mode: "IN_APP_EMAIL_DAILY", tz: "Europe/Paris", active: true},
		{id: "newyork", mode: "USE_GLOBAL", tz: "America/New_York", active: true},
		{id: "utc", mode: "", active: true},                                         // no preferences: global daily, UTC
		{id: "bogus", mode: "IN_APP_EMAIL_DAILY", tz: "Mars/Olympus", active: true}, // invalid: UTC
		{id: "inapp", mode: "IN_APP", tz: "Asia/Tokyo", active: true},
		{id: "inactive", mode: "IN_APP_EMAIL_DAILY", tz: "Asia/Tokyo"},
	} {
		seedUser(t, db, u)
	}
	t0 := time.Date(2026, 11, 26, 5, 30, 0, 0, time.UTC)
	want := map[string]string{}
	for _, u := range []string{"tokyo", "paris", "newyork", "utc", "bogus", "inapp", "inactive"} {
		want[u] = addNotification(t, db, u, t0, false, false)
	}
	clock := &fixedClock{}
	h := &notify.Handler{Enqueuer: client, Clock: clock}

	steps := []struct {
		at   time.Time
		due  []string
		note string
	}{
		{time.Date(2026, 11, 26, 6, 30, 0, 0, time.UTC), []string{"tokyo"}, "15:30 in Tokyo, 07:30 in Paris"},
		{time.Date(2026, 11, 26, 6, 59, 0, 0, time.UTC), nil, "07:59 in Paris"},
		{time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), []string{"paris"}, "08:00 in Paris"},
		{time.Date(2026, 11, 26, 8, 15, 0, 0, time.UTC), []string{"bogus", "utc"}, "08:15 UTC"},
		{time.Date(2026, 11, 26, 12, 59, 0, 0, time.UTC), nil, "07:59 in New York"},
		{time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC), []string{"newyork"}, "08:00 in New York"},
		{time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC), nil, "later the same day: nothing twice"},
	}
	seen := map[string]bool{}
	for _, st := range steps {
		clock.Set(st.at)
		res := sweep(t, h, db)
		if res.Enqueued != len(st.due) {
			t.Errorf("%s: %d enqueued, want %v", st.note, res.Enqueued, st.due)
		}
		got := digestTasks(t, insp)
		var now []string
		for u := range got {
			if !seen[u] {
				now = append(now, u)
				seen[u] = true
			}
		}
		sort.Strings(now)
		if !slices.Equal(now, st.due) {
			t.Errorf("%s: new digests for %v, want %v", st.note, now, st.due)
		}
	}
	for u, ps := range digestTasks(t, insp) {
		if len(ps) != 1 || ps[0].Day != "2026-11-26" || !slices.Equal(ps[0].NotificationIDs, []string{want[u]}) {
			t.Errorf("%s: digests %+v", u, ps)
		}
	}
	// Tokyo's next local day starts at 15:00 UTC: a new digest day, but
	// nothing new to send, so no email.
	clock.Set(time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC))
	if res := sweep(t, h, db); res.Enqueued != 0 || res.Planned != 1 {
		t.Errorf("Tokyo's next day: %+v, want 1 planned, 0 enqueued", res)
	}
}

func TestDigestWindowSinceLastDigest(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	seedUser(t, db, user{id: "d", mode: "IN_APP_EMAIL_DAILY", active: true})
	seedUser(t, db, user{id: "quiet", mode: "IN_APP_EMAIL_DAILY", active: true})
	clock := &fixedClock{}
	h := &notify.Handler{Enqueuer: client, Clock: clock}

	day := func(d, hh int) time.Time { return time.Date(2026, 11, d, hh, 0, 0, 0, time.UTC) }
	before := addNotification(t, db, "d", day(24, 7), false, false)
	clock.Set(day(24, 9))
	sweep(t, h, db) // the 24th's digest carries "before"
	// Then: the 25th's sweep never runs (scheduler down). Notifications of
	// the 24th afternoon and the 25th must reach the 26th's digest.
	n1 := addNotification(t, db, "d", day(24, 12), false, false)
	n2 := addNotification(t, db, "d", day(25, 9), false, false)
	addNotification(t, db, "d", day(25, 10), true, false) // read in the app
	addNotification(t, db, "d", day(25, 11), false, true) // deleted
	clock.Set(day(26, 9))
	n3 := addNotification(t, db, "d", day(26, 8), false, false)
	sweep(t, h, db)
	got := digestTasks(t, insp)["d"]
	sort.Slice(got, func(i, j int) bool { return got[i].Day < got[j].Day })
	if len(got) != 2 || got[0].Day != "2026-11-24" || !slices.Equal(got[0].NotificationIDs, []string{before}) {
		t.Fatalf("digests %+v", got)
	}
	if got[1].Day != "2026-11-26" || !slices.Equal(got[1].NotificationIDs, []string{n3, n2, n1}) {
		t.Errorf("26th digest carries %v, want newest first %v", got[1].NotificationIDs, []string{n3, n2, n1})
	}
	if _, ok := digestTasks(t, insp)["quiet"]; ok {
		t.Error("a user with nothing unread got a digest")
	}
	if n := countRows(t, db, `SELECT count(*) FROM worker.notification_digests WHERE user_id = 'quiet'`); n != 2 {
		t.Errorf("quiet user: %d ledger rows, want 2 (one per swept day)", n)
	}
}

// flakyQueue fails enqueues for one user while armed.
type flakyQueue struct {
	task.Enqueuer
	mu   sync.Mutex
	fail string
}

func (q *flakyQueue) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	p, err := task.Decode[task.SendDigestEmail](t)
	q.mu.Lock()
	fail := q.fail
	q.mu.Unlock()
	if err == nil && p.UserID == fail {
		return nil, errors.New("injected: Redis unavailable")
	}
	return q.Enqueuer.EnqueueContext(ctx, t, opts...)
}

func TestDigestSweepInterruptedAndConcurrent(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i := range 50 {
		seedUser(t, db, user{id: id(i), mode: "IN_APP_EMAIL_DAILY", active: true})
		addNotification(t, db, id(i), at.Add(-time.Hour), false, false)
	}
	clock := &fixedClock{t: at}
	q := &flakyQueue{Enqueuer: client, fail: id(7)}
	h := &notify.Handler{Enqueuer: q, Clock: clock, BatchSize: 8}
	if _, err := h.Sweep(inTenant("", db), nil); err == nil {
		t.Fatal("sweep with a failing enqueue succeeded")
	}
	q.mu.Lock()
	q.fail = ""
	q.mu.Unlock()
	// Two sweeps at once, after the failed one: every user exactly once.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2 := &notify.Handler{Enqueuer: client, Clock: clock, BatchSize: 8}
			_, err := h2.Sweep(inTenant("", db), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := digestTasks(t, insp)
	if len(got) != 50 {
		t.Errorf("%d users with a digest, want 50", len(got))
	}
	for u, ps := range got {
		if len(ps) != 1 {
			t.Errorf("%s: %d digests", u, len(ps))
		}
	}
	if n := countRows(t, db, `SELECT count(*) FROM worker.notification_digests WHERE enqueued_at IS NULL`); n != 0 {
		t.Errorf("%d digests left unenqueued", n)
	}
}

func TestSendDailyDigestTask(t *testing.T) {
	t.Parallel()
	db, _ := testenv.Postgres(t)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	seedRole(t, db)
	seedUser(t, db, user{id: "a", mode: "IN_APP_EMAIL_DAILY", active: true})
	addNotification(t, db, "a", time.Now().Add(-time.Hour), false, false)
	clock := &fixedClock{t: time.Now().UTC().Truncate(24 * time.Hour).Add(23 * time.Hour)}
	startServer(t, ropt, &notify.Handler{Enqueuer: client, Clock: clock}, tenantOf("", db))
	info, err := client.Enqueue(mustTask(task.NewSendDailyDigest(task.SendDailyDigest{})))
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, insp, task.QueueNotifications, info.ID, asynq.TaskStateCompleted)
	if len(done.Result) == 0 {
		t.Error("no progress document in the task result")
	}
	if n := len(digestTasks(t, insp)["a"]); n != 1 {
		t.Errorf("%d digests, want 1", n)
	}
}
