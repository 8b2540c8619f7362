package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/schedule"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
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
	opt, url := testenv.Redis(t)
	addr := freeAddr(t)
	// An import waiting for its retry while no import worker runs (scaled
	// to zero): the scheduler moves it to pending when it is due.
	client := asynq.NewClient(opt)
	defer client.Close()
	waiting, err := client.Enqueue(asynq.NewTask(task.TypeProcessTestmoImport, []byte(`{"jobId":"j1"}`)),
		asynq.Queue(task.QueueTestmoImports), asynq.ProcessIn(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VALKEY_URL":                      url,
		"HTTP_ADDR":                       addr,
		"SCHEDULER_TZ":                    "Europe/Paris",
		"SCHEDULER_CRON_DIGEST_SWEEP":     "@every 1s",
		"SCHEDULER_SYNC_INTERVAL":         "100ms",
		"SCHEDULER_GRACE":                 "400ms",
		"SCHEDULER_CRON_NIGHTLY_FORECAST": "15 2 * * *",
		"SCHEDULER_FORWARD_INTERVAL":      "100ms",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &logs) }()

	testenv.Eventually(t, 10*time.Second, func() bool {
		_, body := get(addr, "/metrics")
		return strings.Contains(body, `tpi_scheduler_enqueued_total{entry="digest-sweep"}`)
	}, "an occurrence enqueued and counted in /metrics")
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, body := get(addr, "/metrics")
		return strings.Contains(body, `tpi_scheduler_forwarded_total{queue="testmo-imports"} 1`)
	}, "the due import forwarded and counted in /metrics")
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	if ti, err := insp.GetTaskInfo(task.QueueTestmoImports, waiting.ID); err != nil || ti.State != asynq.TaskStatePending {
		t.Errorf("the due import: %+v %v, want pending", ti, err)
	}
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
		`"queues":["testmo-imports"],"interval":"100ms"`,
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
	badTenants := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(badTenants, []byte(`{"acme":`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "config: VALKEY_URL: required but not set"},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_TZ": "Mars/Olympus", "HTTP_ADDR": ""}, `SCHEDULER_TZ: unknown time zone "Mars/Olympus"`},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_SYNC_INTERVAL": "soon"}, "config: SCHEDULER_SYNC_INTERVAL:"},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_FORWARD_QUEUES": "testmo-imports,imports"}, `config: SCHEDULER_FORWARD_QUEUES: unknown queue "imports"`},
		{map[string]string{"VALKEY_URL": url, "SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES": "0 25 * * *", "HTTP_ADDR": ""}, "SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES: cron \"0 25 * * *\""},
		{map[string]string{"VALKEY_URL": url, "MULTI_TENANT_MODE": "true", "TENANT_CONFIG_FILE": badTenants, "HTTP_ADDR": ""}, "TENANT_CONFIG_FILE " + badTenants + ": not a JSON object"},
		{map[string]string{"VALKEY_URL": url, "MULTI_TENANT_MODE": "true", "TENANT_CONFIGS": "[]", "HTTP_ADDR": ""}, "config: TENANT_CONFIGS:"},
	} {
		err := run(context.Background(), func(k string) string { return tt.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: err %v, want %q", tt.env, err, tt.want)
		}
	}
}

func TestRunEnqueuesEachOccurrenceForEveryTenant(t *testing.T) {
	opt, url := testenv.Redis(t)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tenantFile := filepath.Join(t.TempDir(), "tenants.json") // absent at start
	env := map[string]string{
		"VALKEY_URL":                              url,
		"HTTP_ADDR":                               "",
		"MULTI_TENANT_MODE":                       "true",
		"TENANT_CONFIGS":                          `{"acme":{"databaseUrl":"postgres://db/acme"},"globex":{"databaseUrl":"postgres://db/globex"}}`,
		"TENANT_CONFIG_FILE":                      tenantFile,
		"SCHEDULER_CRON_DIGEST_SWEEP":             "@every 1s",
		"SCHEDULER_CRON_NIGHTLY_FORECAST":         "off",
		"SCHEDULER_CRON_AUTO_COMPLETE_MILESTONES": "off",
		"SCHEDULER_CRON_MILESTONE_REMINDERS":      "off",
		"SCHEDULER_SYNC_INTERVAL":                 "100ms",
		"SCHEDULER_GRACE":                         "400ms",
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &logs) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return after cancel")
		}
	}()

	// tasks returns the pending digest sweeps by tenant, checking that each
	// carries its tenant in the payload and in the task ID.
	tasks := func() map[string][]string {
		t.Helper()
		list, err := insp.ListPendingTasks(task.QueueNotifications, asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, ti := range list {
			tenant, ok := schedule.TenantOf(ti.ID)
			if !ok || tenant == "" || !strings.HasPrefix(ti.ID, tenant+":schedule:digest-sweep:") {
				t.Fatalf("task ID %q: not a tenant's occurrence", ti.ID)
			}
			if want := `{"tenantId":"` + tenant + `"}`; string(ti.Payload) != want {
				t.Fatalf("task %s: payload %s, want %s", ti.ID, ti.Payload, want)
			}
			m[tenant] = append(m[tenant], ti.ID)
		}
		return m
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		m := tasks()
		return len(m["acme"]) >= 2 && len(m["globex"]) >= 2
	}, "occurrences of both tenants of TENANT_CONFIGS")
	if m := tasks(); len(m) != 2 {
		t.Fatalf("tenants with occurrences: %v", m)
	}
	if !strings.Contains(logs.String(), `"multi_tenant":true,"tenants":["acme","globex"],"tenant_config_file":"`+tenantFile+`"`) {
		t.Errorf("the start log does not name the tenants:\n%s", logs.String())
	}

	// A tenant added to the file gets its occurrences without a restart.
	tmp := tenantFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(`{"initech":{"databaseUrl":"postgres://db/initech"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, tenantFile); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(tasks()["initech"]) >= 2 }, "occurrences of the tenant added to TENANT_CONFIG_FILE")
	m := tasks()
	if len(m) != 3 {
		t.Fatalf("tenants with occurrences: %v", m)
	}
	// One task per occurrence and tenant: the same seconds for every tenant
	// served throughout.
	seconds := func(tenant string) []string {
		var s []string
		for _, id := range m[tenant] {
			s = append(s, strings.TrimPrefix(id, tenant+":"))
		}
		slices.Sort(s)
		return s
	}
	a, g := seconds("acme"), seconds("globex")
	if n := min(len(a), len(g)) - 1; !slices.Equal(a[:n], g[:n]) { // the last tick may be half-enqueued
		t.Errorf("acme %v and globex %v differ", a, g)
	}
	if !strings.Contains(logs.String(), `"msg":"scheduler tenants changed","service":"scheduler","tenants":["acme","globex","initech"],"added":["initech"]`) {
		t.Errorf("no log line for the added tenant:\n%s", logs.String())
	}
}
