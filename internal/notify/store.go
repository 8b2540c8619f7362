package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// pgStore is the [store] and [digestStore] of one tenant's database.
//
// The digest ledger is keyed by user and local day. Its user_id column
// holds [task.TenantKey] of the user id ("<tenant>:<user>", the bare user id
// without a tenant), so that two tenants whose databases share the worker
// schema never take each other's digest days; the queries below add the
// prefix when they match users and strip it from what they return.
type pgStore struct {
	db *pgxpool.Pool
	// keyPrefix is the tenant's ledger key prefix, "" without a tenant.
	keyPrefix string
}

func newStore(db *pgxpool.Pool, tenantID string) pgStore {
	return pgStore{db: db, keyPrefix: task.TenantKey(tenantID, "")}
}

// User implements [store].
func (s pgStore) User(ctx context.Context, id string) (user, error) {
	u, err := postgres.LoadUser(ctx, s.db, id)
	if errors.Is(err, postgres.ErrNoUser) {
		return user{}, fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return user{}, err
	}
	return user{Active: u.Active, Deleted: u.Deleted, Mode: u.NotificationMode}, nil
}

// InsertNotification implements [store].
func (s pgStore) InsertNotification(ctx context.Context, id string, p task.CreateNotification, at time.Time) (bool, error) {
	var data any
	if len(p.Data) > 0 {
		data = string(p.Data)
	}
	tag, err := s.db.Exec(ctx, `
INSERT INTO "Notification" (id, "userId", type, title, message, data, "relatedEntityId", "relatedEntityType", "createdAt", "updatedAt")
VALUES ($1, $2, $3::"NotificationType", $4, $5, $6::jsonb, nullif($7, ''), nullif($8, ''), $9, $10)
ON CONFLICT (id) DO NOTHING`, id, p.UserID, string(p.Type), p.Title, p.Message, data,
		p.RelatedEntityID, p.RelatedEntityType, at, at)
	if err != nil {
		return false, fmt.Errorf("insert notification %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// planSQL plans the digests of the next $4 users after the cursor $5 (in
// id order) whose effective mode is IN_APP_EMAIL_DAILY. A user is due when
// their local time ($1 in their time zone; an unknown zone counts as UTC) is
// at or after $2 and they have no digest row for their local day yet. Each
// new row carries the unread, undeleted notifications created after the
// user's previous digest cutoff (or within the first-digest lookback, $3
// seconds) and up to $1, newest first. $6 is the tenant's ledger key prefix.
//
// The first row returned holds the batch's last user id (the next cursor;
// NULL when no candidate is left); the others are the digests inserted.
const planSQL = `
WITH batch AS (
    SELECT u.id AS user_id, p.timezone
    FROM "User" u
    LEFT JOIN "UserPreferences" p ON p."userId" = u.id
    WHERE u.id > $5 AND u."isActive" AND NOT u."isDeleted" AND u.email <> ''
      AND ` + postgres.EffectiveModeSQL + ` = 'IN_APP_EMAIL_DAILY'
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
                      WHERE d.user_id = $6 || l.user_id AND d.local_day = l.local_ts::date)
), planned AS (
    SELECT due.user_id, due.day, due.tz,
           coalesce(array_agg(n.id ORDER BY n."createdAt" DESC, n.id) FILTER (WHERE n.id IS NOT NULL), '{}') AS ids
    FROM due
    LEFT JOIN LATERAL (SELECT max(d.cutoff) AS cutoff FROM worker.notification_digests d WHERE d.user_id = $6 || due.user_id) last ON true
    LEFT JOIN "Notification" n
           ON n."userId" = due.user_id AND NOT n."isRead" AND NOT n."isDeleted"
          AND n."createdAt" <= $1
          AND n."createdAt" > coalesce(last.cutoff, $1::timestamptz - make_interval(secs => $3::double precision))
    GROUP BY due.user_id, due.day, due.tz
), ins AS (
    INSERT INTO worker.notification_digests (user_id, local_day, time_zone, cutoff, notification_ids)
    SELECT $6 || user_id, day, tz, $1, ids FROM planned
    ON CONFLICT (user_id, local_day) DO NOTHING
    RETURNING user_id, local_day, notification_ids
)
SELECT (SELECT max(user_id) FROM batch), NULL::text, NULL::text[]
UNION ALL
SELECT substr(user_id, length($6) + 1), to_char(local_day, 'YYYY-MM-DD'), notification_ids FROM ins`

// PlanDigests implements [digestStore].
func (s pgStore) PlanDigests(ctx context.Context, q planQuery) (planned, error) {
	rows, err := s.db.Query(ctx, planSQL, q.Now, q.DigestTime, q.Lookback.Seconds(), q.Limit, q.Cursor, s.keyPrefix)
	if err != nil {
		return planned{}, fmt.Errorf("plan digests: %w", err)
	}
	defer rows.Close()
	var b planned
	first := true
	for rows.Next() {
		var user, day *string
		var ids []string
		if err := rows.Scan(&user, &day, &ids); err != nil {
			return planned{}, fmt.Errorf("plan digests: %w", err)
		}
		if first {
			first = false
			if user == nil {
				b.Done = true
			} else {
				b.Next = *user
			}
			continue
		}
		b.Planned++
		if len(ids) > 0 {
			b.WithMail = append(b.WithMail, DigestPlan{UserID: *user, Day: *day, NotificationIDs: ids})
		}
	}
	if err := rows.Err(); err != nil {
		return planned{}, fmt.Errorf("plan digests: %w", err)
	}
	return b, nil
}

// pendingSQL finds planned digests of the tenant (key prefix $3: the rows
// that start with it and hold no other prefix) whose email was not
// enqueued, from the last two days.
const pendingSQL = `
SELECT substr(user_id, length($3) + 1), to_char(local_day, 'YYYY-MM-DD'), notification_ids
FROM worker.notification_digests
WHERE enqueued_at IS NULL AND cardinality(notification_ids) > 0
  AND local_day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 2
  AND starts_with(user_id, $3) AND strpos(substr(user_id, length($3) + 1), ':') = 0
ORDER BY user_id
LIMIT $2`

// PendingDigests implements [digestStore].
func (s pgStore) PendingDigests(ctx context.Context, now time.Time, limit int) ([]DigestPlan, error) {
	rows, err := s.db.Query(ctx, pendingSQL, now, limit, s.keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("read pending digests: %w", err)
	}
	plans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DigestPlan, error) {
		var p DigestPlan
		err := r.Scan(&p.UserID, &p.Day, &p.NotificationIDs)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read pending digests: %w", err)
	}
	return plans, nil
}

// MarkEnqueued implements [digestStore].
func (s pgStore) MarkEnqueued(ctx context.Context, now time.Time, plans []DigestPlan) error {
	users := make([]string, len(plans))
	days := make([]string, len(plans))
	for i, pl := range plans {
		users[i], days[i] = s.keyPrefix+pl.UserID, pl.Day
	}
	_, err := s.db.Exec(ctx, `
UPDATE worker.notification_digests d SET enqueued_at = $1
FROM unnest($2::text[], $3::date[]) AS x(user_id, day)
WHERE d.user_id = x.user_id AND d.local_day = x.day`, now, users, days)
	if err != nil {
		return fmt.Errorf("record enqueued digests: %w", err)
	}
	return nil
}

// PruneDigests implements [digestStore].
func (s pgStore) PruneDigests(ctx context.Context, before time.Time) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM worker.notification_digests WHERE created_at < $1`, before); err != nil {
		return fmt.Errorf("prune digest ledger: %w", err)
	}
	return nil
}
