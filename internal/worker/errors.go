package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Error classes. A handler returns:
//
//   - nil on success;
//   - [Permanent](err) for a bad payload or a row that does not exist: the
//     task is archived at once with the reason, never retried;
//   - [RateLimited](err, after) when a provider asked to wait: retried after
//     that delay, and not counted as a failure;
//   - [UnavailableError] is not returned by handlers: the runtime's
//     dependency gate makes it of a failure whose dependency is down (see
//     gate.go); the task waits without spending an attempt;
//   - any other error for a transient failure (database, network, SMTP): it
//     is retried with the queue's exponential backoff.
//
// A task whose context was cancelled because the process is shutting down is
// pushed back to the queue by asynq and runs again.

// Permanent marks err as not worth retrying. The task is archived at once
// with err's message alone as its reason (asynq's LastErr, shown by tpictl
// and asynqmon), without the ": skip retry for the task" that wrapping
// [asynq.SkipRetry] with %w would append. The result matches both
// asynq.SkipRetry and err's own chain with errors.Is and errors.As.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, asynq.SkipRetry) && TrimSkipRetry(err.Error()) == err.Error() {
		return err
	}
	return &permanentError{err: err}
}

// permanentError is what [Permanent] returns: its message is the cause's
// (with any SkipRetry suffix trimmed), and it unwraps to both the cause and
// asynq.SkipRetry.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return TrimSkipRetry(e.err.Error()) }

func (e *permanentError) Unwrap() []error { return []error{e.err, asynq.SkipRetry} }

// skipRetrySuffix is what fmt.Errorf("%w: %w", err, asynq.SkipRetry) adds to
// err's message (asynq v0.26's SkipRetry text; a test holds it to it).
const skipRetrySuffix = ": skip retry for the task"

// TrimSkipRetry returns msg without a trailing ": skip retry for the task":
// the reason of a task archived by a version of the runtime before
// [Permanent] kept it out, or by code that wraps asynq.SkipRetry itself.
func TrimSkipRetry(msg string) string { return strings.TrimSuffix(msg, skipRetrySuffix) }

// IsPermanent reports whether err was marked with [Permanent] (or wraps
// asynq.SkipRetry directly, as pkg/task's decoding errors do).
func IsPermanent(err error) bool { return errors.Is(err, asynq.SkipRetry) }

// RateLimitError asks for a retry after a provider-given delay.
type RateLimitError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// RateLimited wraps err as a [RateLimitError].
func RateLimited(err error, after time.Duration) error {
	return &RateLimitError{Err: err, RetryAfter: after}
}

// Class names an error's class, as used in logs and metric labels.
func Class(err error) string {
	var rl *RateLimitError
	var un *UnavailableError
	switch {
	case err == nil:
		return "success"
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &un):
		return "unavailable"
	case IsPermanent(err):
		return "permanent"
	default:
		return "transient"
	}
}

// retryDelay consults rate-limit hints before the queue's backoff.
func retryDelay(base asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var rl *RateLimitError
		if errors.As(err, &rl) && rl.RetryAfter > 0 {
			// asynq keeps a retry's time in whole Unix seconds, rounded
			// down; one more second makes the wait at least the one asked.
			return rl.RetryAfter + time.Second
		}
		var un *UnavailableError
		if errors.As(err, &un) {
			return max(un.RetryAfter, time.Second)
		}
		return base(n, err, t)
	}
}

// isFailure keeps rate-limit waits and dependency outages out of the
// failure counts: such a retry spends no attempt.
func isFailure(err error) bool {
	var rl *RateLimitError
	var un *UnavailableError
	return !errors.As(err, &rl) && !errors.As(err, &un)
}

// errExhausted marks a failure archived because the task's retries are spent.
var errExhausted = errors.New("no retry left")

// archiveReason classifies why a task is archived, for the
// tpi_tasks_archived_total metric: "invalid" (its payload), "tenant" (an
// unknown, missing or foreign tenant), "exhausted" (its retries spent on its
// own failures) or "permanent" (a refusal of the task: a missing row, a 5xx
// for this message).
func archiveReason(err error) string {
	switch {
	case errors.Is(err, task.ErrInvalidPayload):
		return "invalid"
	case errors.Is(err, tenant.ErrUnknownTenant), errors.Is(err, tenant.ErrTenantRequired), errors.Is(err, tenant.ErrForeignTenant):
		return "tenant"
	case errors.Is(err, errExhausted):
		return "exhausted"
	default:
		return "permanent"
	}
}

// logArchived returns the servers' error handler. asynq calls it after every
// failed attempt; for a task asynq is about to archive (a permanent error, or
// its retries spent: asynq's own rule) it logs one line, "task archived", with
// the task, its tenant, the reason as stored (reason), the metric's reason
// label (kind: invalid, tenant, exhausted or permanent) and the retries spent.
// asynq's own "Retry exhausted for task" line, which it writes whatever the
// cause, is dropped by [AsynqLogger].
func logArchived(log *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		if errors.Is(err, asynq.RevokeTask) || (retried < maxRetry && !errors.Is(err, asynq.SkipRetry)) {
			return // retried (or revoked), not archived
		}
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		attrs := []any{"queue", queue, "type", t.Type(), "task_id", id}
		if tn, terr := task.TenantOf(t); terr == nil && tn != "" {
			attrs = append(attrs, "tenant", tn)
		}
		kind := "exhausted"
		if IsPermanent(err) {
			kind = archiveReason(err)
		}
		attrs = append(attrs, "reason", TrimSkipRetry(err.Error()), "kind", kind, "retried", retried, "max_retry", maxRetry)
		log.WarnContext(ctx, "task archived", attrs...)
	})
}
