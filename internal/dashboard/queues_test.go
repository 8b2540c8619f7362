package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"golang.org/x/net/html"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// actionHeader is what the page's script sends with each action.
func actionHeader() map[string]string { return map[string]string{csrfHeader: "tpi-dashboard"} }

// newQueuesEnv is newEnv that also returns the Valkey options, to enqueue
// and run tasks beside the dashboard.
func newQueuesEnv(t *testing.T, mutate func(*Config)) (*env, asynq.RedisConnOpt) {
	t.Helper()
	var opt asynq.RedisConnOpt
	e := newEnv(t, func(c *Config) {
		opt = c.Redis
		if mutate != nil {
			mutate(c)
		}
	})
	return e, opt
}

// listQueues calls GET /api/v1/queues with r's credentials and decodes it.
func (e *env) listQueues(t *testing.T, r req) QueuesResponse {
	t.Helper()
	r.path = queuesAPIPath
	code, _, body := e.do(t, r)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", queuesAPIPath, code, body)
	}
	var resp QueuesResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("GET %s: %v in %s", queuesAPIPath, err, body)
	}
	return resp
}

func (e *env) queue(t *testing.T, name string) QueueSummary {
	t.Helper()
	for _, q := range e.listQueues(t, req{token: adminToken}).Queues {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("queue %s not listed", name)
	return QueueSummary{}
}

// emptyRow is the row of a queue that never held a task.
func emptyRow(name string, configured int) QueueSummary {
	spec, _ := task.LookupQueue(name)
	return QueueSummary{Name: name, Status: StatusIdle, Link: "/admin/queues/queues/" + name,
		Concurrency: Concurrency{Configured: configured, Env: spec.ConcurrencyEnv}}
}

func TestQueuesAPIListsTheSevenQueuesOnAnEmptyStore(t *testing.T) {
	e, _ := newQueuesEnv(t, func(c *Config) { c.QueueConcurrency = map[string]int{task.QueueEmails: 7} })
	before := time.Now().Add(-time.Second)
	got := e.listQueues(t, req{token: viewerToken})
	want := []QueueSummary{
		emptyRow(task.QueueForecast, 5),
		emptyRow(task.QueueNotifications, 5),
		emptyRow(task.QueueEmails, 7),
		emptyRow(task.QueueIssueSync, 2),
		emptyRow(task.QueueTestmoImports, 1),
		emptyRow(task.QueueReindex, 2),
		emptyRow(task.QueueAuditLogs, 3),
	}
	if diff := cmp.Diff(want, got.Queues); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}
	if got.Actions {
		t.Error("a viewer is offered the actions")
	}
	if got.RefreshedAt.Before(before) || got.RefreshedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("refreshedAt %v", got.RefreshedAt)
	}
	if !e.listQueues(t, req{user: "admin", pass: "s3cret-admin"}).Actions {
		t.Error("the admin is not offered the actions")
	}

	// The JSON keys producers and the page's script rely on.
	_, _, body := e.do(t, req{path: queuesAPIPath, token: viewerToken})
	var raw struct {
		Queues      []map[string]json.RawMessage `json:"queues"`
		RefreshedAt string                       `json:"refreshedAt"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Queues) != 7 || raw.RefreshedAt == "" {
		t.Fatalf("body %s: %v", body, err)
	}
	for _, k := range []string{"name", "registered", "paused", "status", "concurrency", "waiting", "active", "completed", "failed", "delayed", "retrying", "link"} {
		if _, ok := raw.Queues[0][k]; !ok {
			t.Errorf("key %q missing from %s", k, body)
		}
	}
	if c := string(raw.Queues[0]["concurrency"]); c != `{"configured":5,"env":"FORECAST_CONCURRENCY","live":0,"servers":0}` {
		t.Errorf("concurrency %s", c)
	}
}

// startWorker runs an asynq server on queues with a handler per task type, shut
// down at cleanup. Tasks of type "block" run until the test ends.
func startWorker(t *testing.T, opt asynq.RedisConnOpt, concurrency int, queues ...string) {
	t.Helper()
	qs := map[string]int{}
	for _, q := range queues {
		qs[q] = 1
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: concurrency, Queues: qs, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond,
		// A failed attempt waits an hour for its retry: it stays "retry".
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("test:done", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("test:fail", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("permanent: %w", asynq.SkipRetry)
	})
	mux.HandleFunc("test:retry", func(context.Context, *asynq.Task) error { return errors.New("transient") })
	release := make(chan struct{})
	mux.HandleFunc("test:block", func(ctx context.Context, _ *asynq.Task) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Cleanup(func() { close(release) }) // runs first: the blocked task ends
}

func enqueue(t *testing.T, client *asynq.Client, typ, queue string, opts ...asynq.Option) *asynq.TaskInfo {
	t.Helper()
	info, err := client.Enqueue(asynq.NewTask(typ, nil), append([]asynq.Option{asynq.Queue(queue)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestQueuesAPICountsTasksAndLiveConcurrency(t *testing.T) {
	e, opt := newQueuesEnv(t, nil)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })

	// notifications: a worker process of two fetch loops (3 + 2 slots)
	// completes one task, archives one, leaves one retrying and runs one.
	startWorker(t, opt, 3, task.QueueNotifications)
	startWorker(t, opt, 2, task.QueueNotifications)
	enqueue(t, client, "test:done", task.QueueNotifications, asynq.Retention(time.Hour))
	enqueue(t, client, "test:fail", task.QueueNotifications, asynq.MaxRetry(3))
	enqueue(t, client, "test:retry", task.QueueNotifications, asynq.MaxRetry(3))
	enqueue(t, client, "test:block", task.QueueNotifications)
	// emails: no worker; two waiting, one scheduled, one archived by hand.
	enqueue(t, client, "test:done", task.QueueEmails)
	enqueue(t, client, "test:done", task.QueueEmails)
	enqueue(t, client, "test:done", task.QueueEmails, asynq.ProcessIn(time.Hour))
	archived := enqueue(t, client, "test:done", task.QueueEmails)
	if err := e.insp.ArchiveTask(task.QueueEmails, archived.ID); err != nil {
		t.Fatal(err)
	}

	var got QueuesResponse
	testenv.Eventually(t, 15*time.Second, func() bool {
		got = e.listQueues(t, req{token: adminToken})
		n := got.Queues[1]
		return n.Completed == 1 && n.Failed == 1 && n.Retrying == 1 && n.Active == 1 && n.Concurrency.Live == 5
	}, "the worker to process the notifications tasks; last %+v", &got)

	notifications := emptyRow(task.QueueNotifications, 5)
	notifications.Registered = true
	notifications.Status = StatusActive
	notifications.Concurrency.Live, notifications.Concurrency.Servers = 5, 2
	notifications.Active, notifications.Completed, notifications.Failed, notifications.Delayed, notifications.Retrying = 1, 1, 1, 1, 1
	emails := emptyRow(task.QueueEmails, 3)
	emails.Registered = true
	emails.Waiting, emails.Delayed, emails.Failed = 2, 1, 1
	want := []QueueSummary{
		emptyRow(task.QueueForecast, 5),
		notifications,
		emails,
		emptyRow(task.QueueIssueSync, 2),
		emptyRow(task.QueueTestmoImports, 1),
		emptyRow(task.QueueReindex, 2),
		emptyRow(task.QueueAuditLogs, 3),
	}
	if diff := cmp.Diff(want, got.Queues); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}

	// A paused queue shows paused, even with a task running.
	code, _, body := e.do(t, req{method: "POST", path: queuesAPIPath + "/notifications/pause", token: adminToken, header: actionHeader()})
	if code != http.StatusOK {
		t.Fatalf("pause: %d %s", code, body)
	}
	if q := e.queue(t, task.QueueNotifications); q.Status != StatusPaused || !q.Paused || q.Active != 1 {
		t.Errorf("paused queue: %+v", q)
	}
}

func TestQueueActionsNeedAnAdminAndTheHeader(t *testing.T) {
	e, opt := newQueuesEnv(t, nil)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	enqueue(t, client, "test:done", task.QueueNotifications)
	pause := queuesAPIPath + "/" + task.QueueNotifications + "/pause"
	for _, tt := range []struct {
		name string
		r    req
		want int
		msg  string
	}{
		{"list without credentials", req{path: queuesAPIPath}, 401, "unauthorized"},
		{"list with a wrong token", req{path: queuesAPIPath, token: "nope"}, 401, "unauthorized"},
		{"list as producer", req{path: queuesAPIPath, token: producerToken}, 403, "admin or viewer"},
		{"list with POST", req{method: "POST", path: queuesAPIPath, token: adminToken, header: actionHeader()}, 405, "use GET"},
		{"pause without credentials", req{method: "POST", path: pause, header: actionHeader()}, 401, "unauthorized"},
		{"pause as viewer", req{method: "POST", path: pause, user: "viewer", pass: "s3cret-viewer", header: actionHeader()}, 403, "only an admin"},
		{"pause as viewer token", req{method: "POST", path: pause, token: viewerToken, header: actionHeader()}, 403, "only an admin"},
		{"pause as producer", req{method: "POST", path: pause, token: producerToken, header: actionHeader()}, 403, "only an admin"},
		{"pause without the header", req{method: "POST", path: pause, user: "admin", pass: "s3cret-admin"}, 403, "X-Requested-With"},
		{"pause cross-site", req{method: "POST", path: pause, user: "admin", pass: "s3cret-admin",
			header: map[string]string{csrfHeader: "x", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin"},
		{"pause from another origin", req{method: "POST", path: pause, token: adminToken,
			header: map[string]string{csrfHeader: "x", "Origin": "https://evil.example"}}, 403, "cross-origin"},
		{"pause with GET", req{path: pause, token: adminToken, header: actionHeader()}, 405, "use POST"},
		{"unknown queue", req{method: "POST", path: queuesAPIPath + "/audit-log/pause", token: adminToken, header: actionHeader()}, 404, `unknown queue "audit-log"`},
		{"unknown action", req{method: "POST", path: queuesAPIPath + "/emails/drain", token: adminToken, header: actionHeader()}, 404, `unknown action "drain"`},
		{"pause a queue without tasks", req{method: "POST", path: queuesAPIPath + "/emails/pause", token: adminToken, header: actionHeader()}, 409, "no task yet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := e.do(t, tt.r)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			var eb errorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil || !strings.Contains(eb.Error, tt.msg) {
				t.Fatalf("body %s, want a JSON error containing %q", body, tt.msg)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Basic realm="TestPlanIt Job Queues"`) {
				t.Errorf("401 without the dashboard's basic-auth challenge: %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	if q := e.queue(t, task.QueueNotifications); q.Paused {
		t.Fatal("a refused request paused the queue")
	}

	// The admin pauses and resumes; each twice, which is no error.
	for _, step := range []struct {
		action string
		paused bool
	}{{"pause", true}, {"pause", true}, {"resume", false}, {"resume", false}} {
		code, _, body := e.do(t, req{method: "POST", path: queuesAPIPath + "/notifications/" + step.action,
			user: "admin", pass: "s3cret-admin", header: actionHeader()})
		var resp QueueActionResponse
		if code != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
			t.Fatalf("%s: %d %s", step.action, code, body)
		}
		if resp.Action != step.action || resp.Queue.Name != task.QueueNotifications || resp.Queue.Paused != step.paused {
			t.Errorf("%s answered %+v", step.action, resp)
		}
		info, err := e.insp.GetQueueInfo(task.QueueNotifications)
		if err != nil || info.Paused != step.paused {
			t.Fatalf("after %s: asynq says paused=%v (%v)", step.action, info != nil && info.Paused, err)
		}
	}
	// Resuming a queue asynq does not know yet is nothing to do.
	if code, _, body := e.do(t, req{method: "POST", path: queuesAPIPath + "/emails/resume", token: adminToken, header: actionHeader()}); code != http.StatusOK {
		t.Errorf("resume an unknown queue: %d %s", code, body)
	}
}

