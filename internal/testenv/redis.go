package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisAddr is the Redis/Valkey server the tests use: REDIS_TEST_ADDR or
// 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("REDIS_TEST_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

const (
	firstTestDB = 1
	lastTestDB  = 15
	leaseTTL    = 10 * time.Minute
)

// Redis leases one of the server's logical databases (1 to 15) for the test,
// flushes it, and flushes and releases it at cleanup. Leases are keys in DB 0,
// so parallel test binaries never share a database; a test waits for a free
// one. It returns asynq connection options and the URL form for VALKEY_URL.
//
// An unreachable server fails the test with the command that starts it.
func Redis(t testing.TB) (asynq.RedisClientOpt, string) {
	t.Helper()
	ctx := context.Background()
	addr := RedisAddr()
	ctl := redis.NewClient(&redis.Options{Addr: addr, DB: 0})
	t.Cleanup(func() { ctl.Close() })
	if err := ctl.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis at %s is unreachable (%v); start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no", addr, err)
	}
	tok := make([]byte, 8)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok) + ":" + t.Name()

	deadline := time.Now().Add(3 * time.Minute)
	for {
		for db := firstTestDB; db <= lastTestDB; db++ {
			key := fmt.Sprintf("tpi-test:lease:db:%d", db)
			ok, err := ctl.SetNX(ctx, key, token, leaseTTL).Result()
			if err != nil {
				t.Fatalf("testenv: lease Redis DB: %v", err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("testenv: flush Redis DB %d: %v", db, err)
			}
			t.Cleanup(func() {
				_ = c.FlushDB(context.Background()).Err()
				c.Close()
				if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
					ctl.Del(context.Background(), key)
				}
			})
			return asynq.RedisClientOpt{Addr: addr, DB: db}, fmt.Sprintf("redis://%s/%d", addr, db)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no free Redis test database after 3 minutes (leases in DB 0, keys tpi-test:lease:db:*)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RedisClient returns a go-redis client on the same database as opt, closed at
// cleanup, for assertions on raw keys.
func RedisClient(t testing.TB, opt asynq.RedisClientOpt) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
	t.Cleanup(func() { c.Close() })
	return c
}

// Eventually polls cond every 10ms until it returns true or timeout passes,
// then fails the test with msg. Tests use it instead of sleeping.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
