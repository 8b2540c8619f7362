package schedule

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// TestForwarderMovesDueTasks: with no worker on the queue, the forwarder
// moves its due retries and scheduled tasks (more than a page of them) to
// pending, leaves the ones not yet due, keeps a retry's count, and is quiet
// about a queue that never had a task.
func TestForwarderMovesDueTasks(t *testing.T) {
	const q = "testmo-imports"
	opt, client, insp := queueClients(t)

	// A retry: a worker fails the task once (next attempt in an hour),
	// then stops, as a worker scaled to zero would.
	failed := make(chan struct{}, 1)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		failed <- struct{}{}
		return errors.New("S3 is down")
	})); err != nil {
		t.Fatal(err)
	}
	retry, err := client.Enqueue(asynq.NewTask("testmo-imports:process-testmo-import", []byte(`{"jobId":"j1"}`)), asynq.Queue(q), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}
	<-failed
	testenv.Eventually(t, 10*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(q, retry.ID)
		return err == nil && ti.State == asynq.TaskStateRetry
	}, "the failed task is not waiting for its retry")
	srv.Shutdown()

	const due = 250 // more than a page
	for range due {
		if _, err := client.Enqueue(asynq.NewTask("testmo-imports:process-testmo-import", []byte(`{}`)), asynq.Queue(q), asynq.ProcessIn(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("testmo-imports:process-testmo-import", []byte(`{}`)), asynq.Queue(q), asynq.ProcessIn(5*time.Hour)); err != nil {
		t.Fatal(err)
	}

	var log syncBuffer
	reg := prometheus.NewRegistry()
	f := &Forwarder{Inspector: insp, Queues: []string{q, "never-used"}, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	if err := f.Register(reg); err != nil {
		t.Fatal(err)
	}
	if n := f.Forward(context.Background()); n != due+1 {
		t.Errorf("moved %d, want %d", n, due+1)
	}
	qi, err := insp.GetQueueInfo(q)
	if err != nil {
		t.Fatal(err)
	}
	if qi.Pending != due+1 || qi.Scheduled != 1 || qi.Retry != 0 {
		t.Errorf("queue after forwarding: %d pending, %d scheduled, %d retry; want %d, 1, 0", qi.Pending, qi.Scheduled, qi.Retry, due+1)
	}
	if ti, err := insp.GetTaskInfo(q, retry.ID); err != nil || ti.State != asynq.TaskStatePending || ti.Retried != 1 || ti.LastErr != "S3 is down" {
		t.Errorf("the retry after forwarding: %+v, %v", ti, err)
	}
	if got := testutil.ToFloat64(f.forwarded.WithLabelValues(q)); got != due+1 {
		t.Errorf("tpi_scheduler_forwarded_total = %v", got)
	}
	if n := f.Forward(context.Background()); n != 0 {
		t.Errorf("a second pass moved %d", n)
	}
	if strings.Contains(log.String(), "cannot forward") {
		t.Errorf("warnings logged:\n%s", log.String())
	}

	// Valkey gone: one warning however many passes fail, then one line
	// when it answers again.
	down := asynq.NewInspector(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	f.Inspector = down
	f.Forward(context.Background())
	f.Forward(context.Background())
	f.Inspector = insp
	f.Forward(context.Background())
	if n := strings.Count(log.String(), "cannot forward due tasks"); n != 1 {
		t.Errorf("%d warnings for two failed passes, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "forwarding due tasks again") {
		t.Errorf("no line when Valkey answered again:\n%s", log.String())
	}
}

// queueClients returns a fresh Redis database with a client and an
// inspector on it, closed when the test ends.
func queueClients(t *testing.T) (asynq.RedisClientOpt, *asynq.Client, *asynq.Inspector) {
	t.Helper()
	opt, _ := testenv.Redis(t)
	client := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { client.Close(); insp.Close() })
	return opt, client, insp
}

// TestForwarderLoop: started, it moves a task when it falls due, on the
// real clock (asynq keeps due times in whole seconds, so a task due in 2 s
// is due in 1 to 2 s); Shutdown stops it.
func TestForwarderLoop(t *testing.T) {
	const q = "testmo-imports"
	_, client, insp := queueClients(t)
	f := &Forwarder{Inspector: insp, Queues: []string{q}, Interval: 50 * time.Millisecond}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("testmo-imports:process-testmo-import", []byte(`{}`)), asynq.Queue(q), asynq.ProcessIn(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if qi, err := insp.GetQueueInfo(q); err != nil || qi.Pending != 0 {
		t.Fatalf("moved before it was due: %+v %v", qi, err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		qi, err := insp.GetQueueInfo(q)
		return err == nil && qi.Pending == 1
	}, "the due task was not moved to pending")
	f.Shutdown()
}
