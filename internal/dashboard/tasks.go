package dashboard

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

// taskStatusPattern is the task status API: one task's state, progress,
// result and error, for a producer that follows what it enqueued (the BullMQ
// intake mirrors it onto the BullMQ job the app polls).
const taskStatusPattern = "GET /api/v1/tasks/{queue}/{id}"

// TaskStatus is the body of GET /api/v1/tasks/{queue}/{id}.
type TaskStatus struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	Type  string `json:"type"`
	// State is asynq's: pending, active, scheduled, retry, archived,
	// completed or aggregating.
	State  string `json:"state"`
	Tenant string `json:"tenant,omitempty"`
	// Attempts is how many times the task ran or runs (failures so far,
	// plus the current or last run); Retried counts the failures retried;
	// MaxRetry is the task's failure budget (the retries it may have after
	// failures, without the fleet's rate-limit reserve).
	Attempts int `json:"attempts"`
	Retried  int `json:"retried"`
	MaxRetry int `json:"maxRetry"`
	// Progress is the task's percentage (0 to 100) as its progress document
	// says (reindex "percentage", the runtime's "percent", or processed of
	// total); null when the task publishes none.
	Progress *float64 `json:"progress"`
	// Result is what the task wrote as its result: its JSON, or a string
	// when it is not JSON; null when none.
	Result json.RawMessage `json:"result"`
	// Error is the last failure's message.
	Error         string     `json:"error,omitempty"`
	NextProcessAt *time.Time `json:"nextProcessAt,omitempty"`
	LastFailedAt  *time.Time `json:"lastFailedAt,omitempty"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
}

// taskInspector is what the task status API reads: asynq's Inspector.
type taskInspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

func (s *Server) taskStatus(w http.ResponseWriter, r *http.Request) {
	code, body := s.taskStatusOf(w, r)
	writeJSON(w, code, body)
}

func (s *Server) taskStatusOf(w http.ResponseWriter, r *http.Request) (int, any) {
	role, ok := s.authorize(r, RoleProducer, RoleViewer, RoleAdmin)
	if !ok {
		s.authFailed.WithLabelValues("tasks").Inc()
		s.log.Warn("request refused", "area", "tasks", "remote", r.RemoteAddr, "role", role.String())
		w.Header().Set("WWW-Authenticate", `Bearer realm="TestPlanIt task status"`)
		return http.StatusUnauthorized, errorBody{"unauthorized: missing or wrong credentials (producer, viewer or admin)"}
	}
	queue, id := r.PathValue("queue"), r.PathValue("id")
	if _, known := task.LookupQueue(queue); !known {
		return http.StatusNotFound, errorBody{"unknown queue " + queue}
	}
	if checkTaskID(id) != nil {
		return http.StatusBadRequest, errorBody{"malformed task id"}
	}
	st, err := taskStatusFrom(s.insp, queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return http.StatusNotFound, errorBody{"task not found"}
	case err != nil:
		s.log.Error("task status", "queue", queue, "task_id", id, "err", err)
		return http.StatusServiceUnavailable, errorBody{"cannot reach the queue store; retry later"}
	}
	return http.StatusOK, st
}

// taskStatusFrom reads one task and describes it.
func taskStatusFrom(insp taskInspector, queue, id string) (TaskStatus, error) {
	ti, err := insp.GetTaskInfo(queue, id)
	if err != nil {
		return TaskStatus{}, err
	}
	st := TaskStatus{
		ID: ti.ID, Queue: ti.Queue, Type: ti.Type, State: ti.State.String(),
		Retried: ti.Retried, MaxRetry: task.FailureRetries(ti.MaxRetry),
		Error: ti.LastErr, Result: json.RawMessage("null"),
	}
	st.Tenant, _ = task.TenantOf(asynq.NewTask(ti.Type, ti.Payload))
	st.Attempts = ti.Retried
	switch ti.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		st.Attempts++ // the run going on, or the last one
	}
	if len(ti.Result) > 0 {
		if json.Valid(ti.Result) {
			st.Result = json.RawMessage(ti.Result)
		} else if b, err := json.Marshal(string(ti.Result)); err == nil {
			st.Result = b
		}
		st.Progress = progressOf(ti.Result)
	}
	st.NextProcessAt = utcTime(ti.NextProcessAt)
	st.LastFailedAt = utcTime(ti.LastFailedAt)
	st.CompletedAt = utcTime(ti.CompletedAt)
	return st, nil
}

// progressOf reads a percentage from a progress document: the reindex's
// "percentage", the runtime's "percent" ([worker.ProgressDoc]), else
// "processed" of "total". It returns nil when result says none.
func progressOf(result []byte) *float64 {
	var doc struct {
		Percentage *float64 `json:"percentage"`
		Percent    *float64 `json:"percent"`
		Processed  *float64 `json:"processed"`
		Total      *float64 `json:"total"`
	}
	if json.Unmarshal(result, &doc) != nil {
		return nil
	}
	var p float64
	switch {
	case doc.Percentage != nil:
		p = *doc.Percentage
	case doc.Percent != nil:
		p = *doc.Percent
	case doc.Processed != nil && doc.Total != nil && *doc.Total > 0:
		p = *doc.Processed * 100 / *doc.Total
	default:
		return nil
	}
	if math.IsNaN(p) {
		return nil
	}
	p = math.Round(min(max(p, 0), 100)*100) / 100
	return &p
}

func utcTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
