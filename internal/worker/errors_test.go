package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestClassifyErrors(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err       error
		class     string
		failure   bool
		permanent bool
	}{
		{nil, "success", true, false},
		{base, "transient", true, false},
		{fmt.Errorf("send: %w", context.DeadlineExceeded), "transient", true, false},
		{Permanent(base), "permanent", true, true},
		{fmt.Errorf("wrapped: %w", Permanent(base)), "permanent", true, true},
		{fmt.Errorf("decode: %w", asynq.SkipRetry), "permanent", true, true},
		{RateLimited(base, 30*time.Second), "rate_limited", false, false},
	}
	for _, tc := range cases {
		if got := Class(tc.err); got != tc.class {
			t.Errorf("Class(%v) = %s, want %s", tc.err, got, tc.class)
		}
		if tc.err != nil && isFailure(tc.err) != tc.failure {
			t.Errorf("isFailure(%v) = %v", tc.err, !tc.failure)
		}
		if IsPermanent(tc.err) != tc.permanent {
			t.Errorf("IsPermanent(%v) = %v", tc.err, !tc.permanent)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent hides the cause")
	}
}

func TestRetryDelayHonoursRateLimit(t *testing.T) {
	f := retryDelay(func(int, error, *asynq.Task) time.Duration { return time.Second })
	// One second more: asynq rounds a retry time down to the second.
	if d := f(0, RateLimited(errors.New("429"), 42*time.Second), nil); d != 43*time.Second {
		t.Errorf("rate limited delay %s", d)
	}
	if d := f(0, errors.New("x"), nil); d != time.Second {
		t.Errorf("transient delay %s", d)
	}
}

func TestExitCode(t *testing.T) {
	if exitCode(nil) != ExitOK || exitCode(ErrMemoryLimit) != ExitMemoryLimit || exitCode(errors.New("x")) != ExitError {
		t.Fatal("exit codes")
	}
}
