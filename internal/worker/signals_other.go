//go:build !unix

package worker

import (
	"os"
	"os/signal"
)

func notifySignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt)
	return ch, func() { signal.Stop(ch) }
}

func isStopSignal(os.Signal) bool { return false }
