// Package testenv is internal to the tpi-workers fleet: it gives tests the real services they
// run against, each test isolated from the others.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
)

// PostgresURLEnv names the environment variable holding the admin URL of the PostgreSQL server
// that tests use. Its user must be allowed to CREATE DATABASE. Default: [DefaultPostgresURL].
const PostgresURLEnv = "TEST_DATABASE_URL"

// DefaultPostgresURL is the admin URL used when [PostgresURLEnv] is unset: the local server with
// trust authentication.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgresStartHint tells a developer how to start the local server.
const postgresStartHint = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n" +
	"or set " + PostgresURLEnv + " to the URL of a server whose user may CREATE DATABASE"

// templateLockID keys the advisory lock that serializes template builds across test processes
// (go test runs packages in parallel). Arbitrary, fixed.
const templateLockID int64 = 0x7470695f746d706c // "tpi_tmpl"

// connectTimeout bounds each connection attempt to the admin database.
const connectTimeout = 5 * time.Second

// Postgres gives the test its own new database with every migration applied (testplanit subset
// and worker schema, [postgres.MigrateAll]) and returns a pool on it and its URL. The database
// is dropped, and the pool closed, when the test ends. No data is seeded; call [postgres.Seed]
// for the demo data set.
//
// The migrations run once per set of migration files, into a template database named after
// [postgres.MigrationsHash]; each test then gets a cheap copy (CREATE DATABASE ... TEMPLATE).
// If PostgreSQL cannot be reached the test fails, with instructions to start it; it never skips.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	admin := adminURL()
	return newDatabase(t, admin, migratedTemplate(t, admin))
}

// EmptyPostgres is like [Postgres] but the database is empty: no migration applied, nothing in
// public or worker. For tests of the migrations themselves.
func EmptyPostgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return newDatabase(t, adminURL(), "template0")
}

func adminURL() string {
	u := os.Getenv(PostgresURLEnv)
	if u == "" {
		u = DefaultPostgresURL
	}
	return u
}

// newDatabase creates a database copied from template, registers its removal and opens a pool.
func newDatabase(t testing.TB, admin, template string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := t.Context()
	name := "tpi_test_" + randomHex(8)
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}

	conn := connectAdmin(t, ctx, admin)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+quote(name)+" TEMPLATE "+quote(template))
	closeConn(conn)
	if err != nil {
		t.Fatalf("testenv: creating database %s from %s: %v", name, template, err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })

	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop: cleanups run last-in, first-out
	return pool, dbURL
}

func dropDatabase(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, admin)
	if err != nil {
		t.Errorf("testenv: dropping database %s: %v", name, err)
		return
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quote(name)+" WITH (FORCE)"); err != nil {
		t.Errorf("testenv: dropping database %s: %v", name, err)
	}
}

// migrated is the migrated template database of this process, once built or found.
var migrated struct {
	mu   sync.Mutex
	name string
	err  error // a failed build, reported again to later tests instead of retried
}

// migratedTemplate returns the name of a database holding every embedded migration, building
// it if no process built it yet. The name embeds the hash of the migration files, so a changed
// or added migration gets a fresh template. The build happens under a database name of its own
// and is renamed only when complete: a crashed build never leaves a half-migrated template.
func migratedTemplate(t testing.TB, admin string) string {
	t.Helper()
	migrated.mu.Lock()
	defer migrated.mu.Unlock()
	if migrated.name != "" {
		return migrated.name
	}
	if migrated.err != nil {
		t.Fatalf("testenv: %v", migrated.err)
	}

	ctx := t.Context()
	name := "tpi_tmpl_" + postgres.MigrationsHash()[:16]
	conn := connectAdmin(t, ctx, admin)
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		t.Fatalf("testenv: taking the template lock: %v", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockID)
	}()

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("testenv: looking for template %s: %v", name, err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, admin, name); err != nil {
			migrated.err = fmt.Errorf("building template database %s: %w", name, err)
			t.Fatalf("testenv: %v", migrated.err)
		}
	}
	migrated.name = name
	return name
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, admin, name string) error {
	build := name + "_build"
	// A leftover of a build that crashed: we hold the lock, so nobody else is using it.
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quote(build)+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+quote(build)+" TEMPLATE template0"); err != nil {
		return err
	}
	buildURL, err := withDatabase(admin, build)
	if err != nil {
		return err
	}
	if err := postgres.MigrateURL(ctx, buildURL, postgres.MigrateAll, nil); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quote(build)+" WITH (FORCE)")
		return err
	}
	// Only a complete build gets the final name. IS_TEMPLATE lets any role with CREATEDB copy it;
	// ALLOW_CONNECTIONS false keeps sessions out, which would block the copies.
	for _, stmt := range []string{
		"ALTER DATABASE " + quote(build) + " RENAME TO " + quote(name),
		"ALTER DATABASE " + quote(name) + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// connectAdmin connects to the admin database or fails the test with instructions.
func connectAdmin(t testing.TB, ctx context.Context, admin string) *pgx.Conn {
	t.Helper()
	conn, err := connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL is not reachable at %s: %v\n%s", postgres.Redact(admin), err, postgresStartHint)
	}
	return conn
}

func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return pgx.Connect(ctx, dsn)
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// withDatabase returns the URL admin pointed at database name instead.
func withDatabase(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New(PostgresURLEnv + " must be a postgres:// URL, got " + postgres.Redact(admin))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
