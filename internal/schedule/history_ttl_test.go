package schedule

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// TestSchedulerKeysExpireAfterShutdown runs a scheduler (pruning off, so
// the histories of replaced entries stay) beside what a crashed one left,
// stops it, and finds no scheduler key in Valkey without an expiry.
func TestSchedulerKeysExpireAfterShutdown(t *testing.T) {
	opt, _ := testenv.Redis(t)
	rc := testenv.RedisClient(t, opt)
	ctx := t.Context()
	// A scheduler that crashed: a history without expiry, and its entry list
	// still registered though it expired a minute ago.
	crashed := historyKeyPrefix + "00000000-0000-0000-0000-000000000000"
	if err := rc.ZAdd(ctx, crashed, redis.Z{Score: float64(time.Now().Add(-time.Hour).Unix()), Member: "event"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ZAdd(ctx, schedulersKey, redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: "asynq:schedulers:{crashed}"}).Err(); err != nil {
		t.Fatal(err)
	}

	const ttl = time.Hour
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	p := NewProvider(ProviderOptions{Overrides: onlyDigestEverySecond(), Timing: fast, Logger: logger})
	s, err := New(Options{Redis: opt, Provider: p, Timing: fast, HeartbeatInterval: 200 * time.Millisecond,
		Logger: logger, HistoryPruneInterval: -1, HistoryTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return rc.TTL(ctx, crashed).Val() > 0 }, "the crashed scheduler's history to get an expiry at start")
	testenv.Eventually(t, 10*time.Second, func() bool { return counter(t, s, "enqueued", EntryDigestSweep) >= 3 }, "three occurrences")
	s.Shutdown()

	keys, err := rc.Keys(ctx, "asynq:scheduler*").Result()
	if err != nil {
		t.Fatal(err)
	}
	histories := 0
	for _, k := range keys {
		d, err := rc.TTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d <= 0 || d > ttl {
			t.Errorf("%s: TTL %v, want (0, %v]", k, d, ttl)
		}
		if strings.HasPrefix(k, historyKeyPrefix) {
			histories++
		}
	}
	// Each occurrence was enqueued by an entry since replaced: their
	// histories outlive the scheduler, now with an expiry.
	if histories < 3 {
		t.Errorf("%d history keys after shutdown, want the crashed one and those of the replaced entries: %v", histories, keys)
	}
	if n := rc.Exists(ctx, schedulersKey).Val(); n != 0 {
		t.Errorf("%s still exists with no scheduler running: %v", schedulersKey, rc.ZRange(ctx, schedulersKey, 0, -1).Val())
	}
	if strings.Contains(log.String(), "cannot set the expiry") {
		t.Errorf("errors:\n%s", log.String())
	}
}

// TestExpireHistoryKeepsExistingExpiries sets an expiry only where there
// is none.
func TestExpireHistoryKeepsExistingExpiries(t *testing.T) {
	opt, _ := testenv.Redis(t)
	rc := testenv.RedisClient(t, opt)
	ctx := t.Context()
	rc.ZAdd(ctx, historyKeyPrefix+"bare", redis.Z{Score: 1, Member: "e"})
	rc.ZAdd(ctx, historyKeyPrefix+"short", redis.Z{Score: 1, Member: "e"})
	rc.Expire(ctx, historyKeyPrefix+"short", time.Minute)
	rc.Set(ctx, "asynq:other", "x", 0)
	n, err := expireHistory(ctx, rc, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("expireHistory: %d, %v; want 1 key set", n, err)
	}
	if d := rc.TTL(ctx, historyKeyPrefix+"bare").Val(); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("bare history: TTL %v, want 1h", d)
	}
	if d := rc.TTL(ctx, historyKeyPrefix+"short").Val(); d > time.Minute {
		t.Errorf("history with an expiry: TTL %v, want it kept at 1m", d)
	}
	if d := rc.TTL(ctx, "asynq:other").Val(); d != -1 {
		t.Errorf("another key: TTL %v, want none (untouched)", d)
	}
}
