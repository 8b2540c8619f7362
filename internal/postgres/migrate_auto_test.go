package postgres_test

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

func TestResolveMigrateMode(t *testing.T) {
	t.Parallel()
	prisma := []string{"Notification", "Projects", "User", "_prisma_migrations"}
	applied := postgres.VersionTable{Exists: true, Version: 8}
	empty := postgres.VersionTable{Exists: true} // goose's version 0 row only
	layouts := []struct {
		name  string
		l     postgres.Layout
		owned bool // TestPlanIt's own database
	}{
		{"empty database", postgres.Layout{}, false},
		{"worker schema only", postgres.Layout{Worker: applied}, false},
		{"our development database", postgres.Layout{PrismaTables: prisma[:3], Subset: applied, Worker: applied}, false},
		{"our development database, version table of an earlier release",
			postgres.Layout{PrismaTables: prisma[:3], LegacySubset: applied, Worker: applied}, false},
		{"subset's first migration only (enums, no tables)", postgres.Layout{Subset: postgres.VersionTable{Exists: true, Version: 1}}, false},
		{"TestPlanIt's database", postgres.Layout{PrismaTables: prisma}, true},
		{"TestPlanIt's database with the worker schema", postgres.Layout{PrismaTables: prisma, Worker: applied}, true},
		{"TestPlanIt's tables without _prisma_migrations (prisma db push)", postgres.Layout{PrismaTables: prisma[:3]}, true},
		{"TestPlanIt's database after the old tpictl migrate failed", postgres.Layout{PrismaTables: prisma, LegacySubset: empty}, true},
		{"TestPlanIt's database, empty version table of ours", postgres.Layout{PrismaTables: prisma, Subset: empty}, true},
	}
	for _, tc := range layouts {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.TestPlanItOwned(); got != tc.owned {
				t.Fatalf("TestPlanItOwned() = %v, want %v", got, tc.owned)
			}
			wantAuto := postgres.MigrateAll
			if tc.owned {
				wantAuto = postgres.MigrateWorkerOnly
			}
			if got, err := postgres.ResolveForTest(postgres.MigrateAuto, tc.l); err != nil || got != wantAuto {
				t.Errorf("auto resolves to %v, %v; want %v", got, err, wantAuto)
			}
			if got, err := postgres.ResolveForTest(postgres.MigrateWorkerOnly, tc.l); err != nil || got != postgres.MigrateWorkerOnly {
				t.Errorf("worker resolves to %v, %v; want worker", got, err)
			}
			got, err := postgres.ResolveForTest(postgres.MigrateAll, tc.l)
			switch {
			case !tc.owned && (err != nil || got != postgres.MigrateAll):
				t.Errorf("all resolves to %v, %v; want all", got, err)
			case tc.owned && !errors.Is(err, postgres.ErrTestPlanItDatabase):
				t.Errorf("all resolves to %v, %v; want ErrTestPlanItDatabase", got, err)
			case tc.owned && !strings.Contains(err.Error(), strings.Join(tc.l.PrismaTables, ", ")):
				t.Errorf("refusal %q does not name the tables found", err)
			}
		})
	}
	if _, err := postgres.ResolveForTest(postgres.MigrateMode(0), postgres.Layout{}); err == nil {
		t.Error("mode 0 resolved")
	}
}

// An empty database in the default mode gets everything: the subset in public, the worker schema,
// and both version tables in the worker schema.
func TestMigrateAutoOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.EmptyPostgres(t)
	ctx := t.Context()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	var logs logCounter
	res, err := postgres.MigrateWithResult(ctx, db, postgres.MigrateAuto, logs.logger())
	if err != nil {
		t.Fatalf("MigrateAuto: %v", err)
	}
	wantApplied := migrationCount(t, "testplanit") + migrationCount(t, "worker")
	if res.Mode != postgres.MigrateAll || res.Applied != wantApplied || logs.applied() != wantApplied {
		t.Errorf("mode %v, %d applied (%d logged); want all, %d", res.Mode, res.Applied, logs.applied(), wantApplied)
	}
	if diff := cmp.Diff(postgres.Layout{
		Subset:       postgres.VersionTable{Name: subsetVersionTable},
		LegacySubset: postgres.VersionTable{Name: legacyVersionTable},
		Worker:       postgres.VersionTable{Name: workerVersionTable},
	}, res.Found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if res.MovedLegacyVersionTable || res.RemovedLegacyVersionTable {
		t.Errorf("result %+v: nothing to move or remove on an empty database", res)
	}

	want := slices.Clone(wantPublicTables)
	sort.Strings(want)
	if diff := cmp.Diff(want, tablesIn(t, pool, "public")); diff != "" {
		t.Errorf("public tables (-want +got):\n%s", diff)
	}
	if got, want := dbVersion(t, pool, subsetVersionTable), latestVersion(t, "testplanit"); got != want {
		t.Errorf("testplanit set at version %d, want %d", got, want)
	}
	if got, want := dbVersion(t, pool, workerVersionTable), latestVersion(t, "worker"); got != want {
		t.Errorf("worker set at version %d, want %d", got, want)
	}

	// Now it is our development database: auto keeps applying both sets, and has nothing to do.
	res, err = postgres.MigrateWithResult(ctx, db, postgres.MigrateAuto, nil)
	if err != nil || res.Mode != postgres.MigrateAll || res.Applied != 0 || !res.Found.SubsetApplied() || res.Found.TestPlanItOwned() {
		t.Errorf("second run: %+v, %v; want mode all, nothing applied, the subset found", res, err)
	}
}

