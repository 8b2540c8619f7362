//go:build unix

package worker

import (
	"os"
	"os/signal"
	"syscall"
)

func notifySignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTSTP)
	return ch, func() { signal.Stop(ch) }
}

func isStopSignal(s os.Signal) bool { return s == syscall.SIGTSTP }
