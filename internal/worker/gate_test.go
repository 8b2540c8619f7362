package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// An outage of a dependency every task needs, longer than the whole retry
// budget: the failure it caused spends no attempt, fetching stops (the
// other tasks stay pending, untouched), the gauge goes down then up, and
// everything runs by itself once the dependency answers.
func TestOutageOfADependencySpendsNoAttemptAndStopsFetching(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	var runs, done atomic.Int32
	smtp := worker.Dependency{Name: "smtp", Ping: func(context.Context) error {
		if !up.Load() {
			return errors.New("dial tcp 127.0.0.1:2525: connection refused")
		}
		return nil
	}}
	mux := asynq.NewServeMux()
	worker.Handle(mux, testType, func(ctx context.Context, p task.UpdateSingleCaseForecast) error {
		runs.Add(1)
		if !up.Load() {
			return errors.New("send: connection refused")
		}
		done.Add(1)
		return nil
	})
	h := start(t, mux, func(a *worker.App) {
		a.Dependencies = []worker.Dependency{smtp}
		a.Config.DelayedTaskCheckInterval = 100 * time.Millisecond
	})
	metric := func(want string) bool { _, body := h.get("/metrics"); return strings.Contains(body, want) }
	if !metric(`tpi_dependency_up{dependency="smtp",tenant=""} 1`) {
		t.Fatal("the gauge does not say smtp is up")
	}

	up.Store(false)
	first := h.enqueue(`{"repositoryCaseId":1}`, task.MaxRetry(0), asynq.Retention(time.Hour)) // no retry left for a failure of its own
	testenv.Eventually(t, 10*time.Second, func() bool { return metric(`tpi_dependency_up{dependency="smtp",tenant=""} 0`) }, "gauge not down")
	var rest []*asynq.TaskInfo
	for i := 2; i <= 6; i++ {
		rest = append(rest, h.enqueue(`{"repositoryCaseId":`+string(rune('0'+i))+`}`, task.MaxRetry(0), asynq.Retention(time.Hour)))
	}
	// Several probe rounds: nothing else is taken, nothing archived.
	time.Sleep(3 * time.Second) // an outage lasts; the assertions below are about what did not happen during it
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs during the outage, want 1 (fetching stops after the first failure)", n)
	}
	for _, ti := range rest {
		got, err := h.insp.GetTaskInfo(testQueue, ti.ID)
		if err != nil || got.State != asynq.TaskStatePending {
			t.Errorf("task %s during the outage: %v %v, want pending", ti.ID, got.State, err)
		}
	}
	got, err := h.insp.GetTaskInfo(testQueue, first.ID)
	if err != nil || got.State == asynq.TaskStateArchived || got.Retried != 0 {
		t.Fatalf("the failed task: %+v %v; want waiting, with no attempt spent", got, err)
	}
	if code, _ := h.get("/readyz"); code != 503 {
		t.Errorf("/readyz %d during the outage, want 503", code)
	}

	up.Store(true)
	testenv.Eventually(t, 15*time.Second, func() bool { return done.Load() == 6 }, "tasks not run after the outage")
	testenv.Eventually(t, 5*time.Second, func() bool { return metric(`tpi_dependency_up{dependency="smtp",tenant=""} 1`) }, "gauge not up")
	for _, ti := range append(rest, first) {
		testenv.Eventually(t, 5*time.Second, func() bool {
			got, err := h.insp.GetTaskInfo(testQueue, ti.ID)
			return err == nil && got.State == asynq.TaskStateCompleted && got.Retried == 0
		}, "task %s not completed without a spent attempt", ti.ID)
	}
	if metric("tpi_tasks_archived_total") {
		t.Error("a task was archived")
	}
}

// A failure while every dependency answers belongs to the task: it spends
// its attempts and is archived, and the archived metric says why.
func TestOwnFailureIsArchivedAndCounted(t *testing.T) {
	smtp := worker.Dependency{Name: "smtp", Ping: func(context.Context) error { return nil }}
	mux := asynq.NewServeMux()
	worker.Handle(mux, testType, func(context.Context, task.UpdateSingleCaseForecast) error {
		return errors.New("550 mailbox unavailable... but classified transient by mistake")
	})
	h := start(t, mux, func(a *worker.App) { a.Dependencies = []worker.Dependency{smtp} })
	info := h.enqueue(`{"repositoryCaseId":1}`, task.MaxRetry(0))
	testenv.Eventually(t, 10*time.Second, func() bool {
		ti, err := h.insp.GetTaskInfo(testQueue, info.ID)
		return err == nil && ti.State == asynq.TaskStateArchived
	}, "task not archived")
	_, body := h.get("/metrics")
	if want := `tpi_tasks_archived_total{queue="forecast-updates",reason="exhausted",type="forecast-updates:update-single-case-forecast"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
