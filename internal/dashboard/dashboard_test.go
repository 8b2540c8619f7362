package dashboard

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

const (
	adminToken    = "admin-token-0123456789abcdef0123456789"
	viewerToken   = "viewer-token-0123456789abcdef012345678"
	producerToken = "producer-token-0123456789abcdef0123456"
	// adminHash and viewerHash are bcrypt hashes at cost 10 (the least
	// Validate accepts) of "s3cret-admin" and "s3cret-viewer", made once:
	// hashing at cost 10 takes about a second under the race detector.
	adminHash  = "$2a$10$JZKFXckPWP0izbKOnDx9z.ylUDLF8wbPAcaRfQucl/M4AApz6Wp3u"
	viewerHash = "$2a$10$4xxRiAesi6nqgAvEZIl8F.wJg1nDV0qE885gVrQEnGqtA3tV3tK5m"
)

func testCredentials(t *testing.T) Credentials {
	return Credentials{
		AdminUser: "admin", AdminPasswordHash: adminHash,
		AdminTokenHash: HashToken(adminToken),
		ViewerUser:     "viewer", ViewerPasswordHash: viewerHash,
		ViewerTokenHash:   "sha256:" + HashToken(viewerToken),
		ProducerTokenHash: HashToken(producerToken),
	}
}

type env struct {
	url  string
	insp *asynq.Inspector
	srv  *Server
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	opt, _ := testenv.Redis(t)
	cfg := Config{Addr: ":8080", RootPath: "/admin/queues", Credentials: testCredentials(t), Redis: opt}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	return &env{url: hs.URL, insp: insp, srv: s}
}

type req struct {
	method, path, body, ctype string
	user, pass, token         string
	header                    map[string]string
}

