package k8s_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/redis/go-redis/v9"
)

// asynqModule is the module whose key names the ScaledObjects rely on.
const asynqModule = "github.com/hibiken/asynq"

// The asynq this test runs is the one the workers are built with: a new
// asynq in the main module's go.mod fails here until it is required here
// too, and TestScaledObjectsWatchAsynqLists then checks the new version's
// key names.
func TestSameAsynqAsTheWorkers(t *testing.T) {
	workers, ours := requiredVersion(t, filepath.Join(repoRoot, "go.mod")), requiredVersion(t, "go.mod")
	if ours != workers {
		t.Errorf("this module tests against %s %s, the workers use %s: run `go get %s@%s && go mod tidy` in deploy/k8s",
			asynqModule, ours, workers, asynqModule, workers)
	}
}

// requiredVersion returns the version of asynq a go.mod requires. Since Go
// 1.17 a go.mod lists the selected version of every module it imports.
func requiredVersion(t *testing.T, gomod string) string {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(asynqModule) + `\s+(v\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s requires no %s", gomod, asynqModule)
	}
	return string(m[1])
}

// Every list a ScaledObject watches is the one asynq v0.26 fills: the key
// taken from the manifests grows by one with each task enqueued into that
// queue (pending), or holds the task a worker runs (active). A wrong queue
// name, a missing brace, a "_pending" would watch a key that stays empty,
// and KEDA (which reads a missing key as an empty list) would never scale.
func TestScaledObjectsWatchAsynqLists(t *testing.T) {
	lists := map[string]bool{}
	for _, path := range manifestFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(path, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if so, ok := o.Obj.(*kedav1alpha1.ScaledObject); ok {
				for _, trig := range so.Spec.Triggers {
					if l := trig.Metadata["listName"]; l != "" {
						lists[l] = true
					}
				}
			}
		}
	}
	if len(lists) < 4 {
		t.Fatalf("only %d lists watched: %v", len(lists), lists)
	}
	listRE := regexp.MustCompile(`^asynq:\{(.+)\}:(pending|active)$`)
	opt := leaseRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB})
	defer rc.Close()
	client := asynq.NewClient(opt)
	defer client.Close()
	ctx := context.Background()
	for list := range lists {
		m := listRE.FindStringSubmatch(list)
		if m == nil {
			t.Errorf("listName %q is not asynq:{<queue>}:pending or :active", list)
			continue
		}
		queue, state := m[1], m[2]
		t.Run(list, func(t *testing.T) {
			llen := func() int64 {
				n, err := rc.LLen(ctx, list).Result()
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := llen(); n != 0 {
				t.Fatalf("LLEN %s = %d before any task", list, n)
			}
			switch state {
			case "pending":
				for i := 1; i <= 2; i++ {
					if _, err := client.Enqueue(asynq.NewTask("k8s:probe", nil), asynq.Queue(queue)); err != nil {
						t.Fatal(err)
					}
					if n := llen(); n != int64(i) {
						t.Fatalf("after %d tasks enqueued into %q, LLEN %s = %d", i, queue, list, n)
					}
				}
				info, err := asynq.NewInspector(opt).GetQueueInfo(queue)
				if err != nil || info.Pending != 2 {
					t.Fatalf("asynq's Inspector: %+v, %v; want 2 pending", info, err)
				}
			case "active":
				// A real server takes the task and holds it while the test looks.
				release := make(chan struct{})
				srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{queue: 1},
					TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel})
				if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { <-release; return nil })); err != nil {
					t.Fatal(err)
				}
				defer srv.Shutdown()
				if _, err := client.Enqueue(asynq.NewTask("k8s:probe", nil), asynq.Queue(queue)); err != nil {
					t.Fatal(err)
				}
				eventually(t, 10*time.Second, func() bool { return llen() == 1 }, "LLEN %s never reached 1 while the task ran", list)
				close(release)
				eventually(t, 10*time.Second, func() bool { return llen() == 0 }, "LLEN %s still not 0 after the task ended", list)
			}
		})
	}
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaseRedis leases one of the test server's databases 1 to 15 for the test
// and flushes it before and after, with the main module's convention
// (internal/testenv, which another module cannot import): a lease is the key
// tpi-test:lease:db:<n> in database 0, so this test never shares a database
// with the workers' tests running at the same time. REDIS_TEST_ADDR or
// 127.0.0.1:6379.
func leaseRedis(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	addr := os.Getenv("REDIS_TEST_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	ctx := context.Background()
	ctl := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { ctl.Close() })
	if err := ctl.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is unreachable (%v); start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no", addr, err)
	}
	tok := make([]byte, 8)
	_, _ = rand.Read(tok)
	token := hex.EncodeToString(tok) + ":" + t.Name()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for db := 1; db <= 15; db++ {
			key := fmt.Sprintf("tpi-test:lease:db:%d", db)
			ok, err := ctl.SetNX(ctx, key, token, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("lease a Redis database: %v", err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: addr, DB: db})
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = c.FlushDB(context.Background()).Err()
				c.Close()
				if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
					ctl.Del(context.Background(), key)
				}
			})
			return asynq.RedisClientOpt{Addr: addr, DB: db}
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis test database after 3 minutes (leases: keys tpi-test:lease:db:* in database 0)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
