package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

const (
	testQueue = task.QueueForecast
	testType  = task.TypeUpdateSingleCaseForecast
)

type harness struct {
	t       *testing.T
	opt     asynq.RedisClientOpt
	client  *asynq.Client
	insp    *asynq.Inspector
	addr    string
	done    chan error
	cancel  context.CancelFunc
	signals chan os.Signal
}

// start runs an App on its own Redis DB with mux and returns once it fetches.
func start(t *testing.T, mux *asynq.ServeMux, mutate func(*worker.App)) *harness {
	t.Helper()
	opt, _ := testenv.Redis(t)
	h := &harness{t: t, opt: opt, done: make(chan error, 1), signals: make(chan os.Signal, 1)}
	h.client = asynq.NewClient(opt)
	h.insp = asynq.NewInspector(opt)
	t.Cleanup(func() { h.client.Close(); h.insp.Close() })

	ready := make(chan string, 1)
	app := &worker.App{
		Config: worker.Config{
			Service: "test-worker", Queue: testQueue, Redis: opt, RedisURL: "redis://" + opt.Addr,
			Concurrency: 2, HTTPAddr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second,
			TaskCheckInterval: 20 * time.Millisecond, MaxMemory: 1 << 40, MemoryCheckInterval: time.Hour,
		},
		Mux:     mux,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Signals: h.signals,
		OnReady: func(addr string) { ready <- addr },
	}
	if mutate != nil {
		mutate(app)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(15 * time.Second):
			t.Error("worker did not stop")
		}
	})
	select {
	case h.addr = <-ready:
	case err := <-h.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker not ready")
	}
	return h
}

