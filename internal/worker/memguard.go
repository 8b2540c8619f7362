package worker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime/metrics"
	"strconv"
	"time"
)

// ErrMemoryLimit is returned by [App.Run] after the memory guard drained the
// worker because its memory went above MAX_MEMORY_RESTART. The process then
// exits non-zero and its supervisor starts a fresh one, as PM2's
// max_memory_restart did for the original workers.
var ErrMemoryLimit = errors.New("memory limit exceeded: drained and exiting so the supervisor restarts the worker")

// MemoryUsage reports the memory the guard compares with the limit.
type MemoryUsage func() (uint64, error)

// ProcessRSS returns the resident set size from /proc/self/statm, and falls
// back to the Go runtime's total mapped memory where /proc is missing.
func ProcessRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64(), nil
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("unexpected /proc/self/statm format")
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}

// watchMemory samples usage every interval and calls over, then returns, the
// first time it is above limit. It stops with ctx. interval must be positive.
func watchMemory(ctx context.Context, usage MemoryUsage, limit uint64, interval time.Duration, over func(used uint64)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			used, err := usage()
			if err == nil && used > limit {
				over(used)
				return
			}
		}
	}
}
