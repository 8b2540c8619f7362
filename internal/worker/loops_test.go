package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// countingHandler counts tasks in flight and remembers the peak.
type countingHandler struct {
	inFlight, peak, done atomic.Int32
	hold                 time.Duration
}

func (c *countingHandler) mux() *asynq.ServeMux {
	return decodeHandler(func(ctx context.Context, _ task.UpdateSingleCaseForecast) error {
		n := c.inFlight.Add(1)
		for {
			p := c.peak.Load()
			if n <= p || c.peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-time.After(c.hold):
		case <-ctx.Done():
		}
		c.inFlight.Add(-1)
		if ctx.Err() == nil {
			c.done.Add(1)
		}
		return ctx.Err()
	})
}

// Several fetch loops share the configured concurrency: under a load of
// many more tasks than slots, never more than Concurrency run at once, and
// all of them do run (every loop fetches).
func TestFetchLoopsNeverExceedTheConcurrency(t *testing.T) {
	for _, tt := range []struct{ concurrency, loops int }{{7, 3}, {10, 10}, {5, 0}} {
		t.Run(fmt.Sprintf("c=%d,loops=%d", tt.concurrency, tt.loops), func(t *testing.T) {
			ch := &countingHandler{hold: 20 * time.Millisecond}
			h := start(t, ch.mux(), func(a *worker.App) {
				a.Config.Concurrency, a.Config.FetchLoops = tt.concurrency, tt.loops
			})
			const n = 200
			for i := range n {
				h.enqueue(fmt.Sprintf(`{"repositoryCaseId":%d}`, i+1))
			}
			testenv.Eventually(t, 30*time.Second, func() bool { return ch.done.Load() == n }, "tasks not all done")
			if p := int(ch.peak.Load()); p > tt.concurrency || p < tt.concurrency-1 {
				t.Errorf("peak in flight %d, want the concurrency %d (not more, and about that under load)", p, tt.concurrency)
			}
			servers, err := h.insp.Servers()
			if err != nil {
				t.Fatal(err)
			}
			loops, total := 0, 0
			for _, s := range servers {
				if s.Queues[testQueue] > 0 {
					loops++
					total += s.Concurrency
				}
			}
			want := tt.loops
			if want == 0 {
				want = worker.DefaultFetchLoops(tt.concurrency)
			}
			if loops != want || total != tt.concurrency {
				t.Errorf("%d servers with %d slots in all, want %d loops sharing %d", loops, total, want, tt.concurrency)
			}
		})
	}
}

// SIGTERM drains every loop: tasks running in each of them finish (none is
// lost or left active), and nothing new is fetched.
func TestFetchLoopsDrainTogether(t *testing.T) {
	const loops = 4
	var mu sync.Mutex
	started := map[int]bool{}
	release := make(chan struct{})
	var finished atomic.Int32
	mux := decodeHandler(func(ctx context.Context, p task.UpdateSingleCaseForecast) error {
		mu.Lock()
		started[p.RepositoryCaseID] = true
		mu.Unlock()
		<-release
		finished.Add(1)
		return nil
	})
	h := start(t, mux, func(a *worker.App) { a.Config.Concurrency, a.Config.FetchLoops = loops, loops })
	var infos []*asynq.TaskInfo
	for i := 1; i <= loops+3; i++ {
		infos = append(infos, h.enqueue(fmt.Sprintf(`{"repositoryCaseId":%d}`, i), asynq.Retention(time.Hour)))
	}
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(started) == loops }, "one task per loop")
	h.signals <- syscall.SIGTERM
	testenv.Eventually(t, 5*time.Second, func() bool { code, _ := h.get("/readyz"); return code == 503 }, "readiness not 503")
	close(release)
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	if finished.Load() != loops {
		t.Errorf("%d tasks finished during the drain, want the %d in flight", finished.Load(), loops)
	}
	completed, pending := 0, 0
	for _, info := range infos {
		ti, err := h.insp.GetTaskInfo(testQueue, info.ID)
		if err != nil {
			t.Fatalf("task %s lost: %v", info.ID, err)
		}
		switch ti.State {
		case asynq.TaskStateCompleted:
			completed++
		case asynq.TaskStatePending:
			pending++
		default:
			t.Errorf("task %s %s after the drain", info.ID, ti.State)
		}
	}
	if completed != loops || pending != 3 {
		t.Errorf("%d completed, %d pending; want %d and 3", completed, pending, loops)
	}
}

// An idle worker with many loops exits promptly on SIGTERM. An idle loop
// answers Stop only when its poll's sleep ends (up to 1.5 × 16 × 100 ms
// here): stopped one after the other, sixteen loops took about 13 s.
func TestFetchLoopsIdleStopTogether(t *testing.T) {
	h := start(t, (&countingHandler{}).mux(), func(a *worker.App) {
		a.Config.Concurrency, a.Config.FetchLoops, a.Config.TaskCheckInterval = 16, 16, 100*time.Millisecond
	})
	time.Sleep(500 * time.Millisecond) // every loop asleep in its idle poll
	begin := time.Now()
	h.signals <- syscall.SIGTERM
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("an idle worker of 16 loops took %v to stop, want one idle poll (2.4 s at most)", d.Round(time.Millisecond))
	}
}

// SIGTSTP stops every loop: with many loops idle, a task enqueued after it
// is not taken by any of them.
func TestFetchLoopsAllStopOnSIGTSTP(t *testing.T) {
	ch := &countingHandler{}
	h := start(t, ch.mux(), func(a *worker.App) { a.Config.Concurrency, a.Config.FetchLoops = 8, 8 })
	h.signals <- syscall.SIGTSTP
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, body := h.get("/readyz")
		return code == 503 && strings.Contains(body, `"state":"stopped"`)
	}, "readiness did not report stopped")
	for i := range 8 {
		h.enqueue(fmt.Sprintf(`{"repositoryCaseId":%d}`, i+1))
	}
	time.Sleep(time.Second) // eight loops, each polling every 160 ms: any running loop would fetch
	if n := ch.done.Load() + ch.inFlight.Load(); n != 0 {
		t.Fatalf("%d tasks taken after SIGTSTP", n)
	}
	qi, err := h.insp.GetQueueInfo(testQueue)
	if err != nil || qi.Pending != 8 {
		t.Fatalf("queue after SIGTSTP: %+v %v, want 8 pending", qi, err)
	}
}
