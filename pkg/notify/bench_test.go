package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/pkg/notify"
)

// BenchmarkDigest times one digest sweep over 10,000 users in daily mode,
// half of them with 3 unread notifications: planning in SQL batches plus
// 5,000 send-digest-email enqueues to Redis. Each iteration starts from an
// empty ledger and an empty emails queue. Metrics: users/s (users swept)
// and digests/s (emails enqueued).
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
	h := &notify.Handler{DB: db, Queue: client, Clock: clock}
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := db.Exec(ctx, `TRUNCATE worker.notification_digests`); err != nil {
			b.Fatal(err)
		}
		if err := rc.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := h.Sweep(ctx, "", nil)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.Planned != users || res.Enqueued != users/2 {
			b.Fatalf("swept %+v, want %d planned and %d enqueued", res, users, users/2)
		}
	}
	b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
	b.ReportMetric(float64(users/2*b.N)/elapsed.Seconds(), "digests/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/sweep")
}
