package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestRunCreatesNotification(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('u1', 'U', 'u1@example.com', 'x', now());
INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode":"IN_APP_EMAIL_IMMEDIATE"}')`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()

	client := asynq.NewClient(ropt)
	defer client.Close()
	tk, err := task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeUserRegistered, Title: "Hi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	testenv.Eventually(t, 15*time.Second, func() bool {
		var n int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM "Notification" WHERE "userId" = 'u1'`).Scan(&n)
		q, err := insp.GetQueueInfo(task.QueueEmails)
		return n == 1 && err == nil && q.Pending == 1
	}, "notification row and its email task")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1"}, "config: DATABASE_URL"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "DIGEST_TIME": "8am"}, "config: DIGEST_TIME"},
		{map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "NOTIFICATION_CONCURRENCY": "0"}, "config: NOTIFICATION_CONCURRENCY"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}

// TestRunCarriesTheInstanceTenant: with INSTANCE_TENANT_ID, a task without a
// tenantId belongs to the instance's tenant, and the email it enqueues
// carries that tenant (the runtime's client refuses one that does not).
func TestRunCarriesTheInstanceTenant(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('u1', 'U', 'u1@example.com', 'x', now());
INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode":"IN_APP_EMAIL_IMMEDIATE"}')`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "INSTANCE_TENANT_ID": "acme"}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()

	client := asynq.NewClient(ropt)
	defer client.Close()
	tk, err := task.NewCreateNotification(task.CreateNotification{UserID: "u1", Type: task.NotificationTypeUserRegistered, Title: "Hi"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	var mails []*asynq.TaskInfo
	testenv.Eventually(t, 15*time.Second, func() bool {
		mails, _ = insp.ListPendingTasks(task.QueueEmails)
		return len(mails) == 1
	}, "email task")
	nid := notify.NotificationID(task.QueueNotifications, info.ID)
	if mails[0].ID != "acme:email:notification:"+nid || !strings.Contains(string(mails[0].Payload), `"tenantId":"acme"`) {
		t.Errorf("email task %s %s, want acme's", mails[0].ID, mails[0].Payload)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
