package task_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		taskType    string
		base, limit time.Duration
	}{
		{task.TypeCreateNotification, 5 * time.Second, time.Hour},
		{task.TypeSendDigestEmail, 10 * time.Second, time.Hour},
		{task.TypeUpdateAllCasesForecast, 5 * time.Second, time.Hour},
		{task.TypeRefreshIssue, 5 * time.Second, time.Hour},
		{task.TypeProcessTestmoImport, 10 * time.Second, 10 * time.Minute},
		{task.TypeReindex, 10 * time.Second, 10 * time.Minute},
		{task.TypeAuditEvent, 5 * time.Second, time.Hour},
		{"unknown:type", 5 * time.Second, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.taskType, func(t *testing.T) {
			tk := asynq.NewTask(tt.taskType, nil)
			var prevLow time.Duration
			for n := 0; n <= 12; n++ {
				nominal := tt.base << n
				if nominal > tt.limit {
					nominal = tt.limit
				}
				low, high := nominal/2, nominal
				if low < prevLow {
					t.Fatalf("n=%d: lower bound %v shrank from %v", n, low, prevLow)
				}
				prevLow = low
				var lo, hi time.Duration = 1<<63 - 1, 0
				for range 500 {
					d := task.RetryDelay(n, errors.New("boom"), tk)
					if d < low || d > high {
						t.Fatalf("n=%d: delay %v outside [%v, %v]", n, d, low, high)
					}
					lo, hi = min(lo, d), max(hi, d)
				}
				// Jitter spreads retries: 500 draws cover most of the range.
				if hi-lo < (high-low)/2 {
					t.Errorf("n=%d: 500 delays within [%v, %v], want spread over [%v, %v]", n, lo, hi, low, high)
				}
			}
			if d := task.RetryDelay(0, nil, tk); d < tt.base/2 || d > tt.base {
				t.Errorf("first retry %v, want within [%v, %v]", d, tt.base/2, tt.base)
			}
			for _, n := range []int{20, 63, 64, 1000, 1 << 40} {
				if d := task.RetryDelay(n, nil, tk); d < tt.limit/2 || d > tt.limit {
					t.Errorf("n=%d: %v, want capped within [%v, %v]", n, d, tt.limit/2, tt.limit)
				}
			}
		})
	}
}

func TestRetryDelayEdges(t *testing.T) {
	if d := task.RetryDelay(-1, nil, asynq.NewTask(task.TypeSendDigestEmail, nil)); d < 5*time.Second || d > 10*time.Second {
		t.Errorf("n=-1: %v, want the first retry's delay", d)
	}
	if d := task.RetryDelay(0, nil, nil); d < 2500*time.Millisecond || d > 5*time.Second {
		t.Errorf("nil task: %v, want the default 5s base", d)
	}
}
