package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestEnqueueValidatesThenEnqueues(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}

	out, err := runCLI(t, env, "", "enqueue", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":12}`, "--id", "case-12")
	if err != nil || !strings.Contains(out, "enqueued forecast-updates:update-single-case-forecast on forecast-updates: id=case-12") {
		t.Fatalf("out %q err %v", out, err)
	}
	out, err = runCLI(t, env, "", "enqueue", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":12}`, "--id", "case-12")
	if err != nil || !strings.Contains(out, "already enqueued") {
		t.Fatalf("duplicate id: out %q err %v", out, err)
	}
	_, err = runCLI(t, env, "", "enqueue", task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":"x"}`)
	if err == nil || !strings.Contains(err.Error(), "invalid payload: repositoryCaseId") {
		t.Fatalf("bad payload err %v", err)
	}
	_, err = runCLI(t, env, "", "enqueue", "forecast-updates:nope", `{}`)
	if err == nil || !strings.Contains(err.Error(), "unknown task type") {
		t.Fatalf("unknown type err %v", err)
	}

	insp := asynq.NewInspector(opt)
	defer insp.Close()
	ti, err := insp.GetTaskInfo(task.QueueForecast, "case-12")
	defaults, _ := task.DefaultOptions(task.TypeUpdateSingleCaseForecast, nil)
	if err != nil || ti.State != asynq.TaskStatePending || task.FailureRetries(ti.MaxRetry) != defaults.MaxRetry {
		t.Fatalf("task %+v %v", ti, err)
	}
}

func TestQueuesPauseResume(t *testing.T) {
	_, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	if _, err := runCLI(t, env, "", "enqueue", task.TypeSendDailyDigest, `{}`); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, env, "", "pause", "notifications"); err != nil || out != "notifications paused\n" {
		t.Fatalf("pause: %q %v", out, err)
	}
	out, err := runCLI(t, env, "", "queues")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range task.Queues() {
		if !strings.Contains(out, q.Name) {
			t.Errorf("queues output misses %s:\n%s", q.Name, out)
		}
	}
	line := lineWith(out, "notifications")
	if f := strings.Fields(line); len(f) < 3 || f[1] != "paused" || f[2] != "1" {
		t.Errorf("notifications line %q, want paused with 1 pending", line)
	}
	if out, err := runCLI(t, env, "", "resume", "notifications"); err != nil || out != "notifications resumed\n" {
		t.Fatalf("resume: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "pause", "nope"); err == nil || !strings.Contains(err.Error(), `unknown queue "nope"`) {
		t.Fatalf("unknown queue err %v", err)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	_, err := runCLI(t, map[string]string{}, "", "queues")
	if err == nil || err.Error() != "config: VALKEY_URL: required but not set" {
		t.Fatalf("err %v", err)
	}
	_, err = runCLI(t, map[string]string{}, "", "migrate")
	if err == nil || err.Error() != "config: DATABASE_URL: required but not set" {
		t.Fatalf("err %v", err)
	}
	_, err = runCLI(t, map[string]string{}, "", "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("err %v", err)
	}
}

func TestMigrateWorkerOnlyAndSeed(t *testing.T) {
	_, url := testenv.EmptyPostgres(t)
	env := map[string]string{"DATABASE_URL": url}
	out, err := runCLI(t, env, "", "migrate", "--mode", "worker-only")
	if err != nil || !strings.Contains(out, "migrations applied (worker)") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "seed"); err == nil {
		t.Fatal("seed succeeded on a database without TestPlanIt's tables")
	}
	if out, err := runCLI(t, env, "", "migrate"); err != nil || !strings.Contains(out, "migrations applied (all)") {
		t.Fatalf("migrate all: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "seed"); err != nil || !strings.Contains(out, "demo data loaded") {
		t.Fatalf("seed: %q %v", out, err)
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}

func TestEnqueueTenant(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()

	out, err := runCLI(t, env, "", "enqueue", task.TypeCreateNotification, `{"userId":"u1","type":"WORK_ASSIGNED","title":"T"}`, "--tenant", "acme", "--id", "n-1")
	if err != nil || !strings.Contains(out, "id=n-1") {
		t.Fatalf("%q %v", out, err)
	}
	ti, err := insp.GetTaskInfo(task.QueueNotifications, "n-1")
	if err != nil || string(ti.Payload) != `{"tenantId":"acme","title":"T","type":"WORK_ASSIGNED","userId":"u1"}` {
		t.Fatalf("task %s %v", ti.Payload, err)
	}
	if _, err := runCLI(t, env, "", "enqueue", task.TypeSendDailyDigest, `{"tenantId":"acme"}`, "--tenant", "acme"); err != nil {
		t.Fatalf("the same tenant twice: %v", err)
	}
	_, err = runCLI(t, env, "", "enqueue", task.TypeSendDailyDigest, `{"tenantId":"globex"}`, "--tenant", "acme")
	if err == nil || !strings.Contains(err.Error(), `tenant "acme": the payload names another tenant (tenantId "globex")`) {
		t.Fatalf("another tenant: %v", err)
	}
	// A duplicate names the contract's ID, which carries the tenant.
	for i, want := range []string{"enqueued emails:send-notification-email on emails: id=acme:email:notification:n1",
		"already enqueued: emails:send-notification-email (task ID acme:email:notification:n1 exists)"} {
		out, err := runCLI(t, env, "", "enqueue", task.TypeSendNotificationEmail, `{"notificationId":"n1","userId":"u1"}`, "--tenant", "acme")
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("enqueue %d: %q %v, want %q", i, out, err, want)
		}
	}
}

func TestTenantsAreCheckedAgainstTheEnvironment(t *testing.T) {
	_, url := testenv.Redis(t)
	multi := map[string]string{"VALKEY_URL": url, "MULTI_TENANT_MODE": "true",
		"TENANT_CONFIG_FILE": filepath.Join(t.TempDir(), "none.json"), "TENANT_CONFIGS": `{"acme":{"databaseUrl":"postgres://db/acme"}}`}
	single := map[string]string{"VALKEY_URL": url, "INSTANCE_TENANT_ID": "acme"}
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string // "" = accepted
	}{
		{multi, []string{"trigger", "forecast", "--tenant", "acme"}, ""},
		{multi, []string{"enqueue", task.TypeSendDailyDigest, `{"tenantId":"acme"}`}, ""},
		{multi, []string{"trigger", "forecast"}, "trigger forecast: tenant: the task has no tenantId (MULTI_TENANT_MODE is on): give --tenant"},
		{multi, []string{"trigger", "reindex", "--tenant", "initech"}, `unknown tenant "initech"`},
		{multi, []string{"enqueue", task.TypeSendDailyDigest, `{}`}, "give --tenant"},
		{multi, []string{"enqueue", task.TypeSendDailyDigest, `{}`, "--tenant", "initech"}, `unknown tenant "initech"`},
		{single, []string{"trigger", "digest"}, ""},
		{single, []string{"trigger", "digest", "--tenant", "acme"}, ""},
		{single, []string{"trigger", "digest", "--tenant", "globex"}, `the task names tenant "globex", this instance serves "acme" (INSTANCE_TENANT_ID)`},
		{single, []string{"enqueue", task.TypeSendDailyDigest, `{}`, "--tenant", "globex"}, `this instance serves "acme"`},
	} {
		out, err := runCLI(t, tt.env, "", tt.args...)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: %q %v, want an error with %q", tt.args, out, err, tt.want)
		}
	}
	out, err := runCLI(t, multi, "", "schedule")
	if err != nil || !strings.Contains(out, "each occurrence is enqueued once per tenant (task ID <tenant>:schedule:<entry>:<time>): acme") {
		t.Errorf("schedule: %q %v", out, err)
	}
}
