package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/postgres"
)

func (c *cli) databaseURL() (string, error) {
	env := config.NewEnv(c.getenv)
	url := env.Required("DATABASE_URL")
	return url, env.Err()
}

// openDB opens a pool on DATABASE_URL and returns it with the URL; the
// caller closes the pool.
func (c *cli) openDB(ctx context.Context) (*pgxpool.Pool, string, error) {
	url, err := c.databaseURL()
	if err != nil {
		return nil, "", err
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, "", err
	}
	return pool, url, nil
}

func cmdMigrate(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	modeFlag := fs.String("mode", "all", "all: TestPlanIt subset and worker schema; worker-only: only the worker schema")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	mode, err := postgres.ParseMigrateMode(*modeFlag)
	if err != nil {
		return err
	}
	url, err := c.databaseURL()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.out, nil))
	if err := postgres.MigrateURL(ctx, url, mode, log); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "migrations applied (%s) to %s\n", mode, postgres.Redact(url))
	return nil
}

func cmdSeed(ctx context.Context, c *cli, args []string) error {
	if len(args) != 0 {
		return errUsage
	}
	pool, url, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Seed(ctx, pool); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "demo data loaded into %s\n", postgres.Redact(url))
	return nil
}
