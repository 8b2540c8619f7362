package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestRunSendsDigest(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('u1', 'Ana', 'ana@example.com', 'x', now());
INSERT INTO "Notification" (id, "userId", type, title, message, "updatedAt") VALUES ('n1', 'u1', 'USER_REGISTERED', 'New user', 'Bob joined', now())`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VALKEY_URL": redisURL, "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"EMAIL_SERVER_HOST": mp.SMTPHost, "EMAIL_SERVER_PORT": strconv.Itoa(mp.SMTPPort), "EMAIL_SERVER_TLS": "none",
		"EMAIL_SERVER_USER": "tpi", "EMAIL_SERVER_PASSWORD": "secret", "EMAIL_SERVER_AUTH": "plain",
		"EMAIL_FROM": "Acme QA <noreply@example.com>", "NEXTAUTH_URL": "https://tpi.example.com",
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()
	client := asynq.NewClient(ropt)
	defer client.Close()
	tk, err := task.NewSendDigestEmail(task.SendDigestEmail{UserID: "u1", NotificationIDs: []string{"n1"}, Day: "2026-11-26"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, func() bool { return mp.Count() == 1 }, "digest delivered")
	msgs := mp.Messages(t)
	if msgs[0].Subject != "TestPlanIt Daily Digest - 1 notifications" || msgs[0].From.Address != "noreply@example.com" || msgs[0].From.Name != "Acme QA" {
		t.Errorf("subject %q from %+v", msgs[0].Subject, msgs[0].From)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		var read bool
		_ = db.QueryRow(ctx, `SELECT "isRead" FROM "Notification" WHERE id = 'n1'`).Scan(&read)
		return read
	}, "notification marked read")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	base := map[string]string{"VALKEY_URL": "redis://127.0.0.1:6379/1", "DATABASE_URL": "postgres://x", "EMAIL_SERVER_HOST": "h", "EMAIL_FROM": "a@b.c"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{with("EMAIL_SERVER_HOST", ""), "config: EMAIL_SERVER_HOST"},
		{with("EMAIL_FROM", ""), "config: EMAIL_FROM"},
		{with("EMAIL_FROM", "not an address"), "config: EMAIL_FROM"},
		{with("EMAIL_SERVER_TLS", "ssl3"), "config: EMAIL_SERVER_TLS"},
		{with("EMAIL_SERVER_PORT", "99999"), "config: EMAIL_SERVER_PORT"},
		{with("EMAIL_CONCURRENCY", "x"), "config: EMAIL_CONCURRENCY"},
	} {
		err := run(context.Background(), func(k string) string { return tc.env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
}

// TestRunMultiTenantLinks: in multi-tenant mode a tenant's email links to
// the tenant's baseUrl, and its delivery is recorded under its tenant.
func TestRunMultiTenantLinks(t *testing.T) {
	db, dbURL := testenv.Postgres(t)
	ropt, redisURL := testenv.Redis(t)
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('u1', 'Ana', 'ana@example.com', 'x', now());
INSERT INTO "Notification" (id, "userId", type, title, message, "updatedAt") VALUES ('n1', 'u1', 'USER_REGISTERED', 'New user', 'Bob joined', now())`); err != nil {
		t.Fatal(err)
	}
	tenants, err := json.Marshal(map[string]any{"acme": map[string]string{"databaseUrl": dbURL, "baseUrl": "https://acme.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VALKEY_URL": redisURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"MULTI_TENANT_MODE": "true", "TENANT_CONFIGS": string(tenants), "TENANT_CONFIG_FILE": filepath.Join(t.TempDir(), "none.json"),
		"EMAIL_SERVER_HOST": mp.SMTPHost, "EMAIL_SERVER_PORT": strconv.Itoa(mp.SMTPPort), "EMAIL_SERVER_TLS": "none",
		"EMAIL_FROM": "noreply@example.com", "NEXTAUTH_URL": "https://default.example.com",
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, func(k string) string { return env[k] }) }()
	client := asynq.NewClient(ropt)
	defer client.Close()
	tk, err := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: "n1", UserID: "u1", TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, func() bool { return mp.Count() == 1 }, "email delivered")
	msgs := mp.Messages(t)
	if got := mp.Headers(t, msgs[0].ID)["List-Unsubscribe"]; len(got) != 1 || got[0] != "<https://acme.example.com/en-US/users/profile/u1>" {
		t.Errorf("List-Unsubscribe %q, want the tenant's base URL", got)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		var n int
		_ = db.QueryRow(ctx, `SELECT count(*) FROM worker.email_deliveries WHERE key = 'acme:notification:n1'`).Scan(&n)
		return n == 1
	}, "delivery recorded under the tenant")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
