package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
