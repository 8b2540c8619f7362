package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// DigestPlan is one user's digest planned by a sweep.
type DigestPlan struct {
	UserID          string
	Day             string // user-local date, YYYY-MM-DD
	NotificationIDs []string
}

// planQuery asks for the digests of the next Limit users after Cursor (in
// id order) that are due at Now.
type planQuery struct {
	Now        time.Time
	DigestTime string        // "HH:MM", user-local
	Lookback   time.Duration // the first digest's window
	Limit      int
	Cursor     string
}

// planned is one batch of a sweep.
type planned struct {
	// Planned is the number of digest days recorded (with or without mail).
	Planned int
	// WithMail are the planned digests that carry unread notifications.
	WithMail []DigestPlan
	// Next is the cursor of the next batch; Done when no user is left.
	Next string
	Done bool
}

// digestStore is what the sweep needs of the tenant's database: the users
// and notifications it plans from and the digest ledger
// (worker.notification_digests), one row per user and user-local day.
type digestStore interface {
	// PlanDigests records the digests due in the next batch of users.
	PlanDigests(ctx context.Context, q planQuery) (planned, error)
	// PendingDigests returns up to limit digests of the last two days that
	// carry notifications but whose email was not enqueued (a sweep
	// stopped between the two steps).
	PendingDigests(ctx context.Context, now time.Time, limit int) ([]DigestPlan, error)
	// MarkEnqueued records that the emails of plans are in the queue.
	MarkEnqueued(ctx context.Context, now time.Time, plans []DigestPlan) error
	// PruneDigests deletes ledger rows created before before.
	PruneDigests(ctx context.Context, before time.Time) error
}

func (h *Handler) digestDefaults() (digestTime string, lookback time.Duration, batch, workers int, retention time.Duration) {
	digestTime, lookback, batch, workers, retention = h.DigestTime, h.FirstDigestLookback, h.BatchSize, h.EnqueueWorkers, h.DigestRetention
	if digestTime == "" {
		digestTime = "08:00"
	}
	if lookback <= 0 {
		lookback = 7 * 24 * time.Hour
	}
	if batch <= 0 {
		batch = 1000
	}
	if workers <= 0 {
		workers = 8
	}
	if retention <= 0 {
		retention = 35 * 24 * time.Hour
	}
	return
}

// DigestResult sums up one sweep.
type DigestResult struct {
	// Planned is the number of users whose digest day was recorded.
	Planned int
	// Enqueued is the number of digest emails enqueued (users with unread
	// notifications), including ones left pending by an earlier sweep.
	Enqueued int
}

// SendDailyDigest handles notifications:send-daily-digest: a [Handler.Sweep]
// of the task's tenant, publishing its progress as the task's result.
func (h *Handler) SendDailyDigest(ctx context.Context, _ task.SendDailyDigest) error {
	var progress *worker.Progress
	if w := worker.ResultWriterFrom(ctx); w != nil {
		clock := h.Clock
		if clock == nil {
			clock = worker.SystemClock{}
		}
		progress = worker.NewProgress(w, clock, 0)
	}
	res, err := h.Sweep(ctx, progress)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("daily digest sweep done", "users_planned", res.Planned, "digests_enqueued", res.Enqueued)
	return nil
}

// Sweep plans and enqueues every digest of ctx's tenant ([worker.TenantFrom])
// due at the handler's clock; progress may be nil. It is safe to run any
// number of times, concurrently too: the ledger's primary key admits one
// digest per user and local day, and the email task's ID is deterministic.
func (h *Handler) Sweep(ctx context.Context, progress *worker.Progress) (DigestResult, error) {
	tn := worker.TenantFrom(ctx)
	return h.sweep(ctx, newStore(tn.DB, tn.ID), tn.ID, progress)
}

func (h *Handler) sweep(ctx context.Context, st digestStore, tenantID string, progress *worker.Progress) (DigestResult, error) {
	digestTime, lookback, batch, _, retention := h.digestDefaults()
	now := h.now()
	var res DigestResult

	// Complete what an interrupted sweep planned but did not enqueue.
	for {
		plans, err := st.PendingDigests(ctx, now, batch)
		if err != nil {
			return res, err
		}
		if len(plans) == 0 {
			break
		}
		n, err := h.enqueue(ctx, st, tenantID, now, plans)
		res.Enqueued += n
		if err != nil {
			return res, err
		}
		if len(plans) < batch {
			break
		}
	}
	q := planQuery{Now: now, DigestTime: digestTime, Lookback: lookback, Limit: batch}
	for {
		b, err := st.PlanDigests(ctx, q)
		if err != nil {
			return res, err
		}
		res.Planned += b.Planned
		n, err := h.enqueue(ctx, st, tenantID, now, b.WithMail)
		res.Enqueued += n
		if err != nil {
			return res, err
		}
		if progress != nil {
			_, _ = progress.Update("digest", int64(res.Planned), 0, fmt.Sprintf("%d users planned, %d digests enqueued", res.Planned, res.Enqueued))
		}
		if b.Done {
			break
		}
		q.Cursor = b.Next
	}
	if err := st.PruneDigests(ctx, now.Add(-retention)); err != nil {
		return res, err
	}
	if progress != nil {
		_ = progress.Done("digest", int64(res.Planned), int64(res.Planned), fmt.Sprintf("%d digests enqueued", res.Enqueued))
	}
	return res, nil
}

// enqueue puts one send-digest-email task per plan, for tenantID (a
// duplicate ID is success), then records them as enqueued.
func (h *Handler) enqueue(ctx context.Context, st digestStore, tenantID string, now time.Time, plans []DigestPlan) (int, error) {
	if len(plans) == 0 {
		return 0, nil
	}
	_, _, _, workers, _ := h.digestDefaults()
	jobs := make(chan DigestPlan)
	var mu sync.Mutex
	var firstErr error
	var done []DigestPlan
	var wg sync.WaitGroup
	for range min(workers, len(plans)) {
		wg.Go(func() {
			for pl := range jobs {
				t, err := task.NewSendDigestEmail(task.SendDigestEmail{UserID: pl.UserID, NotificationIDs: pl.NotificationIDs, Day: pl.Day, TenantID: tenantID})
				if err == nil {
					_, err = task.Enqueue(ctx, h.Enqueuer, t)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("enqueue digest for user %s: %w", pl.UserID, err)
				} else if err == nil {
					done = append(done, pl)
				}
				mu.Unlock()
			}
		})
	}
	for _, pl := range plans {
		jobs <- pl
	}
	close(jobs)
	wg.Wait()
	if len(done) > 0 {
		if err := st.MarkEnqueued(ctx, now, done); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return len(done), firstErr
}
