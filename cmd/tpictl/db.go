package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

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

// migrateInstead is what to run on TestPlanIt's own database, added to the refusal of --mode all.
const migrateInstead = "run `tpictl migrate --mode worker-only`, or `tpictl migrate` " +
	"(it detects TestPlanIt's database and applies the worker schema only)"

func cmdMigrate(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	modeFlag := fs.String("mode", "auto", "auto: worker-only on TestPlanIt's own database, all on any other; "+
		"all: TestPlanIt subset and worker schema (refused on TestPlanIt's database); worker-only: only the worker schema")
	linear := fs.Bool("enable-linear", false, "also add LINEAR to TestPlanIt's \"IntegrationProvider\" enum (an explicit opt-in: "+
		"PostgreSQL cannot remove it again, and TestPlanIt's own pages know no Linear integration)")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 0 {
		return errUsage
	}
	mode, err := postgres.ParseMigrateMode(*modeFlag)
	if err != nil {
		return err
	}
	pool, url, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	log := slog.New(slog.NewTextHandler(c.out, nil))
	res, err := postgres.MigrateWithResult(ctx, db, mode, log)
	if errors.Is(err, postgres.ErrTestPlanItDatabase) {
		return fmt.Errorf("%w; %s", err, migrateInstead)
	}
	if err != nil {
		return err
	}
	found := res.Found
	switch {
	case res.MovedLegacyVersionTable:
		fmt.Fprintf(c.out, "moved %s to %s (nothing re-applied)\n", found.LegacySubset.Name, found.Subset.Name)
	case res.RemovedLegacyVersionTable:
		fmt.Fprintf(c.out, "removed %s: it recorded no migration (left by an earlier failed tpictl migrate)\n", found.LegacySubset.Name)
	}
	if mode == postgres.MigrateAuto {
		fmt.Fprintln(c.out, describeDetection(res))
	}
	news := "already up to date"
	if res.Applied > 0 {
		news = fmt.Sprintf("%d new", res.Applied)
	}
	fmt.Fprintf(c.out, "migrations applied (%s) to %s (%s)\n", res.Mode, postgres.Redact(url), news)
	if !*linear {
		return nil
	}
	added, err := postgres.EnableLinear(ctx, pool)
	if err != nil {
		return err
	}
	if added {
		fmt.Fprintln(c.out, `added LINEAR to "IntegrationProvider": Linear integrations can be synced`)
	} else {
		fmt.Fprintln(c.out, `"IntegrationProvider" already has LINEAR`)
	}
	return nil
}

// describeDetection says what the auto mode found and which sets it applied for that.
func describeDetection(res postgres.MigrateResult) string {
	found := res.Found
	switch {
	case found.TestPlanItOwned():
		return fmt.Sprintf("TestPlanIt's own database detected (public holds Prisma's tables: %s): "+
			"applied the worker schema only, public left as it was", strings.Join(found.PrismaTables, ", "))
	case found.SubsetApplied():
		vt := found.Subset
		if found.LegacySubset.Version > 0 {
			vt = found.LegacySubset
		}
		return fmt.Sprintf("development database detected (%s recorded TestPlanIt's subset at version %d): "+
			"applied the subset and the worker schema", vt.Name, vt.Version)
	default:
		return "no TestPlanIt tables in public: applied the development subset of TestPlanIt's schema and the worker schema"
	}
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
