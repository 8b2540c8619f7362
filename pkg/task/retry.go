package task

import (
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Backoff of a task type this package does not define.
const (
	defaultBaseBackoff = 5 * time.Second
	defaultMaxBackoff  = 10 * time.Minute
)

// RetryDelay is an [asynq.RetryDelayFunc]: exponential backoff from the base
// of the task's queue, with equal jitter, capped at the queue's MaxBackoff.
//
// n is the number of retries so far, so the first retry has n = 0. The
// nominal delay is BaseBackoff·2^n, BullMQ's delay·2^(attempt-1), capped at
// MaxBackoff; the returned delay is drawn uniformly from
// [nominal/2, nominal]. A task of an unknown type gets a 5 s base and a
// 10 min cap. err is not consulted.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	base, limit := defaultBaseBackoff, defaultMaxBackoff
	if t != nil {
		if name, ok := QueueOf(t.Type()); ok {
			if q, ok := LookupQueue(name); ok {
				base, limit = q.BaseBackoff, q.MaxBackoff
			}
		}
	}
	return jittered(nominalDelay(base, limit, n))
}

// RetryDelayWith is [RetryDelay] with the same base and cap for every queue,
// for an operator who shortens or stretches the retry window of a worker.
func RetryDelayWith(base, limit time.Duration) asynq.RetryDelayFunc {
	return func(n int, _ error, _ *asynq.Task) time.Duration {
		return jittered(nominalDelay(base, limit, n))
	}
}

// jittered draws uniformly from [d/2, d] (equal jitter).
func jittered(d time.Duration) time.Duration { return d/2 + rand.N(d-d/2+1) }

// nominalDelay returns base·2^n capped at limit, without overflowing.
func nominalDelay(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
