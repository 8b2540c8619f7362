package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// logSink is a JSON log sink safe for the server's concurrent writers.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the logged records, decoded.
func (s *logSink) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.buf.Bytes()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// A task refused at its first attempt is archived with the handler's reason
// alone, and the worker logs it once as "task archived" (with tenant, reason
// and retries), never as asynq's "Retry exhausted": no retry happened. A task
// whose failure budget is spent is logged the same way, as exhausted.
func TestArchivedTaskLoggedWithItsReason(t *testing.T) {
	var logs logSink
	mux := asynq.NewServeMux()
	mux.HandleFunc(testType, func(_ context.Context, t *asynq.Task) error {
		p, err := task.Decode[task.UpdateSingleCaseForecast](t)
		if err != nil {
			return err
		}
		if p.RepositoryCaseID == 9 {
			return worker.Permanent(errors.New("case 9 does not exist"))
		}
		return errors.New("database is down")
	})
	h := start(t, mux, func(a *worker.App) {
		a.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) // info: asynq's warnings pass
	})
	refused := h.enqueue(`{"repositoryCaseId":9,"tenantId":"acme"}`, task.MaxRetry(5))
	spent := h.enqueue(`{"repositoryCaseId":10}`, task.MaxRetry(0))

	archived := func(id string) *asynq.TaskInfo {
		t.Helper()
		var ti *asynq.TaskInfo
		testenv.Eventually(t, 10*time.Second, func() bool {
			var err error
			ti, err = h.insp.GetTaskInfo(testQueue, id)
			return err == nil && ti.State == asynq.TaskStateArchived
		}, "task %s not archived", id)
		return ti
	}
	if ti := archived(refused.ID); ti.LastErr != "case 9 does not exist" || ti.Retried != 0 {
		t.Errorf("archived after %d retries with %q, want at once with %q", ti.Retried, ti.LastErr, "case 9 does not exist")
	}
	if ti := archived(spent.ID); ti.LastErr != "database is down (attempt 1 of 1, no retry left)" {
		t.Errorf("archived with %q", ti.LastErr)
	}

	byID := map[string]map[string]any{}
	for _, rec := range logs.lines(t) {
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "Retry exhausted") || strings.Contains(msg, "skip retry") {
			t.Errorf("misleading line logged: %v", rec)
		}
		if rec["msg"] == "task archived" {
			id, _ := rec["task_id"].(string)
			if byID[id] != nil {
				t.Errorf("task %s logged as archived twice", id)
			}
			byID[id] = rec
		}
	}
	for _, want := range []struct {
		id   string
		attr map[string]any
	}{
		{refused.ID, map[string]any{
			"level": "WARN", "queue": testQueue, "type": testType, "tenant": "acme",
			"reason": "case 9 does not exist", "kind": "permanent", "retried": 0.0, "max_retry": 6.0,
		}},
		{spent.ID, map[string]any{
			"level": "WARN", "queue": testQueue, "tenant": nil,
			"reason": "database is down (attempt 1 of 1, no retry left)", "kind": "exhausted", "retried": 0.0, "max_retry": 1.0,
		}},
	} {
		rec := byID[want.id]
		if rec == nil {
			t.Errorf("no \"task archived\" line for %s", want.id)
			continue
		}
		for k, v := range want.attr {
			if rec[k] != v {
				t.Errorf("task %s: %s = %v, want %v (line %v)", want.id, k, rec[k], v, rec)
			}
		}
	}
}

// A task's log lines carry its tags (added only when a line is written):
// the handler's own lines, grouped or not, and the runtime's "task failed".
func TestTaskLogLinesCarryTheTaskTags(t *testing.T) {
	var logs logSink
	mux := decodeHandler(func(ctx context.Context, p task.UpdateSingleCaseForecast) error {
		log := worker.LoggerFrom(ctx).With("case", p.RepositoryCaseID)
		log.Info("step")
		log.WithGroup("g").Info("grouped", "k", 1)
		return errors.New("database is down")
	})
	h := start(t, mux, func(a *worker.App) {
		a.Logger = worker.NewLogger(&logs, "json", slog.LevelInfo, "tagged")
	})
	info := h.enqueue(`{"repositoryCaseId":7}`, asynq.MaxRetry(3))
	testenv.Eventually(t, 10*time.Second, func() bool {
		for _, rec := range logs.lines(t) {
			if rec["msg"] == "task failed" {
				return true
			}
		}
		return false
	}, "no task failed line")

	tags := map[string]any{"service": "tagged", "queue": testQueue, "type": testType, "task_id": info.ID, "retry": 0.0, "max_retry": 3.0}
	seen := map[string]bool{}
	for _, rec := range logs.lines(t) {
		msg, _ := rec["msg"].(string)
		if r, ok := rec["retry"].(float64); ok && r > 0 {
			continue // a later attempt's lines
		}
		want := map[string]any{}
		switch msg {
		case "step":
			want["case"] = 7.0
		case "grouped":
			want["case"], want["g"] = 7.0, map[string]any{"k": 1.0}
		case "task failed":
			want["error"] = "database is down"
		default:
			continue
		}
		seen[msg] = true
		maps.Copy(want, tags)
		for k, v := range want {
			if !reflect.DeepEqual(rec[k], v) {
				t.Errorf("%q line: %s = %v, want %v (line %v)", msg, k, rec[k], v, rec)
			}
		}
	}
	for _, msg := range []string{"step", "grouped", "task failed"} {
		if !seen[msg] {
			t.Errorf("no %q line", msg)
		}
	}
}
