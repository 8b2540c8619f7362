// Command scaleworker is the worker process of `make bench-scale`
// (test/scale): the fleet's runtime, internal/worker's App with its
// middleware, fetch loops and lifecycle, around two handlers: one waits as
// a network call would, the other does nothing. It is a benchmark tool,
// internal to the fleet and never shipped.
//
// Task types (queue SCALE_QUEUE, default "scale"):
//
//   - "scale:io" waits SCALE_IO_WAIT (default 10ms), or until the task's
//     context ends;
//   - "scale:noop" returns at once.
//
// Environment: the runtime's (VALKEY_URL, HTTP_ADDR, FETCH_LOOPS,
// TASK_CHECK_INTERVAL, SHUTDOWN_TIMEOUT, LOG_*; no database) plus
// SCALE_CONCURRENCY (default 10), the slots of the process whatever the
// queue.
package main

import (
	"context"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// The task types this worker handles; test/scale enqueues the same names.
const (
	TypeIO   = "scale:io"
	TypeNoop = "scale:noop"
)

func main() { worker.Main(run) }

func run(ctx context.Context, getenv func(string) string) error {
	env := config.NewEnv(getenv)
	// The client configuration has the runtime's variables without a queue
	// of the task contract or a required database; the queue's are set here.
	cfg := worker.LoadClientConfig(env, "scaleworker", "127.0.0.1:0")
	cfg.Queue = env.String("SCALE_QUEUE", "scale")
	cfg.Concurrency = env.Int("SCALE_CONCURRENCY", 10, 1, 1000)
	cfg.FetchLoops = env.Int("FETCH_LOOPS", worker.DefaultFetchLoops(cfg.Concurrency), 1, 64)
	if cfg.FetchLoops > cfg.Concurrency {
		env.Fail("FETCH_LOOPS", "%d loops for concurrency %d: each loop needs at least one slot", cfg.FetchLoops, cfg.Concurrency)
	}
	wait := env.Duration("SCALE_IO_WAIT", 10*time.Millisecond)
	if err := env.Err(); err != nil {
		return err
	}
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeIO, func(ctx context.Context, _ *asynq.Task) error {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	mux.HandleFunc(TypeNoop, func(context.Context, *asynq.Task) error { return nil })
	return (&worker.App{Config: cfg, Mux: mux}).Run(ctx)
}
