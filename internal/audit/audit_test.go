package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestRowID(t *testing.T) {
	a := RowID("", "create-User-u1-1741064767008")
	if len(a) != 25 || a[0] != 'c' || strings.Trim(a, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		t.Errorf("RowID = %q, not shaped like a cuid", a)
	}
	if RowID("", "create-User-u1-1741064767008") != a {
		t.Error("RowID is not deterministic")
	}
	if RowID("acme", "create-User-u1-1741064767008") == a || RowID("acme", "t") == RowID("initech", "t") {
		t.Error("two tenants share a row id")
	}
}

// TestAuditEventRules holds the original's rules (reference 2.7), one row
// per case, against the real database. The clock runs in Asia/Kolkata: what
// is stored is UTC whatever the zone.
func TestAuditEventRules(t *testing.T) {
	db, _ := testenv.Postgres(t)
	project := newDB(t, db)
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 4, 10, 36, 8, 123_456_789, kolkata) // 05:06:08.123456789 UTC
	const processedAt = "2025-03-04T05:06:08.123Z"
	h := &Handler{Clock: fixedClock{now}}
	ctx := inTenant("", db)

	full := &task.AuditContext{IPAddress: "10.0.0.1", UserAgent: "curl/8", RequestID: "req-1", UserID: "ctx-user", UserEmail: "ctx@example.com", UserName: "Ctx"}
	tests := []struct {
		name string
		p    func(p *task.AuditLog)
		want func(s *stored)
	}{
		{
			name: "event user wins, context details in metadata",
			p: func(p *task.AuditLog) {
				p.Event.UserID, p.Event.UserEmail, p.Event.UserName = "ev-user", "ev@example.com", "Ev"
				p.Event.Metadata = json.RawMessage(`{"source":"api","ipAddress":"spoofed","n":12345678901234567890}`)
				p.Context = full
			},
			want: func(s *stored) {
				s.UserID, s.UserEmail, s.UserName = ptr("ev-user"), ptr("ev@example.com"), ptr("Ev")
				s.Metadata = map[string]any{"source": "api", "ipAddress": "10.0.0.1", "userAgent": "curl/8", "requestId": "req-1",
					"n": 12345678901234567890.0, "queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
		{
			name: "context user when the event has none, field by field",
			p: func(p *task.AuditLog) {
				p.Event.UserID = "ev-user"
				p.Context = full
			},
			want: func(s *stored) {
				s.UserID, s.UserEmail, s.UserName = ptr("ev-user"), ptr("ctx@example.com"), ptr("Ctx")
				s.Metadata = map[string]any{"ipAddress": "10.0.0.1", "userAgent": "curl/8", "requestId": "req-1",
					"queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
		{
			name: "null context: absent keys dropped, even the event's own",
			p: func(p *task.AuditLog) {
				p.Event.Metadata = json.RawMessage(`{"exportFormat":"csv","userAgent":"from the event","nothing":null}`)
			},
			want: func(s *stored) {
				s.Metadata = map[string]any{"exportFormat": "csv", "nothing": nil, "queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
		{
			name: "partial context",
			p: func(p *task.AuditLog) {
				p.Context = &task.AuditContext{RequestID: "req-2", UserName: "Only a name"}
			},
			want: func(s *stored) {
				s.UserName = ptr("Only a name")
				s.Metadata = map[string]any{"requestId": "req-2", "queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
		{
			name: "existing project kept, changes and name stored",
			p: func(p *task.AuditLog) {
				p.Event.ProjectID = ptr(project)
				p.Event.EntityName = "Login works"
				p.Event.Changes = json.RawMessage(`{"name":{"old":"a","new":"b"},"password":{"old":"[REDACTED]","new":"[REDACTED]"}}`)
			},
			want: func(s *stored) {
				s.ProjectID = ptr(project)
				s.EntityName = ptr("Login works")
				s.Changes = json.RawMessage(`{"name": {"new": "b", "old": "a"}, "password": {"new": "[REDACTED]", "old": "[REDACTED]"}}`)
				s.Metadata = map[string]any{"queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
		{
			name: "deleted project: NULL and originalProjectId",
			p: func(p *task.AuditLog) {
				p.Event.ProjectID = ptr(project + 1000)
				p.Event.Metadata = json.RawMessage(`{"reason":"cleanup"}`)
			},
			want: func(s *stored) {
				s.Metadata = map[string]any{"reason": "cleanup", "originalProjectId": float64(project + 1000),
					"queuedAt": "2025-03-04T05:06:07.008Z", "processedAt": processedAt}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entityID := fmt.Sprint("e", i)
			p := event(task.AuditUpdate, "RepositoryCases", entityID)
			tt.p(&p)
			if err := h.AuditEvent(ctx, p); err != nil {
				t.Fatal(err)
			}
			got := loadRows(t, db, `"entityId" = $1`, entityID)
			if len(got) != 1 {
				t.Fatalf("%d rows", len(got))
			}
			want := stored{ID: got[0].ID, Action: "UPDATE", EntityType: "RepositoryCases", EntityID: entityID,
				Timestamp: time.Date(2025, 3, 4, 5, 6, 8, 123_456_000, time.UTC)}
			tt.want(&want)
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			var utc string
			if err := db.QueryRow(context.Background(), `SELECT ("timestamp" AT TIME ZONE 'UTC')::text FROM "AuditLog" WHERE id = $1`, got[0].ID).Scan(&utc); err != nil || utc != "2025-03-04 05:06:08.123456" {
				t.Errorf("timestamp in UTC %q (%v), want 2025-03-04 05:06:08.123456", utc, err)
			}
		})
	}
}

// TestRedeliveryWritesOneRow runs each task twice in a row, as a redelivery
// after a lost lease would: one row per task.
func TestRedeliveryWritesOneRow(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	opt, _ := testenv.Redis(t)
	h := &Handler{}
	twice := func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if err := next.ProcessTask(ctx, t); err != nil {
				return err
			}
			return next.ProcessTask(ctx, t)
		})
	}
	startServer(t, opt, h, &tenant.Tenant{ID: "acme", DB: db}, 2, twice)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	p := event(task.AuditLogin, "User", "u1")
	p.TenantID = "acme"
	tk, err := task.NewAuditEvent(p, asynq.TaskID("LOGIN-User-u1-1741064767008"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	waitState(t, insp, "LOGIN-User-u1-1741064767008", asynq.TaskStateCompleted)
	got := loadRows(t, db, "true")
	if len(got) != 1 || got[0].ID != RowID("acme", "LOGIN-User-u1-1741064767008") {
		t.Errorf("rows %+v, want one with the derived id", got)
	}
}

// TestRetryAfterInsertWritesOneRow: the statement commits but the handler
// sees an error (the connection dropped before the answer); asynq retries,
// and the retry finds the row.
func TestRetryAfterInsertWritesOneRow(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	opt, _ := testenv.Redis(t)
	h := &Handler{}
	cs := counting(h)
	cs.after = func(n int, err error) error {
		if n == 1 && err == nil {
			return errors.New("connection reset after commit")
		}
		return err
	}
	startServer(t, opt, h, &tenant.Tenant{DB: db}, 1, nil)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tk, err := task.NewAuditEvent(event(task.AuditDelete, "Projects", "9"), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	ti := waitState(t, insp, info.ID, asynq.TaskStateCompleted)
	if ti.Retried != 1 {
		t.Errorf("retried %d times, want 1", ti.Retried)
	}
	if n := countRows(t, db); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if statements, _, _ := cs.counts(); statements != 2 {
		t.Errorf("%d statements, want 2", statements)
	}
}

// TestBurstIsWrittenInGroups sends 200 events through a real asynq server:
// 200 rows, written by fewer statements than rows. The first statement waits
// until rows queue behind it, so the test does not depend on timing.
func TestBurstIsWrittenInGroups(t *testing.T) {
	db, _ := testenv.Postgres(t)
	project := newDB(t, db)
	opt, _ := testenv.Redis(t)
	h := &Handler{}
	cs := counting(h)
	cs.before = func(n int) {
		if n == 1 {
			testenv.Eventually(t, 10*time.Second, func() bool { return h.pendingRows(db) >= 10 }, "rows queue behind the first statement")
		}
	}
	startServer(t, opt, h, &tenant.Tenant{DB: db}, 50, nil)
	client := asynq.NewClient(opt)
	defer client.Close()
	const n = 200
	for i := range n {
		p := event(task.AuditCreate, "RepositoryCases", fmt.Sprint(i))
		if i%2 == 0 {
			p.Event.ProjectID = ptr(project)
		} else {
			p.Event.ProjectID = ptr(project + 1)
		}
		tk, err := task.NewAuditEvent(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(tk); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return countRows(t, db) == n }, "%d rows", n)
	statements, rows, maxBatch := cs.counts()
	t.Logf("%d rows in %d statements, largest %d", rows, statements, maxBatch)
	if statements >= n || maxBatch < 10 || rows != n {
		t.Errorf("%d rows in %d statements (largest %d): no group commit", rows, statements, maxBatch)
	}
	var kept, orphaned int
	if err := db.QueryRow(context.Background(), `
SELECT count(*) FILTER (WHERE "projectId" = $1),
       count(*) FILTER (WHERE "projectId" IS NULL AND (metadata->>'originalProjectId')::int = $1 + 1)
FROM "AuditLog"`, project).Scan(&kept, &orphaned); err != nil {
		t.Fatal(err)
	}
	if kept != n/2 || orphaned != n/2 {
		t.Errorf("%d rows kept their project, %d remember a deleted one; want %d each", kept, orphaned, n/2)
	}
}

// TestGroupCommit drives the group commit directly: rows arriving while a
// statement runs share the next one, within MaxBatch; a single row is written
// at once.
func TestGroupCommit(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	h := &Handler{MaxBatch: 5}
	cs := counting(h)
	release := make(chan struct{})
	cs.before = func(n int) {
		if n == 1 {
			<-release
		}
	}
	ctx := inTenant("", db)
	var wg sync.WaitGroup
	errs := make(chan error, 13)
	submit := func(i int) {
		defer wg.Done()
		errs <- h.AuditEvent(ctx, event(task.AuditCreate, "Tag", fmt.Sprint(i)))
	}
	wg.Add(1)
	go submit(0)
	testenv.Eventually(t, 5*time.Second, func() bool { s, _, _ := cs.counts(); return s == 1 }, "the first statement starts")
	for i := 1; i <= 12; i++ {
		wg.Add(1)
		go submit(i)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return h.pendingRows(db) == 12 }, "12 rows wait")
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	statements, rows, maxBatch := cs.counts()
	if statements != 4 || rows != 13 || maxBatch != 5 { // 1, then 5 + 5 + 2
		t.Errorf("%d rows in %d statements, largest %d; want 13 in 4, largest 5", rows, statements, maxBatch)
	}
	if n := countRows(t, db); n != 13 {
		t.Errorf("%d rows", n)
	}
	// The writer is gone once idle; the next row starts a new one.
	testenv.Eventually(t, 5*time.Second, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.groups) == 0 }, "the writer stops")
	if err := h.AuditEvent(ctx, event(task.AuditCreate, "Tag", "13")); err != nil {
		t.Fatal(err)
	}
	if statements, _, _ := cs.counts(); statements != 5 {
		t.Errorf("%d statements, want 5", statements)
	}
}

// TestFailedStatementFailsItsGroup: a statement that fails (here, the
// database went away) fails every handler in it, as a transient error.
func TestFailedStatementFailsItsGroup(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	h := &Handler{}
	cs := counting(h)
	release := make(chan struct{})
	cs.before = func(n int) {
		if n == 1 {
			<-release
		}
	}
	cs.after = func(n int, err error) error {
		if n == 2 {
			return fmt.Errorf("insert 3 audit logs: %w", context.DeadlineExceeded)
		}
		return err
	}
	ctx := inTenant("", db)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.AuditEvent(ctx, event(task.AuditCreate, "Tag", fmt.Sprint(i)))
		}()
		if i == 0 {
			testenv.Eventually(t, 5*time.Second, func() bool { s, _, _ := cs.counts(); return s == 1 }, "the first statement starts")
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return h.pendingRows(db) == 3 }, "3 rows wait")
	close(release)
	wg.Wait()
	if errs[0] != nil {
		t.Errorf("first row: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, context.DeadlineExceeded) || worker.IsPermanent(err) {
			t.Errorf("row %d: %v, want the statement's transient error", i+1, err)
		}
	}
}

// TestRefusedRowFailsAlone: when PostgreSQL refuses a statement, its rows
// are written one by one, and only the refused row's task fails
// (permanently: the data itself is refused).
func TestRefusedRowFailsAlone(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	h := &Handler{}
	cs := counting(h)
	release := make(chan struct{})
	cs.before = func(n int) {
		if n == 1 {
			<-release
		}
	}
	ctx := inTenant("", db)
	now := time.Now().UTC()
	good := func(i int) row {
		r, err := newRow(fmt.Sprint("row", i), event(task.AuditCreate, "Tag", fmt.Sprint(i)), now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	bad := good(2)
	bad.Action = "NOT_AN_ACTION" // bypasses the payload's validation
	rows := []row{good(0), good(1), bad, good(3)}
	var wg sync.WaitGroup
	errs := make([]error, len(rows))
	for i, r := range rows {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.commit(ctx, db, r) }()
		if i == 0 {
			testenv.Eventually(t, 5*time.Second, func() bool { s, _, _ := cs.counts(); return s == 1 }, "the first statement starts")
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return h.pendingRows(db) == 3 }, "3 rows wait")
	close(release)
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == 2 && !worker.IsPermanent(err):
			t.Errorf("refused row: %v, want a permanent error", err)
		case i != 2 && err != nil:
			t.Errorf("row %d: %v", i, err)
		}
	}
	if n := countRows(t, db); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

// TestDatabaseDownIsTransient: a database that does not answer fails the
// task for a retry, never for good.
func TestDatabaseDownIsTransient(t *testing.T) {
	_, url := testenv.Postgres(t)
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	err = (&Handler{}).AuditEvent(inTenant("", pool), event(task.AuditLogin, "User", "u1"))
	if err == nil || worker.IsPermanent(err) {
		t.Errorf("err %v, want a transient error", err)
	}
}

// TestHandlerReturnsWhenItsContextEnds: a handler whose context ends stops
// waiting; the statement it joined still completes for the others.
func TestHandlerReturnsWhenItsContextEnds(t *testing.T) {
	db, _ := testenv.Postgres(t)
	newDB(t, db)
	h := &Handler{}
	cs := counting(h)
	release := make(chan struct{})
	cs.before = func(n int) {
		if n == 1 {
			<-release
		}
	}
	ctx, cancel := context.WithCancel(inTenant("", db))
	done := make(chan error, 1)
	go func() { done <- h.AuditEvent(ctx, event(task.AuditLogin, "User", "u1")) }()
	testenv.Eventually(t, 5*time.Second, func() bool { s, _, _ := cs.counts(); return s == 1 }, "the statement starts")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	close(release)
	testenv.Eventually(t, 5*time.Second, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.groups) == 0 }, "the writer stops")
}

// TestInvalidPayloadIsArchived: a payload the contract refuses is archived at
// once with the reason, through the runtime's worker.Handle.
func TestInvalidPayloadIsArchived(t *testing.T) {
	db, _ := testenv.Postgres(t)
	opt, _ := testenv.Redis(t)
	startServer(t, opt, &Handler{}, &tenant.Tenant{DB: db}, 1, nil)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	bad := asynq.NewTask(task.TypeAuditEvent, []byte(`{"event":{"action":"LOGIN","entityType":"User","entityId":"u1"},"queuedAt":"yesterday"}`),
		asynq.Queue(task.QueueAuditLogs), asynq.MaxRetry(5))
	info, err := client.Enqueue(bad)
	if err != nil {
		t.Fatal(err)
	}
	ti := waitState(t, insp, info.ID, asynq.TaskStateArchived)
	if ti.Retried != 0 || !strings.Contains(ti.LastErr, `queuedAt: must be an RFC 3339 timestamp, got "yesterday"`) {
		t.Errorf("archived after %d retries with %q", ti.Retried, ti.LastErr)
	}
	if n := countRows(t, db); n != 0 {
		t.Errorf("%d rows", n)
	}
}

func waitState(t testing.TB, insp *asynq.Inspector, id string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	testenv.Eventually(t, 15*time.Second, func() bool {
		var err error
		info, err = insp.GetTaskInfo(task.QueueAuditLogs, id)
		return err == nil && info.State == want
	}, "task %s never reached state %v (last %+v)", id, want, info)
	return info
}
