package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// TestTaskStatusFollowsATask enqueues through the API and follows the task
// through a real asynq server: pending, active with its progress, completed
// with its result; another fails and is archived with its error.
func TestTaskStatusFollowsATask(t *testing.T) {
	var ropt asynq.RedisClientOpt
	e := newEnv(t, func(c *Config) { ropt = c.Redis.(asynq.RedisClientOpt) })
	get := func(path, token string) (int, TaskStatus, string) {
		t.Helper()
		code, _, b := e.do(t, req{path: path, token: token})
		var st TaskStatus
		if code == 200 {
			if err := json.Unmarshal([]byte(b), &st); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
		return code, st, b
	}
	post := func(body string) {
		t.Helper()
		if code, _, b := e.do(t, req{method: "POST", path: "/api/v1/tasks", body: body, ctype: "application/json", token: producerToken}); code != 201 {
			t.Fatalf("enqueue: %d %s", code, b)
		}
	}
	post(`{"type":"elasticsearch-reindex:reindex","payload":{"entityType":"projects","userId":"u1"},"options":{"taskId":"bullmq:7:1700000000000"}}`)
	post(`{"type":"notifications:send-daily-digest","payload":{},"options":{"taskId":"bullmq:8:1700000000000","maxRetry":0}}`)
	const ok, bad = "/api/v1/tasks/elasticsearch-reindex/bullmq:7:1700000000000", "/api/v1/tasks/notifications/bullmq:8:1700000000000"

	code, st, b := get(ok, producerToken)
	if code != 200 || st.State != "pending" || st.Type != task.TypeReindex || st.Attempts != 0 || st.Progress != nil || string(st.Result) != "null" {
		t.Fatalf("pending: %d %s", code, b)
	}
	if code, _, b := get(ok, viewerToken); code != 200 {
		t.Errorf("viewer: %d %s", code, b)
	}

	// A worker that publishes progress, waits for the test, then finishes.
	halfway, finish := make(chan struct{}), make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeReindex, func(ctx context.Context, tk *asynq.Task) error {
		if _, err := tk.ResultWriter().Write([]byte(`{"phase":"indexing","indexed":5,"total":10,"percentage":50}`)); err != nil {
			return err
		}
		close(halfway)
		<-finish
		_, err := tk.ResultWriter().Write([]byte(`{"phase":"done","indexed":10,"total":10,"percentage":100}`))
		return err
	})
	mux.HandleFunc(task.TypeSendDailyDigest, func(context.Context, *asynq.Task) error {
		return fmt.Errorf("smtp down: %w", asynq.SkipRetry)
	})
	srv := asynq.NewServer(ropt, asynq.Config{
		Queues:      map[string]int{task.QueueReindex: 1, task.QueueNotifications: 1},
		Concurrency: 2, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	<-halfway
	code, st, b = get(ok, producerToken)
	if code != 200 || st.State != "active" || st.Attempts != 1 || st.Progress == nil || *st.Progress != 50 {
		t.Fatalf("active: %d %s", code, b)
	}
	close(finish)
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, st, _ = get(ok, producerToken)
		return st.State == "completed"
	}, "the task completed")
	if st.Progress == nil || *st.Progress != 100 || string(st.Result) != `{"phase":"done","indexed":10,"total":10,"percentage":100}` ||
		st.CompletedAt == nil || st.CompletedAt.Location() != time.UTC || st.Error != "" {
		t.Errorf("completed: %+v (result %s)", st, st.Result)
	}

	testenv.Eventually(t, 10*time.Second, func() bool {
		_, st, _ = get(bad, producerToken)
		return st.State == "archived"
	}, "the failing task archived")
	if st.Attempts != 1 || st.MaxRetry != 0 || st.Error != "smtp down: skip retry for the task" || st.LastFailedAt == nil || string(st.Result) != "null" {
		t.Errorf("archived: %+v", st)
	}

	for _, c := range []struct {
		name, path, token string
		code              int
	}{
		{"unknown task", "/api/v1/tasks/notifications/bullmq:9:1", producerToken, 404},
		{"unknown queue", "/api/v1/tasks/nope/bullmq:7:1700000000000", producerToken, 404},
		{"malformed id", "/api/v1/tasks/notifications/a..b", producerToken, 400},
		{"no credentials", ok, "", 401},
		{"wrong token", ok, "nope", 401},
	} {
		if code, _, b := get(c.path, c.token); code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, c.code)
		}
	}
}

func TestProgressOf(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want float64 // -1: none
	}{
		{`{"percentage":42}`, 42},
		{`{"phase":"cases","processed":25,"total":200,"percent":12.5}`, 12.5},
		{`{"phase":"cases","processed":1,"total":3}`, 33.33},
		{`{"phase":"cases","processed":5}`, -1},
		{`{"percentage":140}`, 100},
		{`{"percent":-3}`, 0},
		{`{"sent":3}`, -1},
		{`[1,2]`, -1},
		{`not json`, -1},
	} {
		got := progressOf([]byte(c.doc))
		switch {
		case c.want < 0 && got != nil:
			t.Errorf("%s: %v, want none", c.doc, *got)
		case c.want >= 0 && (got == nil || *got != c.want):
			t.Errorf("%s: %v, want %v", c.doc, got, c.want)
		}
	}
}

// A store that cannot answer is a 503, not a 404: the intake then waits
// instead of failing the job.
func TestTaskStatusWhenValkeyIsDown(t *testing.T) {
	_, err := taskStatusFrom(failingInspector{}, task.QueueNotifications, "x")
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("err %v", err)
	}
	s, err := New(Config{Addr: ":8080", RootPath: "/admin/queues", Credentials: Credentials{AdminTokenHash: HashToken("a"), ProducerTokenHash: HashToken(producerToken)},
		Redis: asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	e := &env{url: hs.URL}
	if code, _, b := e.do(t, req{path: "/api/v1/tasks/notifications/x", token: producerToken}); code != 503 {
		t.Errorf("%d %s, want 503", code, b)
	}
}

type failingInspector struct{}

func (failingInspector) GetTaskInfo(string, string) (*asynq.TaskInfo, error) {
	return nil, errors.New("dial tcp: connection refused")
}
