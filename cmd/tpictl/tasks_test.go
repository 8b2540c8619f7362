package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// tasksFixture fills notifications with a pending, a scheduled and two
// archived tasks: "gone", refused at its first attempt by a real server with
// a permanent error, and "legacy", archived with the suffix older workers
// stored. It returns the CLI's environment, an inspector and a client.
func tasksFixture(t *testing.T) (map[string]string, *asynq.Inspector, *asynq.Client) {
	t.Helper()
	opt, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	insp, client := asynq.NewInspector(opt), asynq.NewClient(opt)
	t.Cleanup(func() { insp.Close(); client.Close() })
	q := task.QueueNotifications

	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeCreateNotification, func(context.Context, *asynq.Task) error {
		return worker.Permanent(errors.New("user ghost does not exist"))
	})
	mux.HandleFunc(task.TypeSendDailyDigest, func(context.Context, *asynq.Task) error {
		return fmt.Errorf("%w: %w", errors.New("digest refused"), asynq.SkipRetry) // as older workers stored it
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"enqueue", task.TypeCreateNotification, `{"userId":"ghost","type":"WORK_ASSIGNED","title":"t","tenantId":"acme"}`, "--id", "gone"},
		{"enqueue", task.TypeSendDailyDigest, `{}`, "--id", "legacy"},
	} {
		if _, err := runCLI(t, env, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		qi, err := insp.GetQueueInfo(q)
		return err == nil && qi.Archived == 2
	}, "two archived tasks")
	srv.Shutdown()

	for _, args := range [][]string{
		{"enqueue", task.TypeSendDailyDigest, `{}`, "--id", "waiting"},
		{"enqueue", task.TypeSendDailyDigest, `{}`, "--id", "later", "--in", "1h"},
	} {
		if _, err := runCLI(t, env, "", args...); err != nil {
			t.Fatal(err)
		}
	}
	return env, insp, client
}

