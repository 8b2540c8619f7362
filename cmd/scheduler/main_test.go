package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunLogsEntriesServesMetricsAndStops(t *testing.T) {
	_, url := testenv.Redis(t)
	addr := freeAddr(t)
	env := map[string]string{
		"VALKEY_URL":                      url,
		"HTTP_ADDR":                       addr,
		"SCHEDULER_TZ":                    "Europe/Paris",
		"SCHEDULER_CRON_DIGEST_SWEEP":     "@every 1s",
		"SCHEDULER_SYNC_INTERVAL":         "100ms",
		"SCHEDULER_GRACE":                 "400ms",
		"SCHEDULER_CRON_NIGHTLY_FORECAST": "15 2 * * *",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &logs) }()

	testenv.Eventually(t, 10*time.Second, func() bool {
		_, body := get(addr, "/metrics")
		return strings.Contains(body, `tpi_scheduler_enqueued_total{entry="digest-sweep"}`)
	}, "an occurrence enqueued and counted in /metrics")
	if code, body := get(addr, "/healthz"); code != 200 || body != `{"service":"scheduler","status":"ok"}`+"\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, body := get(addr, "/readyz"); code != 200 || body != `{"state":"running","valkey":"ok"}`+"\n" {
		t.Errorf("/readyz %d %q", code, body)
	}
	out := logs.String()
	for _, want := range []string{
		`"msg":"scheduler started","service":"scheduler","entries":4`,
		`"entry":"nightly-forecast","cron":"15 2 * * *","timezone":"Europe/Paris","type":"forecast-updates:update-all-cases-forecast","queue":"forecast-updates","next_run":"`,
		`"entry":"milestone-reminders","cron":"0 6 * * *"`,
		`"entry":"digest-sweep","cron":"@every 1s"`,
		`"next_task_id":"schedule:nightly-forecast:`,
		`"msg":"occurrence enqueued","service":"scheduler","entry":"digest-sweep"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	_, url := testenv.Redis(t)
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "config: VALKEY_URL: required but not set"},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_TZ": "Mars/Olympus", "HTTP_ADDR": ""}, `SCHEDULER_TZ: unknown time zone "Mars/Olympus"`},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_SYNC_INTERVAL": "soon"}, "config: SCHEDULER_SYNC_INTERVAL:"},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES": "0 25 * * *", "HTTP_ADDR": ""}, "SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES: cron \"0 25 * * *\""},
	} {
		err := run(context.Background(), func(k string) string { return tt.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: err %v, want %q", tt.env, err, tt.want)
		}
	}
}
