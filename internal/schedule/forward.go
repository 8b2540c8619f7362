package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultForwardInterval is how often a [Forwarder] looks for due tasks.
const DefaultForwardInterval = 5 * time.Second

// forwardPage is how many due tasks a Forwarder reads per request.
const forwardPage = 100

// Inspector is what a [Forwarder] needs of an [asynq.Inspector].
type Inspector interface {
	ListRetryTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	ListScheduledTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	RunTask(queue, id string) error
}

// Forwarder moves the due retries and scheduled tasks of queues whose
// worker may not be running into their pending lists. asynq moves them
// with the forwarder of a server consuming the queue; a worker scaled to
// zero (the import worker under KEDA) has none, and KEDA wakes a worker
// only on its pending list, so without a Forwarder a failed import's retry
// would wait for the next import. When the worker runs, its own forwarder
// and this one race harmlessly: a task moved twice is refused the second
// time.
type Forwarder struct {
	Inspector Inspector
	Queues    []string
	// Interval defaults to DefaultForwardInterval.
	Interval time.Duration
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	forwarded *prometheus.CounterVec
	cancel    context.CancelFunc
	done      chan struct{}
	failing   bool // the last pass failed: logged once, until one succeeds
}

// Register adds the forwarder's metric to reg.
func (f *Forwarder) Register(reg prometheus.Registerer) error {
	f.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tpi_scheduler_forwarded_total",
		Help: "Due retries and scheduled tasks the scheduler moved to pending for queues whose worker may be scaled to zero, by queue.",
	}, []string{"queue"})
	return reg.Register(f.forwarded)
}

// Start runs Forward every Interval until Shutdown.
func (f *Forwarder) Start() error {
	if len(f.Queues) == 0 {
		return nil
	}
	interval := f.Interval
	if interval <= 0 {
		interval = DefaultForwardInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			f.Forward(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Shutdown stops the loop and waits for it.
func (f *Forwarder) Shutdown() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

// Forward moves every task of the queues that is due now from the retry
// and scheduled sets to pending, and returns how many it moved.
func (f *Forwarder) Forward(ctx context.Context) int {
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	moved := 0
	var failed error
	for _, q := range f.Queues {
		for _, list := range []struct {
			name string
			fn   func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
		}{{"retry", f.Inspector.ListRetryTasks}, {"scheduled", f.Inspector.ListScheduledTasks}} {
			n, err := f.forward(ctx, q, list.fn, now)
			moved += n
			if n > 0 && f.forwarded != nil {
				f.forwarded.WithLabelValues(q).Add(float64(n))
			}
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) && failed == nil {
				failed = fmt.Errorf("queue %s, %s set: %w", q, list.name, err)
			}
		}
	}
	// An outage of Valkey fails every pass: say so once, and when it ends.
	switch {
	case failed != nil && !f.failing:
		f.logger().Warn("cannot forward due tasks; trying again every interval", "error", failed.Error())
	case failed == nil && f.failing:
		f.logger().Info("forwarding due tasks again")
	}
	f.failing = failed != nil
	return moved
}

// forward moves the due tasks of one set of queue q. The sets are ordered
// by due time, so it stops at the first task not yet due; a moved task
// leaves the set, hence every read is of the first page, and a read is
// repeated only after a full page that moved something.
func (f *Forwarder) forward(ctx context.Context, q string, list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error), now time.Time) (int, error) {
	moved := 0
	for ctx.Err() == nil {
		tasks, err := list(q, asynq.PageSize(forwardPage))
		if err != nil {
			return moved, err
		}
		progress := false
		for _, t := range tasks {
			if t.NextProcessAt.After(now) {
				return moved, nil
			}
			switch err := f.Inspector.RunTask(q, t.ID); {
			case err == nil:
				moved++
				progress = true
			case errors.Is(err, asynq.ErrTaskNotFound), strings.Contains(err.Error(), "already"):
				// Moved or taken by the worker's own forwarder meanwhile.
				// Not progress: a page of tasks refused this way must
				// not be read again and again.
			default:
				return moved, err
			}
		}
		if len(tasks) < forwardPage || !progress {
			return moved, nil
		}
	}
	return moved, nil
}

func (f *Forwarder) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}
