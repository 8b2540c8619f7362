package postgres

import (
	"context"
	"fmt"
	"strings"
)

// prismaMarkers are the tables, as an SQL list, whose presence in public shows that TestPlanIt's
// Prisma migrations own the database: Prisma's own bookkeeping table, and TestPlanIt tables that
// every version of its schema has. Our development subset creates the last three too; what tells
// the two apart is the subset's version table (see [Layout.TestPlanItOwned]).
const prismaMarkers = `'_prisma_migrations', 'Notification', 'Projects', 'User'`

// legacyVersionTable is where the testplanit set recorded its versions before they moved to the
// worker schema: in public, beside TestPlanIt's tables. [Migrate] moves it to
// testplanitSet.versionTable on a development database and removes it where it records nothing.
const legacyVersionTable = "public.tpi_workers_dev_schema_version"

// VersionTable is the state of one goose version table.
type VersionTable struct {
	// Name is the table's schema-qualified name.
	Name string
	// Exists is false when the table is absent; Version is 0 then.
	Exists bool
	// Version is the highest version the table records; 0 when it records no migration (goose
	// writes a version 0 row when it creates the table).
	Version int64
}

// Layout is what a database holds, as far as migrating it is concerned. [Inspect] reads it;
// [Migrate] reads it before changing anything, to tell TestPlanIt's own database from ours.
type Layout struct {
	// PrismaTables lists, sorted bytewise, which of the tables that mark a database migrated by
	// TestPlanIt's Prisma schema public holds: _prisma_migrations, "Notification",
	// "Projects", "User". Our development subset creates the last three too.
	PrismaTables []string
	// Subset is the version table of the development subset of TestPlanIt's schema,
	// worker.testplanit_subset_version.
	Subset VersionTable
	// LegacySubset is public.tpi_workers_dev_schema_version, where the subset's versions were
	// recorded before they moved to the worker schema. [Migrate] moves or removes it.
	LegacySubset VersionTable
	// Worker is the version table of the worker schema, worker.goose_db_version.
	Worker VersionTable
}

// SubsetApplied reports whether our development subset of TestPlanIt's schema was applied
// (at least one of its migrations), in either version table.
func (l Layout) SubsetApplied() bool {
	return l.Subset.Version > 0 || l.LegacySubset.Version > 0
}

// TestPlanItOwned reports whether TestPlanIt's Prisma migrations own public: Prisma's tables are
// there and they are not ours (no migration of our development subset was ever applied).
// A version table of ours that records nothing is the leftover of a run that failed on the
// first migration, as `tpictl migrate --mode all` used to on TestPlanIt's database.
func (l Layout) TestPlanItOwned() bool {
	return len(l.PrismaTables) > 0 && !l.SubsetApplied()
}

// Inspect reads the [Layout] of the database that q is connected to. It changes nothing and
// needs no privilege beyond reading the version tables.
func Inspect(ctx context.Context, q RowQuerier) (Layout, error) {
	l := Layout{
		Subset:       VersionTable{Name: testplanitSet.versionTable},
		LegacySubset: VersionTable{Name: legacyVersionTable},
		Worker:       VersionTable{Name: workerSet.versionTable},
	}
	// Literals only, no parameters: the same text works through pgx and database/sql.
	query := `SELECT coalesce((SELECT string_agg(c.relname, ',' ORDER BY c.relname COLLATE "C")
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname IN (` + prismaMarkers + `)), ''),
		to_regclass('` + l.Subset.Name + `') IS NOT NULL,
		to_regclass('` + l.LegacySubset.Name + `') IS NOT NULL,
		to_regclass('` + l.Worker.Name + `') IS NOT NULL`
	var prisma string
	if err := q.QueryRow(ctx, query).Scan(&prisma, &l.Subset.Exists, &l.LegacySubset.Exists, &l.Worker.Exists); err != nil {
		return Layout{}, fmt.Errorf("postgres: inspecting the database: %w", err)
	}
	if prisma != "" {
		l.PrismaTables = strings.Split(prisma, ",")
	}
	for _, vt := range []*VersionTable{&l.Subset, &l.LegacySubset, &l.Worker} {
		if !vt.Exists {
			continue
		}
		if err := q.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+vt.Name).Scan(&vt.Version); err != nil {
			return Layout{}, fmt.Errorf("postgres: inspecting the database: reading %s: %w", vt.Name, err)
		}
	}
	return l, nil
}