func (e *env) do(t *testing.T, r req) (int, http.Header, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.user != "" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestValidateRefusesToRunUnprotected(t *testing.T) {
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}
	good := testCredentials(t)
	for _, tt := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"no credentials", Config{Addr: ":8080", RootPath: "/q", Redis: opt}, "config: DASHBOARD_PASSWORD_HASH: no dashboard credentials"},
		{"open on every interface", Config{Addr: ":8080", RootPath: "/q", Redis: opt, InsecureOpen: true}, "DASHBOARD_INSECURE_OPEN: refused because DASHBOARD_ADDR \":8080\" is not a loopback address"},
		{"open on a public address", Config{Addr: "10.0.0.5:8080", RootPath: "/q", Redis: opt, InsecureOpen: true}, "not a loopback address"},
		{"open on loopback", Config{Addr: "127.0.0.1:8080", RootPath: "/q", Redis: opt, InsecureOpen: true}, ""},
		{"open on localhost", Config{Addr: "localhost:8080", RootPath: "/q", Redis: opt, InsecureOpen: true}, ""},
		{"open on ::1", Config{Addr: "[::1]:8080", RootPath: "/q", Redis: opt, InsecureOpen: true}, ""},
		{"loopback is not enough", Config{Addr: "127.0.0.1:8080", RootPath: "/q", Redis: opt}, "no dashboard credentials"},
		{"plain password", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{AdminUser: "a", AdminPasswordHash: "hunter2"}}, "DASHBOARD_PASSWORD_HASH: not a bcrypt hash"},
		{"hash without user", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{AdminPasswordHash: good.AdminPasswordHash}}, "DASHBOARD_USER: required with DASHBOARD_PASSWORD_HASH"},
		{"bad token hash", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{AdminTokenHash: "abc"}}, "DASHBOARD_TOKEN_HASH: not a SHA-256 hex digest"},
		{"shared token", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{AdminTokenHash: HashToken("x"), ProducerTokenHash: HashToken("x")}}, "DASHBOARD_PRODUCER_TOKEN_HASH: the same token as DASHBOARD_TOKEN_HASH"},
		{"producer only", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{ProducerTokenHash: HashToken("x")}}, "no dashboard credentials"},
		{"viewer only", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{ViewerTokenHash: HashToken("x")}}, ""},
		{"token only", Config{Addr: ":8080", RootPath: "/q", Redis: opt, Credentials: Credentials{AdminTokenHash: HashToken("x")}}, ""},
		{"bad path", Config{Addr: ":8080", RootPath: "/api/v1", Redis: opt, Credentials: good}, "DASHBOARD_PATH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	page := "/admin/queues/"
	for _, tt := range []struct {
		name string
		r    req
		want int
	}{
		{"no credentials", req{path: page}, 401},
		{"wrong password", req{path: page, user: "admin", pass: "s3cret-viewer"}, 401},
		{"unknown user", req{path: page, user: "root", pass: "s3cret-admin"}, 401},
		{"wrong token", req{path: page, token: "nope"}, 401},
		{"garbage scheme", req{path: page, header: map[string]string{"Authorization": "Digest x"}}, 401},
		{"admin password", req{path: page, user: "admin", pass: "s3cret-admin"}, 200},
		{"admin password again (cached)", req{path: page, user: "admin", pass: "s3cret-admin"}, 200},
		{"admin token", req{path: page, token: adminToken}, 200},
		{"viewer password", req{path: page, user: "viewer", pass: "s3cret-viewer"}, 200},
		{"viewer token", req{path: page, token: viewerToken}, 200},
		{"producer token on the dashboard", req{path: page, token: producerToken}, 403},
		{"dashboard API without credentials", req{path: "/admin/queues/api/queues"}, 401},
		{"metrics without credentials", req{path: "/metrics"}, 401},
		{"metrics as producer", req{path: "/metrics", token: producerToken}, 403},
		{"metrics as viewer", req{path: "/metrics", token: viewerToken}, 200},
		{"manifest is public", req{path: "/admin/queues/manifest.json"}, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := e.do(t, tt.r)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("401 without a basic-auth challenge: %q", h.Get("WWW-Authenticate"))
			}
			if code == 200 && tt.r.path == page && !strings.Contains(body, "<div id=\"root\">") {
				t.Errorf("not the asynqmon page: %.200s", body)
			}
		})
	}
	// A wrong password is not remembered as right after a right one.
	if code, _, _ := e.do(t, req{path: page, user: "admin", pass: "s3cret-admin "}); code != 401 {
		t.Errorf("near-miss password: %d", code)
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	pause := "/admin/queues/api/queues/" + task.QueueNotifications + ":pause"
	seed := func(t *testing.T, e *env) {
		t.Helper()
		code, _, body := e.do(t, req{method: "POST", path: "/api/v1/tasks", token: producerToken, ctype: "application/json",
			body: `{"type":"notifications:send-daily-digest","payload":{}}`})
		if code != 201 {
			t.Fatalf("seed: %d %s", code, body)
		}
	}
	paused := func(t *testing.T, e *env) bool {
		t.Helper()
		qi, err := e.insp.GetQueueInfo(task.QueueNotifications)
		if err != nil {
			t.Fatal(err)
		}
		return qi.Paused
	}

	t.Run("viewer credential", func(t *testing.T) {
		e := newEnv(t, nil)
		seed(t, e)
		for _, r := range []req{
			{method: "POST", path: pause, user: "viewer", pass: "s3cret-viewer"},
			{method: "POST", path: pause, token: viewerToken},
			{method: "DELETE", path: "/admin/queues/api/queues/" + task.QueueNotifications + "/pending_tasks:delete_all", token: viewerToken},
		} {
			if code, _, body := e.do(t, r); code != 403 || !strings.Contains(body, "read-only") {
				t.Errorf("%s %s as viewer: %d %s", r.method, r.path, code, body)
			}
		}
		if paused(t, e) {
			t.Fatal("a viewer paused the queue")
		}
		// The viewer still reads.
		if code, _, body := e.do(t, req{path: "/admin/queues/api/queues", token: viewerToken}); code != 200 || !strings.Contains(body, `"queue":"notifications"`) {
			t.Errorf("viewer read: %d %s", code, body)
		}
		// The admin may write.
		if code, _, body := e.do(t, req{method: "POST", path: pause, user: "admin", pass: "s3cret-admin"}); code != 204 && code != 200 {
			t.Fatalf("admin pause: %d %s", code, body)
		}
		if !paused(t, e) {
			t.Fatal("the admin's pause did not pause")
		}
	})
	t.Run("read-only mode", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.ReadOnly = true })
		seed(t, e) // the enqueue API is not the dashboard: it still works
		if code, _, body := e.do(t, req{method: "POST", path: pause, token: adminToken}); code != 403 || !strings.Contains(body, "DASHBOARD_READ_ONLY") {
			t.Errorf("admin write in read-only mode: %d %s", code, body)
		}
		if paused(t, e) {
			t.Fatal("paused in read-only mode")
		}
		code, _, body := e.do(t, req{path: "/admin/queues/", token: adminToken})
		if code != 200 || !strings.Contains(body, "window.READ_ONLY = true") && !strings.Contains(body, "READ_ONLY") {
			t.Errorf("read-only page: %d %.300s", code, body)
		}
	})
	t.Run("cross-site request", func(t *testing.T) {
		e := newEnv(t, nil)
		seed(t, e)
		code, _, _ := e.do(t, req{method: "POST", path: pause, user: "admin", pass: "s3cret-admin",
			header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}})
		if code != 403 {
			t.Errorf("cross-site pause: %d", code)
		}
		if paused(t, e) {
			t.Fatal("a cross-site request paused the queue")
		}
	})
}

