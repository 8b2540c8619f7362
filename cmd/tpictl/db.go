package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/testplanit/tpi-workers/pkg/postgres"
	"github.com/testplanit/tpi-workers/pkg/worker"
)

func (c *cli) databaseURL() (string, error) {
	env := worker.NewEnv(c.getenv)
	url := env.Required("DATABASE_URL")
	return url, env.Err()
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
	url, err := c.databaseURL()
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, url)
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