func TestQueueCleanDemandsConfirmation(t *testing.T) {
	e, opt := newQueuesEnv(t, nil)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	startWorker(t, opt, 2, task.QueueNotifications)
	enqueue(t, client, "test:done", task.QueueNotifications, asynq.Retention(time.Hour))
	enqueue(t, client, "test:done", task.QueueNotifications, asynq.Retention(time.Hour))
	enqueue(t, client, "test:fail", task.QueueNotifications)
	enqueue(t, client, "test:retry", task.QueueNotifications, asynq.MaxRetry(2))
	testenv.Eventually(t, 15*time.Second, func() bool {
		q := e.queue(t, task.QueueNotifications)
		return q.Completed == 2 && q.Failed == 1 && q.Retrying == 1
	}, "the worker to complete, archive and retry")
	// A waiting task (the worker no longer fetches once paused).
	if err := e.insp.PauseQueue(task.QueueNotifications); err != nil {
		t.Fatal(err)
	}
	enqueue(t, client, "test:done", task.QueueNotifications)

	clean := queuesAPIPath + "/notifications/clean"
	for _, tt := range []struct {
		name, ctype, body string
	}{
		{"no body", "", ""},
		{"no confirmation", "application/json", `{}`},
		{"confirmed false", "application/json", `{"confirm":false}`},
		{"another queue", "application/json", `{"confirm":"emails"}`},
		{"not JSON", "text/plain", `{"confirm":"notifications"}`},
		{"malformed", "application/json", `{"confirm":`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := e.do(t, req{method: "POST", path: clean, token: adminToken, header: actionHeader(), ctype: tt.ctype, body: tt.body})
			if code != http.StatusBadRequest || !strings.Contains(body, `confirm with the body {\"confirm\":\"notifications\"}`) && !strings.Contains(body, "reading body") {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if q := e.queue(t, task.QueueNotifications); q.Completed != 2 || q.Failed != 1 {
		t.Fatalf("an unconfirmed clean deleted tasks: %+v", q)
	}
	// A viewer cannot clean even with the confirmation.
	if code, _, body := e.do(t, req{method: "POST", path: clean, token: viewerToken, header: actionHeader(), ctype: "application/json",
		body: `{"confirm":"notifications"}`}); code != http.StatusForbidden {
		t.Fatalf("viewer clean: %d %s", code, body)
	}

	code, _, body := e.do(t, req{method: "POST", path: clean, user: "admin", pass: "s3cret-admin", header: actionHeader(),
		ctype: "application/json", body: `{"confirm":"notifications"}`})
	var resp QueueActionResponse
	if code != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
		t.Fatalf("clean: %d %s", code, body)
	}
	if diff := cmp.Diff(&CleanCounts{Completed: 2, Failed: 1}, resp.Deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	// Waiting and retrying (delayed) tasks stay.
	q := resp.Queue
	if q.Completed != 0 || q.Failed != 0 || q.Waiting != 1 || q.Delayed != 1 || q.Retrying != 1 || !q.Paused {
		t.Errorf("after clean: %+v", q)
	}
	// Cleaning a queue asynq does not know yet deletes nothing.
	code, _, body = e.do(t, req{method: "POST", path: queuesAPIPath + "/emails/clean", token: adminToken, header: actionHeader(),
		ctype: "application/json", body: `{"confirm":"emails"}`})
	if code != http.StatusOK || !strings.Contains(body, `"deleted":{"completed":0,"failed":0}`) {
		t.Errorf("clean an unknown queue: %d %s", code, body)
	}
}

func TestQueueActionsInReadOnlyMode(t *testing.T) {
	e, opt := newQueuesEnv(t, func(c *Config) { c.ReadOnly = true })
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	enqueue(t, client, "test:done", task.QueueEmails)
	for _, action := range []string{"pause", "clean"} {
		code, _, body := e.do(t, req{method: "POST", path: queuesAPIPath + "/emails/" + action, token: adminToken, header: actionHeader(),
			ctype: "application/json", body: `{"confirm":"emails"}`})
		if code != http.StatusForbidden || !strings.Contains(body, "DASHBOARD_READ_ONLY") {
			t.Errorf("%s in read-only mode: %d %s", action, code, body)
		}
	}
	got := e.listQueues(t, req{token: adminToken})
	if got.Actions || got.Queues[2].Paused || got.Queues[2].Waiting != 1 {
		t.Errorf("read-only: %+v", got)
	}
}

func TestQueuesAPIWhenValkeyIsDown(t *testing.T) {
	s, err := New(Config{Addr: ":8080", RootPath: "/admin/queues", Credentials: Credentials{AdminTokenHash: HashToken(adminToken)},
		Redis: asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	e := &env{url: hs.URL}
	for _, r := range []req{
		{path: queuesAPIPath, token: adminToken},
		{method: "POST", path: queuesAPIPath + "/emails/pause", token: adminToken, header: actionHeader()},
	} {
		if code, _, body := e.do(t, r); code != http.StatusServiceUnavailable || !strings.Contains(body, "retry later") {
			t.Errorf("%s %s: %d %s", r.method, r.path, code, body)
		}
	}
	if code, _, _ := e.do(t, req{path: "/admin/queues/overview", token: adminToken}); code != http.StatusServiceUnavailable {
		t.Errorf("page: %d", code)
	}
}

// parsedPage is what a test reads of the Job Queues page: its rows' queue
// names, cells and buttons, and every violation of a script-src 'self'
// style-src 'self' policy.
type parsedPage struct {
	rows     []string
	cells    map[string]map[string]string // queue → data-field → text
	buttons  map[string][]string          // queue → data-action (with "!" when disabled)
	links    map[string]string            // queue → the name's link
	notice   string
	inline   []string
	scripts  []string
	sheets   []string
	dataAttr map[string]string // #queues's data-* attributes
}

func parsePage(t *testing.T, body string) parsedPage {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	p := parsedPage{cells: map[string]map[string]string{}, buttons: map[string][]string{}, links: map[string]string{}, dataAttr: map[string]string{}}
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := range n.ChildNodes() {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var row string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
					p.inline = append(p.inline, n.Data+" "+a.Key)
				}
				if n.Data == "main" && strings.HasPrefix(a.Key, "data-") {
					p.dataAttr[a.Key] = a.Val
				}
			}
			switch n.Data {
			case "style":
				p.inline = append(p.inline, "<style>")
			case "script":
				src, ok := attr(n, "src")
				if !ok {
					p.inline = append(p.inline, "<script> without src")
				}
				p.scripts = append(p.scripts, src)
			case "link":
				if rel, _ := attr(n, "rel"); rel == "stylesheet" {
					href, _ := attr(n, "href")
					p.sheets = append(p.sheets, href)
				}
			case "tr":
				if q, ok := attr(n, "data-queue"); ok {
					row = q
					p.rows = append(p.rows, q)
					p.cells[q] = map[string]string{}
				}
			case "a":
				if href, _ := attr(n, "href"); row != "" && p.links[row] == "" {
					p.links[row] = href
				}
			case "button":
				a, _ := attr(n, "data-action")
				if _, disabled := attr(n, "disabled"); disabled {
					a += "!"
				}
				p.buttons[row] = append(p.buttons[row], a)
			case "p":
				if id, _ := attr(n, "id"); id == "read-only" {
					p.notice = text(n)
				}
			}
			if f, ok := attr(n, "data-field"); ok && row != "" {
				p.cells[row][f] = strings.TrimSpace(text(n))
			}
		}
		for c := range n.ChildNodes() {
			walk(c)
		}
	}
	walk(doc)
	return p
}

func TestJobQueuesPage(t *testing.T) {
	e, opt := newQueuesEnv(t, func(c *Config) { c.QueueConcurrency = map[string]int{task.QueueIssueSync: 4} })
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	enqueue(t, client, "test:done", task.QueueEmails)
	enqueue(t, client, "test:done", task.QueueEmails)
	if err := e.insp.PauseQueue(task.QueueEmails); err != nil {
		t.Fatal(err)
	}
	const page = "/admin/queues/overview"

	t.Run("admin", func(t *testing.T) {
		code, h, body := e.do(t, req{path: page, user: "admin", pass: "s3cret-admin"})
		if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%d %s: %.300s", code, h.Get("Content-Type"), body)
		}
		p := parsePage(t, body)
		if diff := cmp.Diff(pageOrder(), p.rows); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if len(p.inline) > 0 {
			t.Errorf("inline script or style (refused by the Content-Security-Policy): %v", p.inline)
		}
		if diff := cmp.Diff([]string{"/admin/queues/overview/assets/queues.js"}, p.scripts); diff != "" {
			t.Errorf("scripts: %s", diff)
		}
		if diff := cmp.Diff([]string{"/admin/queues/overview/assets/queues.css"}, p.sheets); diff != "" {
			t.Errorf("style sheets: %s", diff)
		}
		if diff := cmp.Diff(map[string]string{"data-api": "/api/v1/queues", "data-refresh": "10000", "data-actions": "true"}, p.dataAttr); diff != "" {
			t.Errorf("#queues data (-want +got):\n%s", diff)
		}
		wantCells := map[string]map[string]string{
			task.QueueEmails:    {"status": "Paused", "configured": "3", "live": "—", "waiting": "2", "active": "0", "completed": "0", "failed": "0", "delayed": "0"},
			task.QueueIssueSync: {"status": "Idle", "configured": "4", "live": "—", "waiting": "0", "active": "0", "completed": "0", "failed": "0", "delayed": "0"},
		}
		for q, want := range wantCells {
			if diff := cmp.Diff(want, p.cells[q]); diff != "" {
				t.Errorf("%s cells (-want +got):\n%s", q, diff)
			}
		}
		wantButtons := map[string][]string{}
		for _, q := range pageOrder() {
			wantButtons[q] = []string{"pause!", "clean"} // no task yet: cannot pause
		}
		wantButtons[task.QueueEmails] = []string{"resume", "clean"}
		if diff := cmp.Diff(wantButtons, p.buttons); diff != "" {
			t.Errorf("buttons (-want +got):\n%s", diff)
		}
		if got := p.links[task.QueueReindex]; got != "/admin/queues/queues/elasticsearch-reindex" {
			t.Errorf("asynqmon link %q", got)
		}
		if p.notice != "" {
			t.Errorf("admin sees a read-only notice: %q", p.notice)
		}
	})
	t.Run("viewer", func(t *testing.T) {
		code, _, body := e.do(t, req{path: page, user: "viewer", pass: "s3cret-viewer"})
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		p := parsePage(t, body)
		if len(p.rows) != 7 || len(p.buttons) != 0 || !strings.Contains(p.notice, "may view") || p.dataAttr["data-actions"] != "false" {
			t.Errorf("viewer page: rows %v, buttons %v, notice %q, data %v", p.rows, p.buttons, p.notice, p.dataAttr)
		}
		if !strings.Contains(body, "EMAIL_CONCURRENCY") || !strings.Contains(body, "Delayed") {
			t.Error("the page lacks its explanations")
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, r := range []req{{path: page}, {path: page, token: producerToken}} {
			if code, _, _ := e.do(t, r); code != http.StatusUnauthorized && code != http.StatusForbidden {
				t.Errorf("token %q: %d", r.token, code)
			}
		}
	})
	t.Run("assets", func(t *testing.T) {
		// Public, like asynqmon's own static files: they hold no data.
		for path, ctype := range map[string]string{
			"/admin/queues/overview/assets/queues.js":  "text/javascript",
			"/admin/queues/overview/assets/queues.css": "text/css",
		} {
			code, h, body := e.do(t, req{path: path})
			if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), ctype) || len(body) < 500 {
				t.Errorf("%s: %d %q %d bytes", path, code, h.Get("Content-Type"), len(body))
			}
		}
		if code, _, _ := e.do(t, req{path: "/admin/queues/overview/assets/queues.html"}); code != http.StatusNotFound {
			t.Errorf("the template is served: %d", code)
		}
	})
	t.Run("asynqmon still serves its views", func(t *testing.T) {
		code, _, body := e.do(t, req{path: "/admin/queues/queues/emails", token: viewerToken})
		if code != http.StatusOK || !strings.Contains(body, `<div id="root">`) {
			t.Errorf("%d %.200s", code, body)
		}
	})
	t.Run("root redirects to the page", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(e.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != page {
			t.Errorf("%d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestJobQueuesPageInReadOnlyMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReadOnly = true })
	code, _, body := e.do(t, req{path: "/admin/queues/overview", token: adminToken})
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	p := parsePage(t, body)
	if len(p.rows) != 7 || len(p.buttons) != 0 || !strings.Contains(p.notice, "DASHBOARD_READ_ONLY") {
		t.Errorf("read-only page: rows %v, buttons %v, notice %q", p.rows, p.buttons, p.notice)
	}
}

func TestLoadConfigReadsTheWorkersConcurrency(t *testing.T) {
	vars := map[string]string{"EMAIL_CONCURRENCY": "9", "SYNC_CONCURRENCY": " 4 "}
	env := config.NewEnv(func(k string) string { return vars[k] })
	cfg := LoadConfig(env, worker.Config{})
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{task.QueueNotifications: 5, task.QueueEmails: 9, task.QueueForecast: 5,
		task.QueueIssueSync: 4, task.QueueTestmoImports: 1, task.QueueReindex: 2, task.QueueAuditLogs: 3}
	if diff := cmp.Diff(want, cfg.QueueConcurrency); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A value the workers would refuse is refused here too.
	vars = map[string]string{"TESTMO_IMPORT_CONCURRENCY": "0"}
	env = config.NewEnv(func(k string) string { return vars[k] })
	LoadConfig(env, worker.Config{})
	if err := env.Err(); err == nil || !strings.Contains(err.Error(), "TESTMO_IMPORT_CONCURRENCY") {
		t.Errorf("err %v", err)
	}
}