func TestEnqueueAPIErrors(t *testing.T) {
	e := newEnv(t, nil)
	const path = "/api/v1/tasks"
	valid := `{"type":"notifications:create-notification","payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"T","message":"M"}}`
	for _, tt := range []struct {
		name string
		r    req
		want int
		msg  string
	}{
		{"no token", req{method: "POST", body: valid, ctype: "application/json"}, 401, "missing or wrong bearer token"},
		{"wrong token", req{method: "POST", body: valid, ctype: "application/json", token: "nope"}, 401, "missing or wrong bearer token"},
		{"admin token", req{method: "POST", body: valid, ctype: "application/json", token: adminToken}, 403, "producer token"},
		{"admin basic auth", req{method: "POST", body: valid, ctype: "application/json", user: "admin", pass: "s3cret-admin"}, 403, "producer token"},
		{"viewer token", req{method: "POST", body: valid, ctype: "application/json", token: viewerToken}, 403, "producer token"},
		{"GET", req{token: producerToken}, 405, "use POST"},
		{"not JSON", req{method: "POST", body: valid, ctype: "text/plain", token: producerToken}, 415, "application/json"},
		{"too large", req{method: "POST", body: `{"type":"x","payload":{"a":"` + strings.Repeat("x", 2<<20) + `"}}`, ctype: "application/json", token: producerToken}, 413, "body larger than"},
		{"malformed", req{method: "POST", body: `{"type":`, ctype: "application/json", token: producerToken}, 400, "body:"},
		{"two objects", req{method: "POST", body: valid + valid, ctype: "application/json", token: producerToken}, 400, "one JSON object"},
		{"unknown field", req{method: "POST", body: `{"type":"notifications:send-daily-digest","data":{}}`, ctype: "application/json", token: producerToken}, 400, `unknown field "data"`},
		{"no type", req{method: "POST", body: `{"payload":{}}`, ctype: "application/json", token: producerToken}, 400, "type: required"},
		{"unknown type", req{method: "POST", body: `{"type":"notifications:process-user-notifications","payload":{}}`, ctype: "application/json", token: producerToken}, 400, `unknown task type "notifications:process-user-notifications"`},
		{"invalid payload", req{method: "POST", body: `{"type":"notifications:create-notification","payload":{"type":"WORK_ASSIGNED","title":"T"}}`, ctype: "application/json", token: producerToken}, 400, "invalid payload: userId: required"},
		{"payload of wrong kind", req{method: "POST", body: `{"type":"forecast-updates:update-single-case-forecast","payload":{"repositoryCaseId":"12"}}`, ctype: "application/json", token: producerToken}, 400, "repositoryCaseId: must be an integer"},
		{"unknown option", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"attempts":3}}`, ctype: "application/json", token: producerToken}, 400, `unknown field "attempts"`},
		{"maxRetry out of range", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"maxRetry":99}}`, ctype: "application/json", token: producerToken}, 400, "options.maxRetry: 99 is out of range"},
		{"bad timeout", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"timeout":"soon"}}`, ctype: "application/json", token: producerToken}, 400, `options.timeout: "soon"`},
		{"sub-second timeout", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"timeout":"500ms"}}`, ctype: "application/json", token: producerToken}, 400, "options.timeout"},
		{"bad retention", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"retention":"-1h"}}`, ctype: "application/json", token: producerToken}, 400, "options.retention"},
		{"delay and processAt", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"delay":10,"processAt":"2030-01-01T00:00:00Z"}}`, ctype: "application/json", token: producerToken}, 400, "not both"},
		{"negative delay", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"delay":-5}}`, ctype: "application/json", token: producerToken}, 400, "options.delay"},
		{"bad processAt", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"processAt":"tomorrow"}}`, ctype: "application/json", token: producerToken}, 400, "body:"},
		{"blank taskId", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"taskId":"   "}}`, ctype: "application/json", token: producerToken}, 400, "options.taskId"},
		{"taskId with spaces", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"taskId":"a b"}}`, ctype: "application/json", token: producerToken}, 400, "options.taskId: must not contain spaces"},
		{"taskId and jobId differ", req{method: "POST", body: `{"type":"notifications:send-daily-digest","options":{"taskId":"a","jobId":"b"}}`, ctype: "application/json", token: producerToken}, 400, "taskId and jobId differ"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.path = path
			code, _, body := e.do(t, tt.r)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			var eb errorBody
			if err := json.Unmarshal([]byte(body), &eb); err != nil || !strings.Contains(eb.Error, tt.msg) {
				t.Fatalf("body %s, want an error containing %q", body, tt.msg)
			}
		})
	}
	// Nothing was enqueued by any of them.
	for _, q := range task.Queues() {
		if qi, err := e.insp.GetQueueInfo(q.Name); err == nil && qi.Size > 0 {
			t.Errorf("queue %s holds %d tasks", q.Name, qi.Size)
		}
	}
}

