package worker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The throughput benchmarks enqueue b.N no-op tasks, then time a worker from
// start until it has handled all of them. Run them with a fixed count so
// that both sides handle the same work, e.g.
//
//	go test -run '^$' -bench 'Noop' -benchtime 10000x -count 5 ./internal/worker
func BenchmarkRuntimeNoop(b *testing.B) {
	for _, c := range []int{10, 50} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchThroughput(b, func(opt asynq.RedisClientOpt, h asynq.Handler) func() {
				mux := asynq.NewServeMux()
				mux.Handle(testType, h)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				ready := make(chan struct{})
				app := &worker.App{
					Config: worker.Config{Service: "bench", Queue: testQueue, Redis: opt, Concurrency: c, FetchLoops: worker.DefaultFetchLoops(c),
						HTTPAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, TaskCheckInterval: 100 * time.Millisecond,
						MaxMemory: 1 << 40, MemoryCheckInterval: 5 * time.Second, LogLevel: slog.LevelInfo},
					Mux:     mux,
					Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)), // at info, as in production: a success writes no line
					Signals: make(chan os.Signal),
					OnReady: func(string) { close(ready) },
				}
				go func() { done <- app.Run(ctx) }()
				<-ready
				return func() { cancel(); <-done }
			})
		})
	}
}

func BenchmarkBareAsynqNoop(b *testing.B) {
	for _, c := range []int{10, 50} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchThroughput(b, func(opt asynq.RedisClientOpt, h asynq.Handler) func() {
				srv := asynq.NewServer(opt, asynq.Config{Concurrency: c, Queues: map[string]int{testQueue: 1},
					TaskCheckInterval: 100 * time.Millisecond, LogLevel: asynq.ErrorLevel})
				if err := srv.Start(h); err != nil {
					b.Fatal(err)
				}
				return srv.Shutdown
			})
		})
	}
}

// BenchmarkBareAsynqLoops is bare asynq with the runtime's fetch loops: as
// many servers in one process, the concurrency split between them.
func BenchmarkBareAsynqLoops(b *testing.B) {
	for _, c := range []int{10, 50} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			benchThroughput(b, func(opt asynq.RedisClientOpt, h asynq.Handler) func() {
				loops := worker.DefaultFetchLoops(c)
				var srvs []*asynq.Server
				for i := range loops {
					n := c / loops
					if i < c%loops {
						n++
					}
					srv := asynq.NewServer(opt, asynq.Config{Concurrency: n, Queues: map[string]int{testQueue: 1},
						TaskCheckInterval: 100 * time.Millisecond, LogLevel: asynq.ErrorLevel})
					if err := srv.Start(h); err != nil {
						b.Fatal(err)
					}
					srvs = append(srvs, srv)
				}
				return func() {
					for _, srv := range srvs {
						srv.Shutdown()
					}
				}
			})
		})
	}
}

func benchThroughput(b *testing.B, run func(asynq.RedisClientOpt, asynq.Handler) (stop func())) {
	opt, _ := testenv.Redis(b)
	client := asynq.NewClient(opt)
	defer client.Close()
	for i := 0; i < b.N; i++ {
		if _, err := client.Enqueue(asynq.NewTask(testType, []byte(`{"repositoryCaseId":1}`)), asynq.Queue(testQueue)); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	all := make(chan struct{})
	target := int64(b.N)
	h := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if n.Add(1) == target {
			close(all)
		}
		return nil
	})
	rc := redis.NewClient(&redis.Options{Addr: opt.Addr})
	defer rc.Close()
	redis0, redisOK := redisCPU(rc)
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	start := time.Now()
	stop := run(opt, h)
	<-all
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, _ := processCPU()
	redis1, _ := redisCPU(rc)
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	// CPU per task is what a busy machine runs out of: steadier than
	// tasks/s on a shared machine, and the Valkey side is counted too.
	if cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/task")
	}
	if redisOK {
		b.ReportMetric(float64((redis1-redis0).Microseconds())/float64(b.N), "redis-cpu-µs/task")
	}
}

// redisCPU is the CPU time Redis reports having used (INFO cpu, main
// thread and children).
func redisCPU(rc *redis.Client) (time.Duration, bool) {
	info, err := rc.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0, false
	}
	var total float64
	found := false
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_sys" && k != "used_cpu_user") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		total += f
		found = true
	}
	return time.Duration(total * float64(time.Second)), found
}

