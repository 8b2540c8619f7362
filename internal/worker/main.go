package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/testplanit/tpi-workers/internal/config"
)

// Exit codes of [Main].
const (
	ExitOK          = 0
	ExitError       = 1 // configuration or dependency error, one line on stderr
	ExitMemoryLimit = 3 // the memory guard drained the worker; restart it
)

// Main is the whole body of a binary's main function: it applies the soft
// memory limit, calls run with the process environment, prints a failure as
// one line on stderr and exits with the matching code.
//
// run receives a context cancelled on SIGINT/SIGTERM for binaries that do not
// use [App] (an App handles its own signals to drain in order).
func Main(run func(ctx context.Context, getenv func(string) string) error) {
	applySoftMemoryLimit(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Getenv)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrMemoryLimit):
		fmt.Fprintln(os.Stderr, err)
		return ExitMemoryLimit
	default:
		fmt.Fprintln(os.Stderr, err)
		return ExitError
	}
}

// applySoftMemoryLimit sets the GC's soft limit to 90% of MAX_MEMORY_RESTART
// unless GOMEMLIMIT is set (the Go runtime then applies it itself).
func applySoftMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := uint64(1 << 30)
	if raw := getenv("MAX_MEMORY_RESTART"); raw != "" {
		n, err := config.ParseBytes(raw)
		if err != nil {
			return // LoadConfig reports it
		}
		limit = n
	}
	debug.SetMemoryLimit(int64(limit / 10 * 9))
}