func TestEnqueueAPIEnqueuesIdempotently(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"type":"notifications:create-notification",
	  "payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"Assigned","message":"M","data":{"projectId":1}},
	  "options":{"jobId":"assign-42","maxRetry":4,"timeout":"90s","retention":"48h"}}`
	post := func() (int, EnqueueResponse) {
		code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", body: body, ctype: "application/json; charset=utf-8", token: producerToken})
		var r EnqueueResponse
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatalf("%d %s", code, b)
		}
		return code, r
	}
	code, r := post()
	if code != 201 || r.ID != "assign-42" || r.Queue != task.QueueNotifications || r.State != "pending" || r.Duplicate {
		t.Fatalf("first: %d %+v", code, r)
	}
	code, r = post()
	if code != 200 || !r.Duplicate || r.ID != "assign-42" {
		t.Fatalf("second: %d %+v", code, r)
	}
	ti, err := e.insp.GetTaskInfo(task.QueueNotifications, "assign-42")
	if err != nil {
		t.Fatal(err)
	}
	if ti.MaxRetry != task.MaxRetry(4).Value().(int) || ti.Timeout != 90*time.Second || ti.Retention != 48*time.Hour || !strings.Contains(string(ti.Payload), `"title":"Assigned"`) {
		t.Errorf("task %+v", ti)
	}
	if qi, _ := e.insp.GetQueueInfo(task.QueueNotifications); qi.Size != 1 {
		t.Errorf("queue size %d, want 1", qi.Size)
	}
	// Without an ID each call is a new task; a delay schedules it.
	code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", ctype: "application/json", token: producerToken,
		body: `{"type":"elasticsearch-reindex:reindex","payload":{"entityType":"projects","userId":"u1"},"options":{"delay":60000}}`})
	if code != 201 || !strings.Contains(b, `"state":"scheduled"`) {
		t.Fatalf("delayed: %d %s", code, b)
	}
}

func TestEnqueueAPIWhenValkeyIsDown(t *testing.T) {
	s, err := New(Config{Addr: ":8080", RootPath: "/admin/queues", Credentials: Credentials{AdminTokenHash: HashToken("a"), ProducerTokenHash: HashToken(producerToken)},
		Redis: asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	e := &env{url: hs.URL}
	code, _, body := e.do(t, req{method: "POST", path: "/api/v1/tasks", ctype: "application/json", token: producerToken,
		body: `{"type":"notifications:send-daily-digest"}`})
	if code != 503 || !strings.Contains(body, "retry later") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestMetricsExposeQueueMetrics(t *testing.T) {
	e := newEnv(t, nil)
	for range 3 {
		if code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", ctype: "application/json", token: producerToken,
			body: `{"type":"emails:send-notification-email","payload":{"notificationId":"n1","userId":"u1"}}`}); code != 201 && code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	code, _, body := e.do(t, req{path: "/metrics", user: "viewer", pass: "s3cret-viewer"})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{
		`asynq_queue_size{queue="emails"} 1`, // one task: the contract's per-notification ID deduplicated the others
		`asynq_tasks_enqueued_total{queue="emails",state="pending"} 1`,
		`asynq_queue_latency_seconds{queue="emails"}`,
		`asynq_tasks_processed_total{queue="emails"} 0`,
		`asynq_tasks_failed_total{queue="emails"} 0`,
		`tpi_enqueue_api_requests_total{code="201"} 1`,
		`tpi_enqueue_api_requests_total{code="200"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestInsecureOpenOnLoopback(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Addr = "127.0.0.1:0"; c.InsecureOpen = true; c.Credentials = Credentials{} })
	if code, _, _ := e.do(t, req{path: "/admin/queues/"}); code != 200 {
		t.Errorf("open dashboard: %d", code)
	}
	if code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", ctype: "application/json", body: `{"type":"notifications:send-daily-digest"}`}); code != 201 {
		t.Errorf("open enqueue: %d %s", code, b)
	}
	if code, h, _ := e.do(t, req{path: "/"}); code != 200 || h == nil {
		t.Errorf("root redirect: %d", code)
	}
}

