package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"

	"github.com/testplanit/tpi-workers/internal/dashboard"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// enqueueDigests puts n digest sweeps with IDs d0..dn-1 in notifications.
func enqueueDigests(t *testing.T, env map[string]string, n int, extra ...string) {
	t.Helper()
	for i := range n {
		args := append([]string{"enqueue", task.TypeSendDailyDigest, `{}`, "--id", "d" + string(rune('0'+i))}, extra...)
		if _, err := runCLI(t, env, "", args...); err != nil {
			t.Fatal(err)
		}
	}
}

func queueInfo(t *testing.T, insp *asynq.Inspector, q string) *asynq.QueueInfo {
	t.Helper()
	qi, err := insp.GetQueueInfo(q)
	if err != nil {
		t.Fatal(err)
	}
	return qi
}

func TestRetryPromoteRemove(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	q := task.QueueNotifications

	enqueueDigests(t, env, 3)
	for _, id := range []string{"d0", "d1"} {
		if err := insp.ArchiveTask(q, id); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCLI(t, env, "", "retry", q, "d0"); err != nil || out != "notifications: task d0 will run now\n" {
		t.Fatalf("retry one: %q %v", out, err)
	}
	if qi := queueInfo(t, insp, q); qi.Archived != 1 || qi.Pending != 2 {
		t.Fatalf("after retry one: archived %d pending %d", qi.Archived, qi.Pending)
	}
	if out, err := runCLI(t, env, "", "retry", q, "--archived"); err != nil || !strings.Contains(out, "1 archived and 0 retrying tasks will run now") {
		t.Fatalf("retry archived: %q %v", out, err)
	}
	if qi := queueInfo(t, insp, q); qi.Archived != 0 || qi.Pending != 3 {
		t.Fatalf("after retry archived: archived %d pending %d", qi.Archived, qi.Pending)
	}
	if _, err := runCLI(t, env, "", "retry", q); err == nil || !strings.Contains(err.Error(), "usage: tpictl retry") {
		t.Fatalf("retry without target: %v", err)
	}

	// Promote a delayed task.
	if _, err := runCLI(t, env, "", "enqueue", task.TypeSendDailyDigest, `{}`, "--id", "later", "--in", "1h"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "", "promote", q, "d0"); err == nil || !strings.Contains(err.Error(), "is pending, not scheduled") {
		t.Fatalf("promote pending: %v", err)
	}
	if out, err := runCLI(t, env, "", "promote", q, "later"); err != nil || !strings.Contains(out, "task later will run now") {
		t.Fatalf("promote: %q %v", out, err)
	}
	if qi := queueInfo(t, insp, q); qi.Scheduled != 0 || qi.Pending != 4 {
		t.Fatalf("after promote: scheduled %d pending %d", qi.Scheduled, qi.Pending)
	}

	// Remove asks first; no answer means no.
	out, err := runCLI(t, env, "", "remove", q, "d2")
	if err == nil || !strings.Contains(err.Error(), "aborted") || !strings.Contains(out, "Remove the pending task d2 (notifications:send-daily-digest) from notifications? [y/N]") {
		t.Fatalf("remove without confirmation: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "n\n", "remove", q, "d2"); err == nil {
		t.Fatal("remove answered n went ahead")
	}
	if qi := queueInfo(t, insp, q); qi.Pending != 4 {
		t.Fatalf("remove without confirmation removed: pending %d", qi.Pending)
	}
	if out, err := runCLI(t, env, "y\n", "remove", q, "d2"); err != nil || !strings.HasSuffix(out, "notifications: task d2 removed\n") {
		t.Fatalf("remove confirmed: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "remove", q, "d1", "--yes"); err != nil || !strings.Contains(out, "task d1 removed") {
		t.Fatalf("remove --yes: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "remove", q, "nope", "--yes"); err == nil || !strings.Contains(err.Error(), "nope in notifications") {
		t.Fatalf("remove unknown: %v", err)
	}
	if _, err := runCLI(t, env, "", "remove", "nope", "x", "--yes"); err == nil || !strings.Contains(err.Error(), `unknown queue "nope"`) {
		t.Fatalf("remove in unknown queue: %v", err)
	}
}

func TestDeleteDrainObliterate(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	q := task.QueueNotifications

	enqueueDigests(t, env, 3)
	if _, err := runCLI(t, env, "", "enqueue", task.TypeSendDailyDigest, `{}`, "--id", "later", "--in", "1h"); err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(q, "d0"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, env, "", "delete", q, "archived"); err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("delete without confirmation: %v", err)
	}
	if out, err := runCLI(t, env, "yes\n", "delete", q, "archived"); err != nil || !strings.Contains(out, "notifications: 1 archived tasks deleted") {
		t.Fatalf("delete archived: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "delete", q, "active", "--yes"); err == nil || !strings.Contains(err.Error(), `unknown state "active"`) {
		t.Fatalf("delete active: %v", err)
	}
	if out, err := runCLI(t, env, "", "drain", q, "--yes"); err != nil || out != "notifications: drained 2 pending and 0 scheduled tasks\n" {
		t.Fatalf("drain: %q %v", out, err)
	}
	if qi := queueInfo(t, insp, q); qi.Scheduled != 1 {
		t.Fatalf("drain without --delayed removed the scheduled task")
	}
	if _, err := runCLI(t, env, "", "obliterate", q, "--yes"); err == nil || !strings.Contains(err.Error(), "not empty: add --force") {
		t.Fatalf("obliterate non-empty: %v", err)
	}
	if out, err := runCLI(t, env, "", "drain", q, "--delayed", "--yes"); err != nil || out != "notifications: drained 0 pending and 1 scheduled tasks\n" {
		t.Fatalf("drain --delayed: %q %v", out, err)
	}
	enqueueDigests(t, env, 1)
	if out, err := runCLI(t, env, "y\n", "obliterate", q, "--force"); err != nil || !strings.HasSuffix(out, "notifications obliterated\n") {
		t.Fatalf("obliterate: %q %v", out, err)
	}
	qs, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range qs {
		if name == q {
			t.Fatal("the queue still exists")
		}
	}
	if out, err := runCLI(t, env, "", "obliterate", q, "--yes"); err != nil || !strings.Contains(out, "nothing to obliterate") {
		t.Fatalf("obliterate again: %q %v", out, err)
	}
}

func TestCleanAndStats(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	q := task.QueueNotifications

	// A real worker completes three tasks and fails one for good.
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeSendDailyDigest, func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc(task.TypeCreateNotification, func(context.Context, *asynq.Task) error { return asynq.SkipRetry })
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	enqueueDigests(t, env, 3)
	if _, err := runCLI(t, env, "", "enqueue", task.TypeCreateNotification, `{"userId":"u","type":"WORK_ASSIGNED","title":"t"}`, "--id", "bad"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		qi := queueInfo(t, insp, q)
		return qi.Completed == 3 && qi.Archived == 1
	}, "three completed and one archived task")

	out, err := runCLI(t, env, "", "stats", q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"notifications: idle, latency", "concurrency from NOTIFICATION_CONCURRENCY (default 5)",
		"pending 0  active 0  scheduled 0  retry 0  archived 1  completed 3",
		"processed 4 (today 4)  failed 1 (today 1)", time.Now().UTC().Format(time.DateOnly),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCLI(t, env, "", "stats"); err != nil || !strings.Contains(out, "elasticsearch-reindex: no task yet") {
		t.Errorf("stats of all: %q %v", out, err)
	}

	// Nothing is older than an hour: a grace of 1h keeps everything.
	if out, err := runCLI(t, env, "", "clean", q, "--grace", "1h", "--yes"); err != nil || !strings.Contains(out, "removed 0 completed and 0 archived tasks") {
		t.Fatalf("clean with grace: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "clean", q, "--limit", "2", "--yes"); err != nil || !strings.Contains(out, "removed 2 completed and 1 archived tasks") {
		t.Fatalf("clean with limit: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "y\n", "clean", q); err != nil || !strings.Contains(out, "removed 1 completed and 0 archived tasks") {
		t.Fatalf("clean: %q %v", out, err)
	}
}

func TestTriggers(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	for _, tt := range []struct {
		args     []string
		taskType string
		payload  string
	}{
		{[]string{"forecast"}, task.TypeUpdateAllCasesForecast, `{}`},
		{[]string{"forecast:trigger", "--tenant", "acme"}, task.TypeUpdateAllCasesForecast, `{"tenantId":"acme"}`},
		{[]string{"auto-complete"}, task.TypeAutoCompleteMilestones, `{}`},
		{[]string{"milestone-reminders"}, task.TypeMilestoneDueNotifications, `{}`},
		{[]string{"digest"}, task.TypeSendDailyDigest, `{}`},
		{[]string{"elasticsearch:reindex"}, task.TypeReindex, `{"entityType":"all","userId":""}`},
		{[]string{"reindex", "--entity", "repositoryCases", "--project", "7", "--user", "u1"}, task.TypeReindex, `{"entityType":"repositoryCases","projectId":7,"userId":"u1"}`},
	} {
		out, err := runCLI(t, env, "", append([]string{"trigger"}, tt.args...)...)
		if err != nil || !strings.Contains(out, "triggered ") {
			t.Fatalf("trigger %v: %q %v", tt.args, out, err)
		}
		id := out[strings.LastIndex(out, "id=")+3 : len(out)-1]
		q, _ := task.QueueOf(tt.taskType)
		ti, err := insp.GetTaskInfo(q, id)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Type != tt.taskType || string(ti.Payload) != tt.payload {
			t.Errorf("trigger %v: %s %s, want %s %s", tt.args, ti.Type, ti.Payload, tt.taskType, tt.payload)
		}
	}
	if out, err := runCLI(t, env, "", "trigger", "digest", "--id", "manual-1"); err != nil || !strings.Contains(out, "id=manual-1") {
		t.Fatalf("%q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "trigger", "digest", "--id", "manual-1"); err != nil || !strings.Contains(out, "already triggered: task ID manual-1 exists") {
		t.Fatalf("%q %v", out, err)
	}
	// tpictl reindex [entityType] [--project N]: the same task.
	for _, tt := range []struct {
		args    []string
		payload string
	}{
		{[]string{"reindex"}, `{"entityType":"all","userId":""}`},
		{[]string{"reindex", "testRuns", "--project", "3", "--tenant", "acme"}, `{"entityType":"testRuns","projectId":3,"userId":"","tenantId":"acme"}`},
	} {
		out, err := runCLI(t, env, "", tt.args...)
		if err != nil || !strings.Contains(out, "triggered reindex") {
			t.Fatalf("%v: %q %v", tt.args, out, err)
		}
		id := out[strings.LastIndex(out, "id=")+3 : len(out)-1]
		q, _ := task.QueueOf(task.TypeReindex)
		ti, err := insp.GetTaskInfo(q, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(ti.Payload) != tt.payload {
			t.Errorf("%v: payload %s, want %s", tt.args, ti.Payload, tt.payload)
		}
	}
	if _, err := runCLI(t, env, "", "reindex", "widgets"); err == nil || !strings.Contains(err.Error(), `unknown entity type "widgets"`) {
		t.Fatalf("tpictl reindex widgets: %v", err)
	}
	if _, err := runCLI(t, env, "", "trigger", "reindex", "--entity", "widgets"); err == nil || !strings.Contains(err.Error(), `unknown entity type "widgets"`) {
		t.Fatalf("bad entity: %v", err)
	}
	out, err := runCLI(t, env, "", "trigger", "nightly")
	if err == nil || !strings.Contains(err.Error(), `unknown job "nightly"`) || !strings.Contains(out, "milestone-reminders") {
		t.Fatalf("unknown job: %q %v", out, err)
	}
}

func TestSchedulePrintsEntries(t *testing.T) {
	_, url := testenv.Redis(t)
	file := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(file, []byte("entries:\n  digest-sweep: {cron: \"*/30 * * * *\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VALKEY_URL": url, "SCHEDULER_TZ": "Europe/Paris", "SCHEDULER_CONFIG_FILE": file, "SCHEDULER_CRON_MILESTONE_REMINDERS": "off"}
	out, err := runCLI(t, env, "", "schedule", "--next", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nightly-forecast", "0 3 * * *", "Europe/Paris", "*/30 * * * *", "milestone-reminders", "off", "registered by running schedulers: 0 entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("schedule output lacks %q:\n%s", want, out)
		}
	}
	env["SCHEDULER_TZ"] = "Nowhere"
	if _, err := runCLI(t, env, "", "schedule"); err == nil || !strings.Contains(err.Error(), "SCHEDULER_TZ") {
		t.Fatalf("bad zone: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	out, err := runCLI(t, nil, "correct horse battery\n", "hash-password")
	if err != nil {
		t.Fatal(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("correct horse battery")) != nil {
		t.Fatalf("hash %q does not match", out)
	}
	if _, err := runCLI(t, nil, "short\n", "hash-password"); err == nil {
		t.Fatal("short password accepted")
	}
	if _, err := runCLI(t, nil, "", "hash-password"); err == nil || !strings.Contains(err.Error(), "no password on stdin") {
		t.Fatalf("empty stdin: %v", err)
	}
	out, err = runCLI(t, nil, "", "new-token")
	if err != nil {
		t.Fatal(err)
	}
	var tok, hash string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "token: "); ok {
			tok = v
		}
		if v, ok := strings.CutPrefix(l, "hash:  "); ok {
			hash = v
		}
	}
	if !strings.HasPrefix(tok, "tpiw_") || len(tok) < 40 || hash != dashboard.HashToken(tok) {
		t.Fatalf("token %q hash %q", tok, hash)
	}
}

func TestRemoveActiveTaskNeedsForce(t *testing.T) {
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	q := task.QueueNotifications
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeSendDailyDigest, func(ctx context.Context, _ *asynq.Task) error {
		<-ctx.Done() // runs until cancelled
		return ctx.Err()
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	enqueueDigests(t, env, 1)
	testenv.Eventually(t, 10*time.Second, func() bool { return queueInfo(t, insp, q).Active == 1 }, "the task to run")

	if _, err := runCLI(t, env, "", "remove", q, "d0", "--yes"); err == nil || !strings.Contains(err.Error(), "is active (a worker is running it): add --force") {
		t.Fatalf("remove active: %v", err)
	}
	out, err := runCLI(t, env, "", "remove", q, "d0", "--force", "--yes")
	if err != nil || !strings.Contains(out, "cancellation of running task d0 sent") {
		t.Fatalf("remove --force: %q %v", out, err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return queueInfo(t, insp, q).Active == 0 }, "the task cancelled")
	if out, err := runCLI(t, env, "", "remove", q, "d0", "--yes"); err != nil || !strings.Contains(out, "task d0 removed") {
		t.Fatalf("remove after cancel: %q %v", out, err)
	}
}
