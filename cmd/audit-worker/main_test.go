package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/audit"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// TestRunWritesAuditLogs runs the worker over Valkey and PostgreSQL: each
// event becomes one "AuditLog" row under the id derived from its task, with
// its timestamps in UTC (the Makefile reruns this package with
// TZ=Asia/Kolkata); an invalid event is archived with the reason.
func TestRunWritesAuditLogs(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	env := map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0",
		"LOG_LEVEL": "error", "AUDIT_LOG_CONCURRENCY": "8"}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	client := asynq.NewClient(ropt)
	defer client.Close()
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	before := time.Now().UTC().Add(-time.Second)
	var ids []string
	for _, entity := range []string{"1", "2", "3"} {
		tk, err := task.NewAuditEvent(task.AuditLog{
			Event:    task.AuditEvent{Action: task.AuditDelete, EntityType: "Tags", EntityID: entity, ProjectID: new(int(42))},
			Context:  &task.AuditContext{IPAddress: "10.0.0.1", UserID: "u1"},
			QueuedAt: "2025-03-04T05:06:07.008Z",
		}, asynq.TaskID("DELETE-Tags-"+entity+"-1741064767008"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := client.Enqueue(tk)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, audit.RowID("", info.ID))
	}
	bad := asynq.NewTask(task.TypeAuditEvent, []byte(`{"event":{"action":"NOPE","entityType":"Tags","entityId":"4"},"queuedAt":"2025-03-04T05:06:07.008Z"}`),
		asynq.Queue(task.QueueAuditLogs))
	badInfo, err := client.Enqueue(bad)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		var n int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM "AuditLog" WHERE id = ANY($1)`, ids).Scan(&n)
		return n == len(ids)
	}, "the three rows under their derived ids")
	var processedAt, userID string
	var ts time.Time
	var original int
	if err := db.QueryRow(ctx, `SELECT metadata->>'processedAt', (metadata->>'originalProjectId')::int, "userId", "timestamp"
FROM "AuditLog" WHERE id = $1 AND "projectId" IS NULL AND metadata->>'ipAddress' = '10.0.0.1'`, ids[0]).Scan(&processedAt, &original, &userID, &ts); err != nil {
		t.Fatal(err)
	}
	pt, err := time.Parse(time.RFC3339Nano, processedAt)
	if err != nil || !strings.HasSuffix(processedAt, "Z") || len(processedAt) != len("2025-03-04T05:06:07.008Z") {
		t.Errorf("processedAt %q (%v), want a UTC ISO time with milliseconds", processedAt, err)
	}
	if pt.Before(before) || ts.Before(before) || ts.Sub(pt).Abs() > time.Millisecond || original != 42 || userID != "u1" {
		t.Errorf("processedAt %v, timestamp %v (after %v), originalProjectId %d, userId %q", pt, ts, before, original, userID)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(task.QueueAuditLogs, badInfo.ID)
		return err == nil && ti.State == asynq.TaskStateArchived && strings.Contains(ti.LastErr, `event.action: unknown audit action "NOPE"`)
	}, "the invalid event archived with its reason")
}

func TestRunConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1"}, "config: DATABASE_URL"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "AUDIT_LOG_CONCURRENCY": "0"}, "config: AUDIT_LOG_CONCURRENCY"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}
