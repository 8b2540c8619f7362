package worker

import (
	"strings"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaultsAndQueueConcurrency(t *testing.T) {
	e := config.NewEnv(mapEnv(map[string]string{"VALKEY_URL": "valkey://u:secret@cache:6380/2", "EMAIL_CONCURRENCY": "9", "DATABASE_URL": "postgres://db/x"}))
	c := LoadConfig(e, "email-worker", "emails", ":9102")
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 9 || c.HTTPAddr != ":9102" || c.TaskCheckInterval != 50*time.Millisecond ||
		c.ShutdownTimeout != 25*time.Second || c.MaxMemory != 1<<30 || c.LogFormat != "json" {
		t.Fatalf("unexpected config %+v", c)
	}
	if c.RedisURL != "valkey://u:xxxxx@cache:6380/2" {
		t.Errorf("RedisURL = %q", c.RedisURL)
	}

	e = config.NewEnv(mapEnv(map[string]string{"VALKEY_URL": "valkey://cache", "DATABASE_URL": "postgres://db/x"}))
	c = LoadConfig(e, "notification-worker", "notifications", "")
	if c.Concurrency != 5 || e.Err() != nil {
		t.Fatalf("default NOTIFICATION_CONCURRENCY: %d %v", c.Concurrency, e.Err())
	}

	e = config.NewEnv(mapEnv(map[string]string{"VALKEY_URL": "valkey://cache", "MEMORY_CHECK_INTERVAL": "0"}))
	LoadConfig(e, "x", "emails", "")
	if err := e.Err(); err == nil || err.Error() != "config: MEMORY_CHECK_INTERVAL: must be positive" {
		t.Fatalf("MEMORY_CHECK_INTERVAL=0: %v", err)
	}

	e = config.NewEnv(mapEnv(map[string]string{"VALKEY_URL": "http://u:topsecret@cache"}))
	LoadConfig(e, "x", "emails", "")
	if e.Err() == nil {
		t.Fatal("bad scheme accepted")
	}
	if msg := e.Err().Error(); !strings.Contains(msg, "config: VALKEY_URL: unsupported scheme") || strings.Contains(msg, "topsecret") {
		t.Fatalf("message %q", msg)
	}
}
