package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// TestTimestampParametersAreStoredAsUTC writes a time.Time in Asia/Kolkata
// (UTC+05:30) to a timestamp(3) column, "Notification"."updatedAt", through
// a pool of [postgres.Open] and reads back the same instant, stored as its
// UTC wall clock. The same write through a plain pgx connection, without the
// pool's codec, stores the Kolkata wall clock: read back, it is 5h30 off.
// Whatever the process's zone (run it with TZ=Asia/Kolkata too).
func TestTimestampParametersAreStoredAsUTC(t *testing.T) {
	t.Parallel()
	_, url := testenv.Postgres(t)
	ctx := context.Background()
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 10, 0, 0, 123_000_000, kolkata) // 04:30:00.123 UTC
	if _, err := pool.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user');
INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('u1', 'U', 'u1@example.com', 'x', now())`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO "Notification" (id, "userId", type, title, message, "updatedAt") VALUES ($1, 'u1', 'WORK_ASSIGNED', 't', 'm', $2)`
	const read = `SELECT "updatedAt", "updatedAt"::text FROM "Notification" WHERE id = $1`

	if _, err := pool.Exec(ctx, insert, "ours", at); err != nil {
		t.Fatal(err)
	}
	var got time.Time
	var stored string
	if err := pool.QueryRow(ctx, read, "ours").Scan(&got, &stored); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("through postgres.Open: read back %v, want %v (the same instant, in UTC)", got, at)
	}
	if stored != "2026-11-26 04:30:00.123" {
		t.Errorf("through postgres.Open: stored %q, want the UTC wall clock 2026-11-26 04:30:00.123", stored)
	}

	// Without the codec: the failure this test exists to catch.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, insert, "plain", at); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, read, "plain").Scan(&got, &stored); err != nil {
		t.Fatal(err)
	}
	if stored != "2026-11-26 10:00:00.123" || got.Sub(at) != 5*time.Hour+30*time.Minute {
		t.Errorf("plain pgx: stored %q, read back %v; want the Kolkata wall clock, 5h30 after %v", stored, got, at)
	}
}