// A development database migrated by an earlier release keeps the subset's versions in
// public.tpi_workers_dev_schema_version. Migrating moves that table to the worker schema, rows
// unchanged, and re-applies nothing; running again is a no-op.
func TestMigrateMovesTheLegacyVersionTable(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.EmptyPostgres(t)
	ctx := t.Context()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	// Lay the database out as earlier releases did: the subset's version table unqualified,
	// so in public, the worker set's in worker.
	if _, err := pool.Exec(ctx, "CREATE SCHEMA worker"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ set, table string }{
		{"testplanit", "tpi_workers_dev_schema_version"},
		{"worker", workerVersionTable},
	} {
		provider, err := postgres.NewProviderWithTableForTest(db, p.set, p.table)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := provider.Up(ctx); err != nil {
			t.Fatalf("laying out the %s set as before: %v", p.set, err)
		}
	}
	legacyRows := versionRows(t, pool, legacyVersionTable)
	if len(legacyRows) != migrationCount(t, "testplanit")+1 {
		t.Fatalf("%s holds %d rows; the set up went wrong", legacyVersionTable, len(legacyRows))
	}

	var logs logCounter
	res, err := postgres.MigrateWithResult(ctx, db, postgres.MigrateAuto, logs.logger())
	if err != nil {
		t.Fatalf("MigrateAuto: %v", err)
	}
	if !res.MovedLegacyVersionTable || res.RemovedLegacyVersionTable || res.Mode != postgres.MigrateAll ||
		res.Applied != 0 || logs.applied() != 0 {
		t.Errorf("result %+v (%d logged); want the table moved, mode all, nothing applied", res, logs.applied())
	}
	if got, want := res.Found.LegacySubset, (postgres.VersionTable{Name: legacyVersionTable, Exists: true, Version: latestVersion(t, "testplanit")}); got != want {
		t.Errorf("found legacy %+v, want %+v", got, want)
	}
	if !strings.Contains(logs.String(), "moved the version table") {
		t.Errorf("the move is not logged:\n%s", logs.String())
	}
	if diff := cmp.Diff(legacyRows, versionRows(t, pool, subsetVersionTable)); diff != "" {
		t.Errorf("%s differs from %s before the move (-before +after):\n%s", subsetVersionTable, legacyVersionTable, diff)
	}
	want := slices.Clone(wantPublicTables)
	sort.Strings(want)
	if diff := cmp.Diff(want, tablesIn(t, pool, "public")); diff != "" {
		t.Errorf("public tables (-want +got):\n%s", diff)
	}
	// The primary key's index and the identity sequence moved and were renamed with the table.
	var stale []string
	if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(n.nspname || '.' || c.relname ORDER BY n.nspname, c.relname), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname LIKE 'tpi_workers_dev_schema_version%'`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Errorf("relations still named after the old table: %v", stale)
	}
	worker := relationsIn(t, pool, "worker")
	for _, name := range []string{"testplanit_subset_version", "testplanit_subset_version_pkey", "testplanit_subset_version_id_seq"} {
		if !slices.Contains(worker, name) {
			t.Errorf("worker lacks %s; holds %v", name, worker)
		}
	}

	// Again: a no-op, in every mode.
	for _, mode := range []postgres.MigrateMode{postgres.MigrateAuto, postgres.MigrateAll, postgres.MigrateWorkerOnly} {
		res, err := postgres.MigrateWithResult(ctx, db, mode, nil)
		if err != nil || res.MovedLegacyVersionTable || res.RemovedLegacyVersionTable || res.Applied != 0 {
			t.Errorf("again in mode %v: %+v, %v; want nothing done", mode, res, err)
		}
	}
	if diff := cmp.Diff(legacyRows, versionRows(t, pool, subsetVersionTable)); diff != "" {
		t.Errorf("%s changed on the second run (-before +after):\n%s", subsetVersionTable, diff)
	}

	// goose keeps working with the moved table: roll the last migration back, migrate again.
	provider, err := postgres.NewProviderForTest(db, "testplanit")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Down(ctx); err != nil {
		t.Fatalf("migrating the last testplanit file down: %v", err)
	}
	res, err = postgres.MigrateWithResult(ctx, db, postgres.MigrateAuto, nil)
	if err != nil || res.Applied != 1 {
		t.Errorf("after one down: %+v, %v; want one migration applied", res, err)
	}
	if got, want := dbVersion(t, pool, subsetVersionTable), latestVersion(t, "testplanit"); got != want {
		t.Errorf("testplanit set at version %d, want %d", got, want)
	}
}

// versionRows returns the rows of a goose version table, in order, as text.
func versionRows(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), "SELECT concat_ws(' ', id, version_id, is_applied, tstamp) FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// relationsIn lists the names of every relation (tables, indexes, sequences) in schema.
func relationsIn(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	var names []string
	if err := pool.QueryRow(t.Context(), `SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, schema).Scan(&names); err != nil {
		t.Fatal(err)
	}
	return names
}
