package testenv

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestPostgresGivesEachTestItsOwnMigratedDatabase(t *testing.T) {
	t.Parallel()
	poolA, urlA := Postgres(t)
	poolB, urlB := Postgres(t)
	if urlA == urlB {
		t.Fatalf("two calls returned the same database %s", urlA)
	}
	ctx := t.Context()

	var nameA, nameB string
	if err := poolA.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatal(err)
	}
	if err := poolB.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatal(err)
	}
	for _, db := range []struct{ name, url string }{{nameA, urlA}, {nameB, urlB}} {
		if !strings.HasPrefix(db.name, "tpi_test_") || !strings.Contains(db.url, "/"+db.name+"?") {
			t.Errorf("database %q (URL %s), want a tpi_test_ database named in the URL", db.name, db.url)
		}
	}

	// Both sets of migrations are there.
	var notification, ledger *string
	if err := poolA.QueryRow(ctx, `SELECT to_regclass('public."Notification"')::text, to_regclass('worker.ledger')::text`).
		Scan(&notification, &ledger); err != nil {
		t.Fatal(err)
	}
	if notification == nil || ledger == nil {
		t.Errorf(`"Notification" = %v, worker.ledger = %v; want both to exist`, notification, ledger)
	}

	// What one test writes, the other does not see.
	if _, err := poolA.Exec(ctx, `INSERT INTO worker.ledger (kind, key) VALUES ('test', 'only-in-a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := poolB.QueryRow(ctx, `SELECT count(*) FROM worker.ledger`).Scan(&n); err != nil || n != 0 {
		t.Errorf("database B sees %d ledger rows (%v), want 0", n, err)
	}
}

func TestPostgresDropsTheDatabaseAfterTheTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		pool, _ := Postgres(t)
		if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		t.Fatal("subtest did not get a database")
	}
	admin, _ := EmptyPostgres(t) // any connection to the server will do
	var exists bool
	if err := admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).
		Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestEmptyPostgresHasNoTables(t *testing.T) {
	t.Parallel()
	pool, _ := EmptyPostgres(t)
	var n int
	if err := pool.QueryRow(t.Context(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('public', 'worker')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("empty database has %d tables", n)
	}
}

// fatalTB records a Fatal instead of failing the real test, then stops its goroutine as the real
// one would.
type fatalTB struct {
	testing.TB
	ctx context.Context

	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper()                  {}
func (f *fatalTB) Context() context.Context { return f.ctx }
func (f *fatalTB) Cleanup(func())           {}
func (f *fatalTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msg += fmt.Sprintf(format, args...)
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Skip(...any)          { panic("testenv must never skip") }
func (f *fatalTB) Skipf(string, ...any) { panic("testenv must never skip") }
func (f *fatalTB) SkipNow()             { panic("testenv must never skip") }

func TestPostgresFailsWithInstructionsWhenUnreachable(t *testing.T) {
	// Not parallel: it changes the environment.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	t.Setenv(PostgresURLEnv, fmt.Sprintf("postgres://postgres:hunter2@127.0.0.1:%d/postgres?sslmode=disable", port))

	fake := &fatalTB{ctx: t.Context()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		EmptyPostgres(fake)
		t.Error("EmptyPostgres returned although PostgreSQL is unreachable")
	}()
	<-done

	for _, want := range []string{"not reachable", "pg_ctlcluster --skip-systemctl-redirect", PostgresURLEnv} {
		if !strings.Contains(fake.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, fake.msg)
		}
	}
	if strings.Contains(fake.msg, "hunter2") {
		t.Errorf("failure message leaks the password:\n%s", fake.msg)
	}
}