func TestTasksListsEveryState(t *testing.T) {
	env, _, _ := tasksFixture(t)
	out, err := runCLI(t, env, "", "tasks", task.QueueNotifications)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("want a header and four tasks:\n%s", out)
	}
	// Lifecycle order (pending, scheduled, archived; two tasks archived in
	// the same second have no order); attempts as retried/maxRetry; the
	// reason without asynq's suffix; the tenant of the payload.
	today := time.Now().UTC().Format("2006-01-02T")
	for i, want := range [][]string{
		{"waiting ", "send-daily-digest", "pending", " 0/"},
		{"later ", "scheduled", "next " + time.Now().UTC().Add(time.Hour).Format("2006-01-02T15")},
		{"archived", " 0/", "failed " + today},
		{"archived", " 0/", "failed " + today},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d lacks %q: %q", i+1, w, lines[i+1])
			}
		}
	}
	for _, want := range []string{
		`(?m)^legacy +send-daily-digest +archived +0/\d+ +- +failed \S+ +digest refused$`,
		`(?m)^gone +create-notification +archived +0/\d+ +acme +failed \S+ +user ghost does not exist$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no line matches %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "skip retry") {
		t.Errorf("asynq's suffix shown:\n%s", out)
	}
	// Aligned: the STATE column starts at the same offset on every line.
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("STATE column not at %d in %q", col, l)
		}
	}
}

func TestTasksStateAndLimit(t *testing.T) {
	env, _, _ := tasksFixture(t)
	out, err := runCLI(t, env, "", "tasks", task.QueueNotifications, "--state", "archived", "--limit", "1")
	if err != nil {
		t.Fatal(err)
	}
	// One archived task, and a note on the other.
	if strings.Contains(out, "gone ") == strings.Contains(out, "legacy ") || strings.Contains(out, "waiting") ||
		!strings.Contains(out, "archived: 1 of 2 shown, newest first (--state archived --limit 2 for all)") {
		t.Errorf("tasks --state archived --limit 1:\n%s", out)
	}
	if out, err := runCLI(t, env, "", "tasks", task.QueueNotifications, "--state", "retry"); err != nil || out != "notifications: no retry task\n" {
		t.Errorf("no retry task: %q %v", out, err)
	}
	if out, err := runCLI(t, env, "", "tasks", task.QueueReindex); err != nil || out != "elasticsearch-reindex: no task yet\n" {
		t.Errorf("untouched queue: %q %v", out, err)
	}
	if _, err := runCLI(t, env, "", "tasks", task.QueueNotifications, "--state", "dead"); err == nil || !strings.Contains(err.Error(), `unknown state "dead"`) {
		t.Errorf("unknown state: %v", err)
	}
	if _, err := runCLI(t, env, "", "tasks", task.QueueNotifications, "--limit", "0"); err == nil || !strings.Contains(err.Error(), "usage: tpictl tasks <queue>") {
		t.Errorf("limit 0: %v", err)
	}
}

func TestTasksUnknownQueue(t *testing.T) {
	_, url := testenv.Redis(t)
	env := map[string]string{"VALKEY_URL": url}
	for _, args := range [][]string{{"tasks", "mail"}, {"task", "mail", "x"}} {
		_, err := runCLI(t, env, "", args...)
		if err == nil || !strings.Contains(err.Error(), `unknown queue "mail"`) {
			t.Errorf("%v: %v", args, err)
			continue
		}
		for _, q := range task.Queues() {
			if !strings.Contains(err.Error(), q.Name) {
				t.Errorf("%v: the error does not list %s: %v", args, q.Name, err)
			}
		}
	}
}

func TestTaskShowsOneTask(t *testing.T) {
	env, _, client := tasksFixture(t)
	q := task.QueueNotifications
	out, err := runCLI(t, env, "", "task", q, "gone")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"id:          gone\n", "type:        notifications:create-notification\n", "state:       archived\n",
		"tenant:      acme\n", "retried:     0 of ", "last failed: " + time.Now().UTC().Format("2006-01-02T"),
		"last error: user ghost does not exist\n", "payload: {\n  \"tenantId\": \"acme\",\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("task lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCLI(t, env, "", "task", q, "legacy"); err != nil || !strings.Contains(out, "last error: digest refused\n") {
		t.Errorf("an old task's reason keeps its suffix: %q %v", out, err)
	}

	// Secrets in the payload, at any depth, under any case, never shown.
	secret := asynq.NewTask(task.TypeCreateNotification, []byte(
		`{"password":"hunter2","nested":{"apiToken":"x-tok-1","deeper":[{"Client_Secret":"s3cr3t"}]},`+
			`"data":"{\"refreshToken\":\"rt-77\"}","url":"https://bob:pa55word@jira.example/rest","tenantId":"acme"}`))
	if _, err := client.Enqueue(secret, asynq.Queue(q), asynq.TaskID("secret")); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, env, "", "task", q, "secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"hunter2", "x-tok-1", "s3cr3t", "rt-77", "pa55word"} {
		if strings.Contains(out, leak) {
			t.Errorf("secret %q shown:\n%s", leak, out)
		}
	}
	for _, want := range []string{`"password": "[redacted]"`, `"apiToken": "[redacted]"`, `"Client_Secret": "[redacted]"`,
		`"data": "{\"refreshToken\":\"[redacted]\"}"`, `"url": "https://bob:[redacted]@jira.example/rest"`, `"tenantId": "acme"`} {
		if !strings.Contains(out, want) {
			t.Errorf("task lacks %s:\n%s", want, out)
		}
	}

	// A payload that is not JSON is not shown at all.
	raw := asynq.NewTask(task.TypeCreateNotification, []byte("password=hunter2"))
	if _, err := client.Enqueue(raw, asynq.Queue(q), asynq.TaskID("raw")); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, env, "", "task", q, "raw"); err != nil || strings.Contains(out, "hunter2") || !strings.Contains(out, "payload: (16 bytes, not JSON)\n") {
		t.Errorf("non-JSON payload: %q %v", out, err)
	}

	// A completed task's progress, as the runtime's progress writer left it.
	opt := redisOpt(t, env)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{task.QueueEmails: 1}, LogLevel: asynq.FatalLevel, TaskCheckInterval: 10 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeSendDigestEmail, func(_ context.Context, t *asynq.Task) error {
		return worker.NewProgress(t.ResultWriter(), nil, 0).Done("sending", 3, 3, "sent with token=abc123456")
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	sent := asynq.NewTask(task.TypeSendDigestEmail, []byte(`{"userId":"u1","tenantId":"acme"}`))
	if _, err := client.Enqueue(sent, asynq.Queue(task.QueueEmails), asynq.TaskID("sent"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		out, err = runCLI(t, env, "", "task", task.QueueEmails, "sent")
		return err == nil && strings.Contains(out, "state:     completed")
	}, "digest email not completed")
	for _, want := range []string{"completed: " + time.Now().UTC().Format("2006-01-02T"), "progress: {\n", `"phase": "sending"`,
		`"processed": 3`, `"message": "sent with token=[redacted]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("completed task lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "abc123456") {
		t.Errorf("secret shown in the progress:\n%s", out)
	}

	if _, err := runCLI(t, env, "", "task", q, "nope"); err == nil || !strings.Contains(err.Error(), `no task "nope" in queue notifications`) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := runCLI(t, env, "", "task", task.QueueReindex, "nope"); err == nil || !strings.Contains(err.Error(), `no task "nope" in queue elasticsearch-reindex`) {
		t.Errorf("unknown id in an untouched queue: %v", err)
	}
	if _, err := runCLI(t, env, "", "task", q); err == nil || !strings.Contains(err.Error(), "usage: tpictl task <queue> <task-id>") {
		t.Errorf("missing id: %v", err)
	}
}

