package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/pkg/task"
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

// A permanent error's message is its cause's alone: asynq stores it as the
// archived task's reason, so it must not end in ": skip retry for the task";
// it still matches asynq.SkipRetry (asynq archives it) and the cause's chain.
func TestPermanentKeepsTheReasonClean(t *testing.T) {
	var pe *task.PayloadError
	cause := fmt.Errorf("load case: %w", &task.PayloadError{Field: "repositoryCaseId", Problem: "required"})
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"plain", Permanent(errors.New("user u1 does not exist")), "user u1 does not exist"},
		{"wrapped by a handler", fmt.Errorf("notify: %w", Permanent(errors.New("gone"))), "notify: gone"},
		{"twice", Permanent(Permanent(errors.New("gone"))), "gone"},
		{"old-style SkipRetry wrap", Permanent(fmt.Errorf("%w: %w", errors.New("gone"), asynq.SkipRetry)), "gone"},
		{"payload error", Permanent(cause), "load case: invalid payload: repositoryCaseId: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("message %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.err, asynq.SkipRetry) || !IsPermanent(tc.err) || Class(tc.err) != "permanent" {
				t.Errorf("%v does not match asynq.SkipRetry", tc.err)
			}
		})
	}
	if err := Permanent(cause); !errors.Is(err, task.ErrInvalidPayload) || !errors.As(err, &pe) || pe.Field != "repositoryCaseId" {
		t.Errorf("Permanent(%v) hides its cause's chain", cause)
	}
	if got := archiveReason(Permanent(cause)); got != "invalid" {
		t.Errorf("archive reason %q, want invalid", got)
	}
	// Already clean and permanent: returned as is.
	if err := fmt.Errorf("bad: %w", cause); Permanent(err) != err {
		t.Error("Permanent wrapped an error that already matches SkipRetry with a clean message")
	}
}

func TestTrimSkipRetry(t *testing.T) {
	if want := ": " + asynq.SkipRetry.Error(); skipRetrySuffix != want {
		t.Fatalf("asynq's SkipRetry now reads %q: update skipRetrySuffix", want)
	}
	for in, want := range map[string]string{
		"user u1 does not exist: skip retry for the task": "user u1 does not exist",
		"user u1 does not exist":                          "user u1 does not exist",
		"skip retry for the task":                         "skip retry for the task",
		"":                                                "",
	} {
		if got := TrimSkipRetry(in); got != want {
			t.Errorf("TrimSkipRetry(%q) = %q, want %q", in, got, want)
		}
	}
}

// asynq's "Retry exhausted" line is dropped (the error handler logs "task
// archived" instead); its other warnings pass.
func TestAsynqLoggerDropsRetryExhausted(t *testing.T) {
	var buf bytes.Buffer
	l := AsynqLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Warn("Retry exhausted for task id=abc")
	l.Warn("Quitting worker. task id=abc")
	out := buf.String()
	if strings.Contains(out, "Retry exhausted") || !strings.Contains(out, "Quitting worker") || !strings.Contains(out, "component=asynq") {
		t.Errorf("logged:\n%s", out)
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
