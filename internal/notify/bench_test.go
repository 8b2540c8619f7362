package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/notify"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// BenchmarkDigest times one digest sweep over 10,000 users in daily mode
// (four time zones), half of them with 3 unread notifications: "sweep" is
// ours (planning in keyset SQL batches plus 5,000 send-digest-email
// enqueues); "per-user-original" is the original's loop, for comparison.
// Each iteration starts from an empty ledger and an empty Redis database.
// Metrics: users/s (users swept), digests/s (emails enqueued), s/sweep.
func BenchmarkDigest(b *testing.B) {
	db, _ := testenv.Postgres(b)
	ropt, _ := testenv.Redis(b)
	rc := testenv.RedisClient(b, ropt)
	client := asynq.NewClient(ropt)
	defer client.Close()
	ctx := context.Background()
	const users = 10000
	seedRole(b, db)
	_, err := db.Exec(ctx, `
INSERT INTO "User" (id, name, email, password, "updatedAt")
SELECT 'u' || i, 'User ' || i, 'u' || i || '@example.com', 'x', now() FROM generate_series(1, $1) i;
`, users)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec(ctx, `
INSERT INTO "UserPreferences" (id, "userId", "notificationMode", timezone)
SELECT gen_random_uuid()::text, 'u' || i, 'IN_APP_EMAIL_DAILY',
       (ARRAY['Etc/UTC', 'Europe/Paris', 'Asia/Tokyo', 'America/New_York'])[1 + i % 4]
FROM generate_series(1, $1) i`, users)
	if err != nil {
		b.Fatal(err)
	}
	_, err = db.Exec(ctx, `
INSERT INTO "Notification" (id, "userId", type, title, message, "createdAt", "updatedAt")
SELECT 'n' || i || '-' || k, 'u' || i, 'WORK_ASSIGNED', 't', 'm', $2::timestamptz - interval '1 hour' * k, now()
FROM generate_series(1, $1, 2) i, generate_series(1, 3) k`, users, time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	// 14:00 UTC: between 08:00 and midnight local in all four zones.
	clock := &fixedClock{t: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)}
	h := &notify.Handler{Enqueuer: client, Clock: clock}
	tctx := worker.WithTenant(ctx, &tenant.Tenant{DB: db})
	reset := func(b *testing.B) {
		b.StopTimer()
		if _, err := db.Exec(ctx, `TRUNCATE worker.notification_digests`); err != nil {
			b.Fatal(err)
		}
		if err := rc.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	report := func(b *testing.B, elapsed time.Duration) {
		b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
		b.ReportMetric(float64(users/2*b.N)/elapsed.Seconds(), "digests/s")
		b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/sweep")
	}
	b.Run("sweep", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			reset(b)
			start := time.Now()
			res, err := h.Sweep(tctx, nil)
			elapsed += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if res.Planned != users || res.Enqueued != users/2 {
				b.Fatalf("swept %+v, want %d planned and %d enqueued", res, users, users/2)
			}
		}
		report(b, elapsed)
	})
	// The original's algorithm, for comparison: one query for the users,
	// then per user, in sequence, one query for the last 24 hours of unread
	// notifications and one enqueue with the notifications embedded.
	b.Run("per-user-original", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			reset(b)
			start := time.Now()
			n, err := originalDigest(ctx, db, client, clock.Now())
			elapsed += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if n != users/2 {
				b.Fatalf("%d digests, want %d", n, users/2)
			}
		}
		report(b, elapsed)
	})
}

func originalDigest(ctx context.Context, db *pgxpool.Pool, client *asynq.Client, now time.Time) (int, error) {
	rows, err := db.Query(ctx, `SELECT p."userId" FROM "UserPreferences" p JOIN "User" u ON u.id = p."userId"
WHERE p."notificationMode" = 'IN_APP_EMAIL_DAILY'`)
	if err != nil {
		return 0, err
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, u := range users {
		rows, err := db.Query(ctx, `SELECT id, title, message, "createdAt" FROM "Notification"
WHERE "userId" = $1 AND NOT "isRead" AND NOT "isDeleted" AND "createdAt" >= $2 ORDER BY "createdAt" DESC`, u, now.Add(-24*time.Hour))
		if err != nil {
			return sent, err
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (task.DigestItem, error) {
			var it task.DigestItem
			err := r.Scan(&it.ID, &it.Title, &it.Message, &it.CreatedAt)
			return it, err
		})
		if err != nil {
			return sent, err
		}
		if len(items) == 0 {
			continue
		}
		t, err := task.NewSendDigestEmail(task.SendDigestEmail{UserID: u, Notifications: items})
		if err != nil {
			return sent, err
		}
		if _, err := client.EnqueueContext(ctx, t); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}
