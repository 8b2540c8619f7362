package audit

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// newDB returns a migrated database of the test's own holding one project,
// whose id it returns too.
func newDB(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	var project int
	err := db.QueryRow(context.Background(), `
WITH r AS (INSERT INTO "Roles" (id, name) VALUES (1, 'user') RETURNING id),
     u AS (INSERT INTO "User" (id, name, email, password, "roleId", "updatedAt")
           SELECT 'creator', 'Creator', 'creator@example.com', 'x', r.id, now() FROM r RETURNING id)
INSERT INTO "Projects" (name, "createdBy") SELECT 'Audited', u.id FROM u RETURNING id`).Scan(&project)
	if err != nil {
		t.Fatal(err)
	}
	return project
}

// stored is an "AuditLog" row as read back.
type stored struct {
	ID, Action, EntityType, EntityID        string
	UserID, UserEmail, UserName, EntityName *string
	Changes                                 json.RawMessage
	Metadata                                map[string]any
	Timestamp                               time.Time
	ProjectID                               *int
}

func loadRows(t testing.TB, db *pgxpool.Pool, where string, args ...any) []stored {
	t.Helper()
	rows, err := db.Query(context.Background(), `
SELECT id, action::text, "entityType", "entityId", "userId", "userEmail", "userName", "entityName",
       changes, metadata, "timestamp", "projectId"
FROM "AuditLog" WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var s stored
		var meta []byte
		if err := rows.Scan(&s.ID, &s.Action, &s.EntityType, &s.EntityID, &s.UserID, &s.UserEmail, &s.UserName,
			&s.EntityName, &s.Changes, &meta, &s.Timestamp, &s.ProjectID); err != nil {
			t.Fatal(err)
		}
		if meta != nil {
			if err := json.Unmarshal(meta, &s.Metadata); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func countRows(t testing.TB, db *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM "AuditLog"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fixedClock always tells t.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// inTenant returns a context carrying the tenant id on db, as the runtime
// gives every handler.
func inTenant(id string, db *pgxpool.Pool) context.Context {
	return worker.WithTenant(context.Background(), &tenant.Tenant{ID: id, DB: db})
}

// countingStore wraps the real store: it counts statements and rows, and
// runs before (if set) ahead of each statement and after (if set) once the
// statement returned.
type countingStore struct {
	next store

	mu         sync.Mutex
	statements int
	rows       int
	maxBatch   int
	before     func(n int)                  // n: the statement's 1-based number
	after      func(n int, err error) error // may replace the result
}

func (s *countingStore) InsertAuditLogs(ctx context.Context, rows []row) (int64, error) {
	s.mu.Lock()
	s.statements++
	n := s.statements
	s.rows += len(rows)
	s.maxBatch = max(s.maxBatch, len(rows))
	before, after := s.before, s.after
	s.mu.Unlock()
	if before != nil {
		before(n)
	}
	inserted, err := s.next.InsertAuditLogs(ctx, rows)
	if after != nil {
		err = after(n, err)
	}
	return inserted, err
}

func (s *countingStore) counts() (statements, rows, maxBatch int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statements, s.rows, s.maxBatch
}

// counting makes h write through a countingStore, returned.
func counting(h *Handler) *countingStore {
	cs := &countingStore{}
	h.wrap = func(st store) store { cs.next = st; return cs }
	return cs
}

// pending returns the number of rows waiting for a statement on db.
func (h *Handler) pendingRows(db *pgxpool.Pool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.groups[db]; g != nil {
		return len(g.pending)
	}
	return 0
}

// startServer runs a real asynq server for the audit-logs queue with a
// 20 ms retry delay and the given concurrency, stopped at cleanup, that
// hands h's handlers the tenant tn as the runtime's resolver would. wrap, if
// set, wraps the handlers.
func startServer(t testing.TB, opt asynq.RedisClientOpt, h *Handler, tn *tenant.Tenant, concurrency int, wrap asynq.MiddlewareFunc) {
	t.Helper()
	mux := asynq.NewServeMux()
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			return next.ProcessTask(worker.WithTenant(ctx, tn), t)
		})
	})
	if wrap != nil {
		mux.Use(wrap)
	}
	h.Register(mux)
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{task.QueueAuditLogs: 1},
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 20 * time.Millisecond },
		TaskCheckInterval:        10 * time.Millisecond,
		DelayedTaskCheckInterval: 50 * time.Millisecond,
		LogLevel:                 asynq.FatalLevel,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

func event(action task.AuditAction, entityType, entityID string) task.AuditLog {
	return task.AuditLog{
		Event:    task.AuditEvent{Action: action, EntityType: entityType, EntityID: entityID},
		QueuedAt: "2025-03-04T05:06:07.008Z",
	}
}

func ptr[T any](v T) *T { return &v }
