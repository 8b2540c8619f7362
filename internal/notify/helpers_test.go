package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

type user struct {
	id, mode, tz string // mode "" = no UserPreferences row
	active       bool
	deleted      bool
}

func seedRole(t testing.TB, db *pgxpool.Pool) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO "Roles" (id, name) VALUES (1, 'user') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
}

func seedUser(t testing.TB, db *pgxpool.Pool, u user) {
	t.Helper()
	ctx := context.Background()
	_, err := db.Exec(ctx, `INSERT INTO "User" (id, name, email, password, "isActive", "isDeleted", "updatedAt")
VALUES ($1, $1, $1 || '@example.com', 'x', $2, $3, now())`, u.id, u.active, u.deleted)
	if err != nil {
		t.Fatal(err)
	}
	if u.mode != "" {
		tz := u.tz
		if tz == "" {
			tz = "Etc/UTC"
		}
		_, err = db.Exec(ctx, `INSERT INTO "UserPreferences" (id, "userId", "notificationMode", timezone)
VALUES ($1, $2, $3::"NotificationMode", $4)`, postgres.NewUUID(), u.id, u.mode, tz)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func setGlobalMode(t testing.TB, db *pgxpool.Pool, mode string) {
	t.Helper()
	v, _ := json.Marshal(map[string]string{"defaultMode": mode})
	_, err := db.Exec(context.Background(), `INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', $1)
ON CONFLICT (key) DO UPDATE SET value = excluded.value`, string(v))
	if err != nil {
		t.Fatal(err)
	}
}

func countRows(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fixedClock is a settable clock.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// tenantOf returns the tenant of a test: id on db.
func tenantOf(id string, db *pgxpool.Pool) *tenant.Tenant {
	return &tenant.Tenant{ID: id, DB: db, BaseURL: "https://tpi.example.com"}
}

// inTenant returns a context carrying the tenant, as the runtime gives
// every handler.
func inTenant(id string, db *pgxpool.Pool) context.Context {
	return worker.WithTenant(context.Background(), tenantOf(id, db))
}

// startServer runs a real asynq server for the notifications queue with a
// 20 ms retry delay, stopped at cleanup, that hands h's handlers the tenant
// tn as the runtime's resolver would.
func startServer(t testing.TB, opt asynq.RedisClientOpt, h *notify.Handler, tn *tenant.Tenant) {
	t.Helper()
	mux := asynq.NewServeMux()
	mux.Use(func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			return next.ProcessTask(worker.WithTenant(ctx, tn), t)
		})
	})
	h.Register(mux)
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{task.QueueNotifications: 1},
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

func waitState(t testing.TB, insp *asynq.Inspector, queue, id string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	testenv.Eventually(t, 10*time.Second, func() bool {
		var err error
		info, err = insp.GetTaskInfo(queue, id)
		return err == nil && info.State == want
	}, "task %s never reached state %v (last %+v)", id, want, info)
	return info
}

func mustTask(tk *asynq.Task, err error) *asynq.Task {
	if err != nil {
		panic(err)
	}
	return tk
}

func id(i int) string { return fmt.Sprintf("u%05d", i) }