func (h *harness) enqueue(payload string, opts ...asynq.Option) *asynq.TaskInfo {
	h.t.Helper()
	info, err := h.client.Enqueue(asynq.NewTask(testType, []byte(payload)), append([]asynq.Option{asynq.Queue(testQueue)}, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // keep it for the cleanup
		return err
	case <-time.After(15 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// decodeHandler decodes the forecast payload through the contract and hands
// it to fn.
func decodeHandler(fn func(ctx context.Context, p task.UpdateSingleCaseForecast) error) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(testType, func(ctx context.Context, t *asynq.Task) error {
		p, err := task.Decode[task.UpdateSingleCaseForecast](t)
		if err != nil {
			return err
		}
		return fn(ctx, p)
	})
	return mux
}

func TestRunProcessesTaskAndExposesMetrics(t *testing.T) {
	var got atomic.Int64
	h := start(t, decodeHandler(func(ctx context.Context, p task.UpdateSingleCaseForecast) error {
		if worker.LoggerFrom(ctx) == slog.Default() {
			return errors.New("no task logger in context")
		}
		got.Store(int64(p.RepositoryCaseID))
		return nil
	}), nil)
	h.enqueue(`{"repositoryCaseId":42}`)
	testenv.Eventually(t, 5*time.Second, func() bool { return got.Load() == 42 }, "task not processed")

	code, body := h.get("/metrics")
	want := `tpi_tasks_processed_total{outcome="success",queue="forecast-updates",type="forecast-updates:update-single-case-forecast"} 1`
	if code != 200 || !strings.Contains(body, want) {
		t.Fatalf("metrics %d missing %q:\n%s", code, want, body)
	}
	if code, body := h.get("/readyz"); code != 200 || !strings.Contains(body, `"valkey":"ok"`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	if code, _ := h.get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
}

func TestRunArchivesBadPayloadWithoutRetry(t *testing.T) {
	var calls atomic.Int32
	h := start(t, decodeHandler(func(context.Context, task.UpdateSingleCaseForecast) error {
		calls.Add(1)
		return nil
	}), nil)
	info := h.enqueue(`{"repositoryCaseId":"12"}`, asynq.MaxRetry(5))

	var archived *asynq.TaskInfo
	testenv.Eventually(t, 5*time.Second, func() bool {
		ti, err := h.insp.GetTaskInfo(testQueue, info.ID)
		archived = ti
		return err == nil && ti.State == asynq.TaskStateArchived
	}, "bad payload not archived")
	if archived.Retried != 0 {
		t.Errorf("retried %d times, want 0", archived.Retried)
	}
	if !strings.Contains(archived.LastErr, "repositoryCaseId") || !strings.Contains(archived.LastErr, "invalid payload") {
		t.Errorf("archived reason %q does not name the field", archived.LastErr)
	}
	if calls.Load() != 0 {
		t.Errorf("handler body ran %d times for a bad payload", calls.Load())
	}
}

func TestRunArchivesUnknownType(t *testing.T) {
	h := start(t, decodeHandler(func(context.Context, task.UpdateSingleCaseForecast) error { return nil }), nil)
	info, err := h.client.Enqueue(asynq.NewTask("forecast-updates:no-such-job", nil), asynq.Queue(testQueue), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		ti, err := h.insp.GetTaskInfo(testQueue, info.ID)
		return err == nil && ti.State == asynq.TaskStateArchived && strings.Contains(ti.LastErr, "no handler for task type")
	}, "unknown type not archived")
}

func TestRunRetriesTransientErrorWithQueueBackoff(t *testing.T) {
	var calls atomic.Int32
	h := start(t, decodeHandler(func(context.Context, task.UpdateSingleCaseForecast) error {
		if calls.Add(1) == 1 {
			return errors.New("database is down")
		}
		return nil
	}), nil)
	before := time.Now()
	info := h.enqueue(`{"repositoryCaseId":7}`, asynq.MaxRetry(2))

	var ti *asynq.TaskInfo
	testenv.Eventually(t, 5*time.Second, func() bool {
		var err error
		ti, err = h.insp.GetTaskInfo(testQueue, info.ID)
		return err == nil && ti.State == asynq.TaskStateRetry
	}, "transient failure not scheduled for retry")
	spec, _ := task.LookupQueue(testQueue)
	delay := ti.NextProcessAt.Sub(before)
	// RetryDelay's equal jitter puts the first retry in [base/2, base];
	// asynq stores the time in whole seconds.
	if delay < spec.BaseBackoff/2-time.Second || delay > spec.BaseBackoff+time.Second {
		t.Errorf("first retry in %s, want within [%s, %s] (the queue's base backoff with jitter)", delay, spec.BaseBackoff/2, spec.BaseBackoff)
	}
	if ti.Retried != 1 || !strings.Contains(ti.LastErr, "database is down") {
		t.Errorf("retry state %+v", ti)
	}
	// Bring the retry forward instead of sleeping through the backoff.
	if err := h.insp.RunTask(testQueue, info.ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return calls.Load() == 2 }, "task not retried")
}

// blocking returns a handler that signals when it starts and finishes only
// when released, recording whether its context was cancelled.
func blocking() (mux *asynq.ServeMux, started chan struct{}, release chan struct{}, finished *atomic.Bool) {
	started, release, finished = make(chan struct{}, 1), make(chan struct{}), &atomic.Bool{}
	mux = decodeHandler(func(ctx context.Context, _ task.UpdateSingleCaseForecast) error {
		started <- struct{}{}
		select {
		case <-release:
			finished.Store(true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return
}

func TestSIGTERMLetsInFlightTaskFinish(t *testing.T) {
	mux, started, release, finished := blocking()
	h := start(t, mux, func(a *worker.App) { a.Signals = nil }) // the real process signals
	info := h.enqueue(`{"repositoryCaseId":1}`)
	<-started

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, _ := h.get("/readyz")
		return code == http.StatusServiceUnavailable
	}, "readiness did not turn 503 while draining")
	close(release)
	if err := h.wait(); err != nil {
		t.Fatalf("Run after SIGTERM: %v", err)
	}
	if !finished.Load() {
		t.Fatal("in-flight task did not finish")
	}
	if _, err := h.insp.GetTaskInfo(testQueue, info.ID); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("finished task still in Redis: %v", err)
	}
}

func TestSIGTSTPStopsFetching(t *testing.T) {
	var calls atomic.Int32
	h := start(t, decodeHandler(func(context.Context, task.UpdateSingleCaseForecast) error {
		calls.Add(1)
		return nil
	}), nil)
	h.signals <- syscall.SIGTSTP
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, body := h.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"state":"stopped"`)
	}, "readiness did not report stopped")
	info := h.enqueue(`{"repositoryCaseId":3}`)
	// A stopped worker must not fetch: give it many poll intervals.
	time.Sleep(300 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatal("stopped worker processed a task")
	}
	h.signals <- syscall.SIGTERM
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	ti, err := h.insp.GetTaskInfo(testQueue, info.ID)
	if err != nil || ti.State != asynq.TaskStatePending {
		t.Fatalf("task after stop: %+v %v", ti, err)
	}
}

func TestMemoryGuardDrainsAndExits(t *testing.T) {
	mux, started, release, finished := blocking()
	var used atomic.Uint64
	used.Store(10 << 20)
	h := start(t, mux, func(a *worker.App) {
		a.Config.MaxMemory = 100 << 20
		a.Config.MemoryCheckInterval = 10 * time.Millisecond
		a.MemoryUsage = func() (uint64, error) { return used.Load(), nil }
	})
	h.enqueue(`{"repositoryCaseId":1}`)
	<-started
	used.Store(200 << 20)
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, body := h.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining")
	}, "guard did not start draining")
	close(release)
	if err := h.wait(); !errors.Is(err, worker.ErrMemoryLimit) {
		t.Fatalf("Run = %v, want ErrMemoryLimit", err)
	}
	if !finished.Load() {
		t.Fatal("in-flight task was not allowed to finish")
	}
}

func TestStartupNamesTheUnreachableDependency(t *testing.T) {
	mux := asynq.NewServeMux()
	app := &worker.App{
		Config: worker.Config{Service: "x", Queue: testQueue, Redis: asynq.RedisClientOpt{Addr: "127.0.0.1:1", DB: 2},
			RedisURL: "redis://u:xxxxx@127.0.0.1:1/2", Concurrency: 1},
		Mux: mux, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	err := app.Run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "valkey: cannot reach 127.0.0.1:1 db 2 (VALKEY_URL=redis://u:xxxxx@127.0.0.1:1/2)") {
		t.Fatalf("err = %v", err)
	}

	opt, _ := testenv.Redis(t)
	app.Config.Redis = opt
	app.Checks = []worker.Check{{Name: "postgres", Ping: func(context.Context) error {
		return fmt.Errorf("cannot reach db:5432/testplanit as user tpi: connection refused")
	}}}
	err = app.Run(context.Background())
	if err == nil || err.Error() != "postgres: cannot reach db:5432/testplanit as user tpi: connection refused" {
		t.Fatalf("err = %v", err)
	}
}