// redisOpt returns the connection options of env's VALKEY_URL.
func redisOpt(t *testing.T, env map[string]string) asynq.RedisConnOpt {
	t.Helper()
	opt, err := worker.ParseValkeyURL(env["VALKEY_URL"])
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

func TestSecretKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "PASSWORD": true, "newPassword": true, "token": true, "apiToken": true, "access_token": true,
		"refreshToken": true, "secret": true, "client-secret": true, "apiKey": true, "api_key": true, "X-Api-Key": true,
		"credentials": true, "Authorization": true, "cookie": true, "Set-Cookie": true, "auth": true, "privateKey": true,
		"userId": false, "tenantId": false, "issueKey": false, "title": false, "url": false, "author": false, "data": false,
	} {
		if got := isSecretKey(key); got != want {
			t.Errorf("isSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		"dial postgres://app:s3cret@db:5432/tpi: refused":        "dial postgres://app:[redacted]@db:5432/tpi: refused",
		"GET https://jira.example/rest?api_key=abc&x=1 failed":   "GET https://jira.example/rest?api_key=[redacted]&x=1 failed",
		"sent Authorization: Bearer abcdefghijklmnop":            "sent Authorization: Bearer [redacted]",
		"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature":    "jwt [redacted]",
		"github said 401 for ghp_0123456789abcdefghijABCDEFGHIJ": "github said 401 for [redacted]",
		"user ghost does not exist":                              "user ghost does not exist",
		"invalid payload: apiKey: required":                      "invalid payload: apiKey: required",
	} {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDocument(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "(empty)"},
		{`password=hunter2`, "(16 bytes, not JSON)"},
		{`{"a":1} {"b":2}`, "(15 bytes, not JSON)"},
		{`{"Token":{"value":"x"},"n":12345678901234567890,"html":"<b>&</b>"}`, "{\n  \"Token\": \"[redacted]\",\n  \"html\": \"<b>&</b>\",\n  \"n\": 12345678901234567890\n}"},
		{`[{"cookie":"c"},"plain"]`, "[\n  {\n    \"cookie\": \"[redacted]\"\n  },\n  \"plain\"\n]"},
	} {
		if got := document([]byte(tc.in)); got != tc.want {
			t.Errorf("document(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !isProgress([]byte(`{"phase":"x","processed":1,"updatedAt":"2025-01-01T00:00:00Z"}`)) || isProgress([]byte(`{"phase":"x"}`)) || isProgress([]byte(`[]`)) {
		t.Error("isProgress")
	}
}

// Whatever the payload, what is shown is JSON or a byte count, and no value
// under a secret-named key survives.
func FuzzRedactJSON(f *testing.F) {
	for _, s := range []string{`{"password":"hunter2","nested":{"apiToken":"x"}}`, `[1,"a",{"b":null}]`, `"{\"token\":\"t\"}"`, `nope`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok := redactJSON(b, "")
		if !ok {
			return
		}
		v, ok := decodeJSON([]byte(out))
		if !ok {
			t.Fatalf("redacted output is not JSON: %q", out)
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, e := range v {
					if isSecretKey(k) && e != redacted {
						t.Fatalf("%q kept %v in %q", k, e, out)
					}
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(v)
	})
}

// newest pages to the end of an oldest-first listing and returns its last
// tasks, newest first.
func TestNewest(t *testing.T) {
	for _, tc := range []struct{ n, limit int }{{0, 3}, {1, 3}, {3, 3}, {5, 2}, {7, 3}, {10, 1}, {4, 10}} {
		var calls int
		list := func(opts ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
			calls++
			// asynq's defaults; its option types are unexported ints.
			size, page := 30, 1
			for _, o := range opts {
				switch fmt.Sprintf("%T", o) {
				case "asynq.pageSizeOpt":
					size = int(reflect.ValueOf(o).Int())
				case "asynq.pageNumOpt":
					page = int(reflect.ValueOf(o).Int())
				}
			}
			var ts []*asynq.TaskInfo
			for i := (page - 1) * size; i < min(page*size, tc.n); i++ {
				ts = append(ts, &asynq.TaskInfo{ID: fmt.Sprint(i)})
			}
			return ts, nil
		}
		got, err := newest(list, tc.n, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids, want []string
		for _, ti := range got {
			ids = append(ids, ti.ID)
		}
		for i := tc.n - 1; i >= max(tc.n-tc.limit, 0); i-- {
			want = append(want, fmt.Sprint(i))
		}
		if !slices.Equal(ids, want) || calls > 2 {
			t.Errorf("n %d limit %d: %v in %d calls, want %v in at most 2", tc.n, tc.limit, ids, calls, want)
		}
	}
}
