package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// DigestPlan is one user's digest planned by a sweep.
type DigestPlan struct {
	UserID          string
	Day             string // user-local date, YYYY-MM-DD
	NotificationIDs []string
}

// planSQL plans the digests of the next $4 users after the cursor $5 (in
// id order) whose effective mode is IN_APP_EMAIL_DAILY. A user is due when
// their local time ($1 in their time zone; an unknown zone counts as UTC) is
// at or after $2 and they have no digest row for their local day yet. Each
// new row carries the unread, undeleted notifications created after the
// user's previous digest cutoff (or within the first-digest lookback, $3
// seconds) and up to $1, newest first.
//
// The first row returned holds the batch's last user id (the next cursor;
// NULL when no candidate is left); the others are the digests inserted.
const planSQL = `
WITH def AS (
    SELECT coalesce((SELECT value->>'defaultMode' FROM "AppConfig" WHERE key = 'notificationSettings'), 'IN_APP') AS mode
), batch AS (
    SELECT u.id AS user_id, p.timezone
    FROM "User" u
    LEFT JOIN "UserPreferences" p ON p."userId" = u.id
    CROSS JOIN def
    WHERE u.id > $5 AND u."isActive" AND NOT u."isDeleted" AND u.email <> ''
      AND CASE WHEN coalesce(p."notificationMode"::text, 'USE_GLOBAL') = 'USE_GLOBAL' THEN def.mode
               ELSE p."notificationMode"::text END = 'IN_APP_EMAIL_DAILY'
    ORDER BY u.id
    LIMIT $4
), local AS (
    SELECT b.user_id, z.tz, ($1::timestamptz AT TIME ZONE z.tz) AS local_ts
    FROM batch b CROSS JOIN LATERAL (SELECT worker.valid_time_zone(b.timezone) AS tz) z
), due AS (
    SELECT l.user_id, l.tz, l.local_ts::date AS day
    FROM local l
    WHERE l.local_ts::time >= $2::time
      AND NOT EXISTS (SELECT 1 FROM worker.notification_digests d
                      WHERE d.user_id = l.user_id AND d.local_day = l.local_ts::date)
), planned AS (
    SELECT due.user_id, due.day, due.tz,
           coalesce(array_agg(n.id ORDER BY n."createdAt" DESC, n.id) FILTER (WHERE n.id IS NOT NULL), '{}') AS ids
    FROM due
    LEFT JOIN LATERAL (SELECT max(d.cutoff) AS cutoff FROM worker.notification_digests d WHERE d.user_id = due.user_id) last ON true
    LEFT JOIN "Notification" n
           ON n."userId" = due.user_id AND NOT n."isRead" AND NOT n."isDeleted"
          AND n."createdAt" <= $1
          AND n."createdAt" > coalesce(last.cutoff, $1::timestamptz - make_interval(secs => $3::double precision))
    GROUP BY due.user_id, due.day, due.tz
), ins AS (
    INSERT INTO worker.notification_digests (user_id, local_day, time_zone, cutoff, notification_ids)
    SELECT user_id, day, tz, $1, ids FROM planned
    ON CONFLICT (user_id, local_day) DO NOTHING
    RETURNING user_id, local_day, notification_ids
)
SELECT (SELECT max(user_id) FROM batch), NULL::text, NULL::text[]
UNION ALL
SELECT user_id, to_char(local_day, 'YYYY-MM-DD'), notification_ids FROM ins`

// pendingSQL finds planned digests whose email was not enqueued (a sweep
// stopped between the two steps), from the last two days.
const pendingSQL = `
SELECT user_id, to_char(local_day, 'YYYY-MM-DD'), notification_ids
FROM worker.notification_digests
WHERE enqueued_at IS NULL AND cardinality(notification_ids) > 0
  AND local_day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 2
ORDER BY user_id
LIMIT $2`

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

// SendDailyDigest handles notifications:send-daily-digest.
func (h *Handler) SendDailyDigest(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.SendDailyDigest](t)
	if err != nil {
		return err
	}
	var progress *worker.Progress
	if w := t.ResultWriter(); w != nil {
		clock := h.Clock
		if clock == nil {
			clock = worker.SystemClock{}
		}
		progress = worker.NewProgress(w, clock, 0)
	}
	res, err := h.Sweep(ctx, p.TenantID, progress)
	if err != nil {
		return err
	}
	worker.LoggerFrom(ctx).Info("daily digest sweep done", "users_planned", res.Planned, "digests_enqueued", res.Enqueued)
	return nil
}