// BenchmarkPickupLatency measures enqueue-to-handler-start on an idle worker
// with the runtime's default TASK_CHECK_INTERVAL (50ms), one task at a time.
//
//	go test -run '^$' -bench PickupLatency -benchtime 200x ./internal/worker
func BenchmarkPickupLatency(b *testing.B) {
	opt, _ := testenv.Redis(b)
	client := asynq.NewClient(opt)
	defer client.Close()
	lat := make(chan time.Duration, 1)
	mux := asynq.NewServeMux()
	mux.HandleFunc(testType, func(_ context.Context, t *asynq.Task) error {
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(t.Payload())))
		lat <- time.Since(sent)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	_, dbURL := testenv.Postgres(b)
	e := config.NewEnv(func(k string) string {
		return map[string]string{"VALKEY_URL": fmt.Sprintf("redis://%s/%d", opt.Addr, opt.DB), "DATABASE_URL": dbURL}[k]
	})
	cfg := worker.LoadConfig(e, "bench", testQueue, "127.0.0.1:0") // the defaults an operator gets
	if e.Err() != nil {
		b.Fatal(e.Err())
	}
	app := &worker.App{Config: cfg, Mux: mux, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Signals: make(chan os.Signal), OnReady: func(string) { close(ready) }}
	go func() { done <- app.Run(ctx) }()
	<-ready
	defer func() { cancel(); <-done }()

	// Let the worker settle into its idle polling.
	time.Sleep(300 * time.Millisecond)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		payload := make([]byte, 8)
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if _, err := client.Enqueue(asynq.NewTask(testType, payload), asynq.Queue(testQueue)); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, <-lat)
		// Wait a little so that the next enqueue lands at a random point of
		// the idle poll cycle rather than right after a fetch.
		time.Sleep(time.Duration(i%7) * 13 * time.Millisecond)
	}
	b.StopTimer()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleRedisLoad measures what an idle worker costs its Valkey: a
// private redis-server, one worker with the defaults an operator gets
// (concurrency 5, as the notification and forecast workers), idle for 10 s,
// commands per second from INFO stats. "before" is the runtime as it was
// before fetch loops (one loop, asynq's 5 s forwarder); "now" the defaults.
//
//	go test -run '^$' -bench IdleRedisLoad -benchtime 1x ./internal/worker
func BenchmarkIdleRedisLoad(b *testing.B) {
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"before", map[string]string{"FETCH_LOOPS": "1", "DELAYED_TASK_CHECK_INTERVAL": "5s"}},
		{"now", map[string]string{}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for range b.N {
				b.ReportMetric(idleCommandsPerSecond(b, tt.env, 10*time.Second), "cmds/s")
			}
		})
	}
}

func idleCommandsPerSecond(b *testing.B, extra map[string]string, window time.Duration) float64 {
	port := freePort(b)
	srv := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := srv.Start(); err != nil {
		b.Fatalf("redis-server: %v", err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rc.Close()
	testenv.Eventually(b, 10*time.Second, func() bool { return rc.Ping(context.Background()).Err() == nil }, "private redis-server up")

	_, dbURL := testenv.Postgres(b)
	vars := map[string]string{"VALKEY_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", port), "DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0"}
	maps.Copy(vars, extra)
	e := config.NewEnv(func(k string) string { return vars[k] })
	cfg := worker.LoadConfig(e, "bench", task.QueueNotifications, "")
	if e.Err() != nil {
		b.Fatal(e.Err())
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	app := &worker.App{Config: cfg, Mux: asynq.NewServeMux(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Signals: make(chan os.Signal), OnReady: func(string) { close(ready) }}
	go func() { done <- app.Run(ctx) }()
	<-ready
	time.Sleep(2 * time.Second) // past the start-up burst
	before := commandsProcessed(b, rc)
	time.Sleep(window)
	after := commandsProcessed(b, rc)
	cancel()
	<-done
	return float64(after-before) / window.Seconds()
}

func commandsProcessed(b *testing.B, rc *redis.Client) int64 {
	info, err := rc.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n - 1 // this INFO itself
		}
	}
	b.Fatal("no total_commands_processed in INFO stats")
	return 0
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
