package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// A handler that is rate limited twice, then succeeds, through a real asynq
// server, on a queue of each retry kind: without retries (the original's
// reindex and Testmo imports, attempts 1), with 2 and with 4. asynq archives a
// task whose retry count reached MaxRetry before it asks IsFailure; the
// contract's reserved retry (task.RateLimitReserve) and the runtime's failure
// budget make "wait and try again" hold on every attempt.
func TestRateLimitedTaskWaitsAndCompletesOnEveryQueueKind(t *testing.T) {
	const after = time.Second // asynq stores retry times in whole seconds
	for _, tt := range []struct {
		queue, typ, payload string
	}{
		{task.QueueReindex, task.TypeReindex, `{"entityType":"all"}`},
		{task.QueueForecast, task.TypeUpdateSingleCaseForecast, `{"repositoryCaseId":7}`},
		{task.QueueEmails, task.TypeSendNotificationEmail, `{"notificationId":"n1","userId":"u1","immediate":true}`},
	} {
		t.Run(tt.queue, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var attempts []time.Time
			mux := asynq.NewServeMux()
			mux.HandleFunc(tt.typ, func(ctx context.Context, _ *asynq.Task) error {
				mu.Lock()
				defer mu.Unlock()
				attempts = append(attempts, time.Now())
				if len(attempts) <= 2 {
					return worker.RateLimited(errors.New("provider says 429"), after)
				}
				return nil
			})
			h := start(t, mux, func(a *worker.App) {
				a.Config.Queue = tt.queue
				a.Config.DelayedTaskCheckInterval = 100 * time.Millisecond
			})
			tk, err := task.New(tt.typ, []byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			info, err := h.client.Enqueue(tk)
			if err != nil {
				t.Fatal(err)
			}
			var ti *asynq.TaskInfo
			testenv.Eventually(t, 20*time.Second, func() bool {
				ti, err = h.insp.GetTaskInfo(tt.queue, info.ID)
				return err == nil && (ti.State == asynq.TaskStateCompleted || ti.State == asynq.TaskStateArchived)
			}, "task neither completed nor archived")
			if ti.State != asynq.TaskStateCompleted {
				t.Fatalf("task %s after rate limits (last error %q), want completed", ti.State, ti.LastErr)
			}
			if ti.Retried != 0 {
				t.Errorf("failure count %d after two rate limits, want 0", ti.Retried)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(attempts) != 3 {
				t.Fatalf("%d attempts, want 3", len(attempts))
			}
			for i := 1; i < 3; i++ {
				if gap := attempts[i].Sub(attempts[i-1]); gap < after-50*time.Millisecond {
					t.Errorf("attempt %d came %s after the previous one, want at least the asked %s", i+1, gap, after)
				}
			}
			qi, err := h.insp.GetQueueInfo(tt.queue)
			if err != nil {
				t.Fatal(err)
			}
			if qi.FailedTotal != 0 || qi.Archived != 0 {
				t.Errorf("queue counts failed %d, archived %d; want 0 and 0", qi.FailedTotal, qi.Archived)
			}
		})
	}
}

// The reserve is for rate limits only: a task's own failures still archive
// it once its retries are spent (here none: the reindex queue's single
// attempt), with the reason.
func TestRateLimitReserveIsNotSpentByFailures(t *testing.T) {
	var calls int
	var mu sync.Mutex
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.TypeReindex, func(context.Context, *asynq.Task) error {
		mu.Lock()
		calls++
		mu.Unlock()
		return errors.New("elasticsearch refused the bulk request")
	})
	h := start(t, mux, func(a *worker.App) {
		a.Config.Queue = task.QueueReindex
		a.Config.DelayedTaskCheckInterval = 100 * time.Millisecond
	})
	tk, err := task.New(task.TypeReindex, []byte(`{"entityType":"all"}`))
	if err != nil {
		t.Fatal(err)
	}
	info, err := h.client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	var ti *asynq.TaskInfo
	testenv.Eventually(t, 10*time.Second, func() bool {
		ti, err = h.insp.GetTaskInfo(task.QueueReindex, info.ID)
		return err == nil && ti.State == asynq.TaskStateArchived
	}, "failed task with no retries left not archived")
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("%d attempts, want 1 (the original's attempts: 1)", calls)
	}
	if want := "elasticsearch refused the bulk request (attempt 1 of 1, no retry left)"; !strings.HasPrefix(ti.LastErr, want) {
		t.Errorf("archived with %q, want it to start with %q", ti.LastErr, want)
	}
}
