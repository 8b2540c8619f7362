package schedule

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// privateRedis starts a redis-server of the test's own on port (no
// persistence) and returns a function that kills it.
func privateRedis(t *testing.T, port int) (kill func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	kill = func() { _ = cmd.Process.Kill(); <-done }
	t.Cleanup(kill)
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer rc.Close()
	testenv.Eventually(t, 5*time.Second, func() bool { return rc.Ping(context.Background()).Err() == nil }, "redis-server on port %d", port)
	return kill
}

// TestOccurrencesDuringAnOutageAreEnqueuedAfterIt stops Valkey for about
// three seconds (as long as a Sentinel failover takes) under a scheduler
// with an every-second entry: the occurrences that fell in the outage are
// enqueued when Valkey answers again, and none is reported lost.
func TestOccurrencesDuringAnOutageAreEnqueuedAfterIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	kill := privateRedis(t, port)
	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:" + strconv.Itoa(port)}

	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	p := NewProvider(ProviderOptions{Overrides: onlyDigestEverySecond(), Timing: fast, Logger: logger})
	s, err := New(Options{Redis: opt, Provider: p, Timing: fast, HeartbeatInterval: 200 * time.Millisecond,
		Logger: logger, HistoryPruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	testenv.Eventually(t, 10*time.Second, func() bool { return counter(t, s, "enqueued", EntryDigestSweep) >= 2 }, "two occurrences before the outage")

	kill()
	down := time.Now()
	time.Sleep(3 * time.Second)
	privateRedis(t, port) // empty: only what is enqueued from now on is there
	up := time.Now()

	insp := asynq.NewInspector(opt)
	defer insp.Close()
	queue, _ := task.QueueOf(task.TypeSendDailyDigest)
	var during []string
	testenv.Eventually(t, 15*time.Second, func() bool {
		tasks, err := insp.ListPendingTasks(queue, asynq.PageSize(1000))
		if err != nil {
			return false
		}
		during = during[:0]
		for _, ti := range tasks {
			if o, ok := parseOccurrenceID(ti.ID); ok && o.at.After(down.Add(time.Second)) && o.at.Before(up.Add(-time.Second)) {
				during = append(during, ti.ID)
			}
		}
		return len(during) >= 1
	}, "an occurrence of the outage (%s to %s) enqueued after it", down.Format(time.TimeOnly), up.Format(time.TimeOnly))
	if n := counter(t, s, "failed", EntryDigestSweep); n != 0 {
		t.Errorf("tpi_scheduler_enqueue_errors_total = %v, want 0 (nothing lost)\n%s", n, log.String())
	}
	t.Logf("occurrences of the outage enqueued after it: %v", during)
}