// Sweep plans and enqueues every digest due at the handler's clock. It is
// safe to run any number of times, concurrently too: the ledger's primary
// key admits one digest per user and local day, and the email task's ID is
// deterministic.
func (h *Handler) Sweep(ctx context.Context, tenantID string, progress *worker.Progress) (DigestResult, error) {
	digestTime, lookback, batch, _, retention := h.digestDefaults()
	now := h.now()
	var res DigestResult

	// Complete what an interrupted sweep planned but did not enqueue.
	for {
		plans, err := h.collect(ctx, pendingSQL, now, batch)
		if err != nil {
			return res, fmt.Errorf("read pending digests: %w", err)
		}
		if len(plans) == 0 {
			break
		}
		n, err := h.enqueue(ctx, tenantID, now, plans)
		res.Enqueued += n
		if err != nil {
			return res, err
		}
		if len(plans) < batch {
			break
		}
	}
	cursor := ""
	for {
		rows, err := h.DB.Query(ctx, planSQL, now, digestTime, lookback.Seconds(), batch, cursor)
		if err != nil {
			return res, fmt.Errorf("plan digests: %w", err)
		}
		var next *string
		var withMail []DigestPlan
		first := true
		for rows.Next() {
			var user, day *string
			var ids []string
			if err := rows.Scan(&user, &day, &ids); err != nil {
				rows.Close()
				return res, fmt.Errorf("plan digests: %w", err)
			}
			if first {
				next, first = user, false
				continue
			}
			res.Planned++
			if len(ids) > 0 {
				withMail = append(withMail, DigestPlan{UserID: *user, Day: *day, NotificationIDs: ids})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("plan digests: %w", err)
		}
		n, err := h.enqueue(ctx, tenantID, now, withMail)
		res.Enqueued += n
		if err != nil {
			return res, err
		}
		if progress != nil {
			_, _ = progress.Update("digest", int64(res.Planned), 0, fmt.Sprintf("%d users planned, %d digests enqueued", res.Planned, res.Enqueued))
		}
		if next == nil {
			break
		}
		cursor = *next
	}
	if _, err := h.DB.Exec(ctx, `DELETE FROM worker.notification_digests WHERE created_at < $1`, now.Add(-retention)); err != nil {
		return res, fmt.Errorf("prune digest ledger: %w", err)
	}
	if progress != nil {
		_ = progress.Done("digest", int64(res.Planned), int64(res.Planned), fmt.Sprintf("%d digests enqueued", res.Enqueued))
	}
	return res, nil
}

func (h *Handler) collect(ctx context.Context, sql string, args ...any) ([]DigestPlan, error) {
	rows, err := h.DB.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DigestPlan, error) {
		var p DigestPlan
		err := r.Scan(&p.UserID, &p.Day, &p.NotificationIDs)
		return p, err
	})
}

// enqueue puts one send-digest-email task per plan (ID conflicts are
// success), then records them as enqueued.
func (h *Handler) enqueue(ctx context.Context, tenantID string, now time.Time, plans []DigestPlan) (int, error) {
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pl := range jobs {
				t, err := task.NewSendDigestEmail(task.SendDigestEmail{UserID: pl.UserID, NotificationIDs: pl.NotificationIDs, Day: pl.Day, TenantID: tenantID})
				if err == nil {
					_, err = h.Queue.EnqueueContext(ctx, t)
					if errors.Is(err, asynq.ErrTaskIDConflict) {
						err = nil
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("enqueue digest for user %s: %w", pl.UserID, err)
				} else if err == nil {
					done = append(done, pl)
				}
				mu.Unlock()
			}
		}()
	}
	for _, pl := range plans {
		jobs <- pl
	}
	close(jobs)
	wg.Wait()
	if len(done) > 0 {
		users := make([]string, len(done))
		days := make([]string, len(done))
		for i, pl := range done {
			users[i], days[i] = pl.UserID, pl.Day
		}
		_, err := h.DB.Exec(ctx, `
UPDATE worker.notification_digests d SET enqueued_at = $1
FROM unnest($2::text[], $3::date[]) AS x(user_id, day)
WHERE d.user_id = x.user_id AND d.local_day = x.day`, now, users, days)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("record enqueued digests: %w", err)
		}
	}
	return len(done), firstErr
}
