//go:build !unix

package worker_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
