package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/postgres"
)

// BenchDatabase is a large data set for benchmarks: a database of its own,
// migrated and filled by Fill once per test binary, the first time a
// benchmark asks for it ([BenchDatabase.Pool]), and dropped by
// [BenchDatabase.Drop], which the package's TestMain calls after m.Run.
type BenchDatabase struct {
	// Name prefixes the database's name (the process id follows).
	Name string
	// Fill writes the data set into the freshly migrated database.
	Fill func(ctx context.Context, pool *pgxpool.Pool) error

	once  sync.Once
	admin string
	name  string
	pool  *pgxpool.Pool
	err   error
}

// Pool returns the filled database's pool, building it on the first call.
func (d *BenchDatabase) Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	d.once.Do(func() { d.err = d.build(context.Background()) })
	if d.err != nil {
		tb.Fatal(d.err)
	}
	return d.pool
}

func (d *BenchDatabase) build(ctx context.Context) error {
	d.admin = os.Getenv(PostgresURLEnv)
	if d.admin == "" {
		d.admin = DefaultPostgresURL
	}
	name := fmt.Sprintf("%s_%d", d.Name, os.Getpid())
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	d.name = name
	u, err := url.Parse(d.admin)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	dbURL := u.String()
	if err := postgres.MigrateURL(ctx, dbURL, postgres.MigrateAll, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return err
	}
	if d.pool, err = postgres.Open(ctx, dbURL); err != nil {
		return err
	}
	return d.Fill(ctx, d.pool)
}

// Drop closes the pool and drops the database, if one was made.
func (d *BenchDatabase) Drop() {
	if d.pool != nil {
		d.pool.Close()
	}
	if d.name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if conn, err := pgx.Connect(ctx, d.admin); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)")
		_ = conn.Close(ctx)
	}
}