// post sends an enqueue request with the producer token and decodes the
// answer: an EnqueueResponse, or the error message.
func (e *env) post(t *testing.T, body string) (int, EnqueueResponse, string) {
	t.Helper()
	code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", body: body, ctype: "application/json", token: producerToken})
	var r EnqueueResponse
	var eb errorBody
	if code >= 300 {
		if err := json.Unmarshal([]byte(b), &eb); err != nil {
			t.Fatalf("%d %s", code, b)
		}
		return code, r, eb.Error
	}
	if err := json.Unmarshal([]byte(b), &r); err != nil {
		t.Fatalf("%d %s", code, b)
	}
	return code, r, ""
}

func TestEnqueueAPIAnswersADuplicateWithTheContractID(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range []struct{ body, id string }{
		{`{"type":"emails:send-notification-email","payload":{"notificationId":"n1","userId":"u1"}}`, "email:notification:n1"},
		// The tenant is part of the contract's ID.
		{`{"type":"emails:send-notification-email","tenant":"acme","payload":{"notificationId":"n1","userId":"u1"}}`, "acme:email:notification:n1"},
	} {
		code, r, msg := e.post(t, tt.body)
		if code != 201 || r.ID != tt.id || r.Duplicate {
			t.Fatalf("first: %d %+v %s", code, r, msg)
		}
		code, r, msg = e.post(t, tt.body)
		if code != 200 || r.ID != tt.id || !r.Duplicate || r.Queue != task.QueueEmails || r.Type != task.TypeSendNotificationEmail {
			t.Fatalf("second: %d %+v %s, want 200 with id %s and duplicate", code, r, msg, tt.id)
		}
	}
	if qi, _ := e.insp.GetQueueInfo(task.QueueEmails); qi.Size != 2 {
		t.Errorf("queue size %d, want 2", qi.Size)
	}
}

