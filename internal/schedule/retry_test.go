package schedule

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// privateRedis starts a redis-server of the test's own on port (no
// persistence).
func privateRedis(t *testing.T, port int) *testenv.Proc {
	t.Helper()
	p := testenv.StartProc(t, "redis-server", "redis-server", []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, nil)
	testenv.WaitRedisPing(t, port)
	return p
}

// TestOccurrencesDuringAnOutageAreEnqueuedAfterIt stops Valkey for about
// three seconds (as long as a Sentinel failover takes) under a scheduler
// with an every-second entry: the occurrences that fell in the outage are
// enqueued when Valkey answers again, and none is reported lost.
func TestOccurrencesDuringAnOutageAreEnqueuedAfterIt(t *testing.T) {
	port := testenv.FreePortIn(t, 20000, 30000)
	first := privateRedis(t, port)
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

	first.Kill9()
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