func TestEnqueueAPITenantField(t *testing.T) {
	e := newEnv(t, nil)
	code, r, msg := e.post(t, `{"type":"notifications:create-notification","tenant":"acme",
		"payload":{"userId":"u1","type":"WORK_ASSIGNED","title":"<b>T</b>","message":"M"},"options":{"jobId":"n-1"}}`)
	if code != 201 || r.ID != "n-1" {
		t.Fatalf("%d %+v %s", code, r, msg)
	}
	ti, err := e.insp.GetTaskInfo(task.QueueNotifications, "n-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"message":"M","tenantId":"acme","title":"<b>T</b>","type":"WORK_ASSIGNED","userId":"u1"}`; string(ti.Payload) != want {
		t.Errorf("payload %s, want %s", ti.Payload, want)
	}
	// The payload may name the tenant itself, or name the same one.
	for _, body := range []string{
		`{"type":"notifications:send-daily-digest","payload":{"tenantId":"acme"}}`,
		`{"type":"notifications:send-daily-digest","tenant":"acme","payload":{"tenantId":"acme"}}`,
		`{"type":"notifications:send-daily-digest","tenant":"acme"}`,
	} {
		if code, r, msg := e.post(t, body); code != 201 {
			t.Errorf("%s: %d %+v %s", body, code, r, msg)
		}
	}
	for _, tt := range []struct{ body, want string }{
		{`{"type":"notifications:send-daily-digest","tenant":"acme","payload":{"tenantId":"globex"}}`, `tenant "acme": the payload names another tenant (tenantId "globex")`},
		{`{"type":"notifications:send-daily-digest","tenant":"acme","payload":{"tenantId":7}}`, "payload.tenantId: must be a string"},
		{`{"type":"notifications:send-daily-digest","tenant":"acme","payload":[1]}`, "payload: a JSON object is needed"},
		{`{"type":"notifications:send-daily-digest","tenant":7}`, "body:"},
	} {
		if code, _, msg := e.post(t, tt.body); code != 400 || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %q, want 400 %q", tt.body, code, msg, tt.want)
		}
	}
}

func TestEnqueueAPIRefusesTasksOfOtherTenants(t *testing.T) {
	multi := tenant.Settings{MultiTenant: true, File: filepath.Join(t.TempDir(), "none.json"), Inline: map[string]tenant.Config{
		"acme": {DatabaseURL: "postgres://db/acme"}, "globex": {DatabaseURL: "postgres://db/globex"},
	}}
	single := tenant.Settings{InstanceID: "acme"}
	const digest = `{"type":"notifications:send-daily-digest"`
	for _, tt := range []struct {
		name     string
		settings tenant.Settings
		body     string
		want     string // "" = accepted
	}{
		{"multi: tenant field", multi, digest + `,"tenant":"acme"}`, ""},
		{"multi: tenant in the payload", multi, digest + `,"payload":{"tenantId":"globex"}}`, ""},
		{"multi: no tenant", multi, digest + `}`, `the task has no tenantId (MULTI_TENANT_MODE is on): give "tenant" or payload.tenantId`},
		{"multi: unknown tenant", multi, digest + `,"tenant":"initech"}`, `unknown tenant "initech"`},
		{"multi: unknown tenant in the payload", multi, digest + `,"payload":{"tenantId":"initech"}}`, `unknown tenant "initech"`},
		{"single: the instance's tenant", single, digest + `,"tenant":"acme"}`, ""},
		{"single: no tenant", single, digest + `}`, ""},
		{"single: another tenant", single, digest + `,"tenant":"globex"}`, `the task names tenant "globex", this instance serves "acme" (INSTANCE_TENANT_ID)`},
		{"single without INSTANCE_TENANT_ID: any tenant", tenant.Settings{}, digest + `,"tenant":"globex"}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Tenants = tt.settings })
			code, r, msg := e.post(t, tt.body)
			switch {
			case tt.want == "" && code != 201:
				t.Fatalf("%d %s, want 201", code, msg)
			case tt.want != "" && (code != 400 || !strings.Contains(msg, tt.want)):
				t.Fatalf("%d %+v %q, want 400 %q", code, r, msg, tt.want)
			}
			if qi, err := e.insp.GetQueueInfo(task.QueueNotifications); tt.want != "" && err == nil && qi.Size > 0 {
				t.Errorf("a refused task was enqueued")
			}
		})
	}
}

func TestNewRefusesAMalformedTenantFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenants.json")
	if err := os.WriteFile(file, []byte(`{"acme":`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: ":8080", RootPath: "/admin/queues", Credentials: Credentials{AdminTokenHash: HashToken("a")},
		Redis: asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}, Tenants: tenant.Settings{MultiTenant: true, File: file}}
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "TENANT_CONFIG_FILE "+file) {
		t.Fatalf("err %v", err)
	}
}
