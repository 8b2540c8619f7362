package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/testplanit/tpi-workers/internal/testenv"
)

// migrationsDir holds the embedded migration sets of internal/postgres, read here from disk.
const migrationsDir = "../../internal/postgres/migrations"

// ourAdditions are the development subset's migrations that TestPlanIt's own schema lacks: the
// stand-in for TestPlanIt's database leaves them out.
var ourAdditions = []string{"00009_linear_provider.sql"}

// applyTestPlanItSet applies the testplanit migration files to db with goose, recording their
// versions in table: the stand-in for TestPlanIt's own Prisma migrations in these tests.
func applyTestPlanItSet(t *testing.T, pool *pgxpool.Pool, table string) error {
	t.Helper()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	dir := filepath.Join(migrationsDir, "testplanit")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, f := range files {
		if slices.Contains(ourAdditions, f.Name()) {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fsys[f.Name()] = &fstest.MapFile{Data: body}
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName(table), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	_, err = provider.Up(t.Context())
	return err
}

// testplanitDatabase returns an empty database laid out as TestPlanIt's Prisma migrations leave
// it: TestPlanIt's tables, enums and indexes (our development subset, applied under a version
// table that is then dropped) and _prisma_migrations as Prisma creates it, with a row.
func testplanitDatabase(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, url := testenv.EmptyPostgres(t)
	ctx := t.Context()
	if err := applyTestPlanItSet(t, pool, "prisma_stand_in_version"); err != nil {
		t.Fatalf("loading TestPlanIt's tables: %v", err)
	}
	for _, stmt := range []string{
		"DROP TABLE prisma_stand_in_version",
		// As Prisma's schema engine creates it for PostgreSQL.
		`CREATE TABLE "_prisma_migrations" (
			"id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
			"checksum"              VARCHAR(64) NOT NULL,
			"finished_at"           TIMESTAMPTZ,
			"migration_name"        VARCHAR(255) NOT NULL,
			"logs"                  TEXT,
			"rolled_back_at"        TIMESTAMPTZ,
			"started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
			"applied_steps_count"   INTEGER NOT NULL DEFAULT 0
		)`,
		`INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
			VALUES ('0b6a3c7e-5f7e-4a59-9d0c-0e1f2a3b4c5d', 'c0ffee', now(), '20250101000000_init', now(), 1)`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("laying out TestPlanIt's database: %v", err)
		}
	}
	return pool, url
}

// snapshotQueries read everything public holds from the catalogs, a line per object.
var snapshotQueries = []string{
	`SELECT format('schema public owner=%s acl=%s', nspowner::regrole, nspacl) FROM pg_namespace WHERE nspname = 'public'`,
	`SELECT format('relation %s kind=%s persistence=%s owner=%s acl=%s', relname, relkind, relpersistence, relowner::regrole, relacl)
	 FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
	`SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s collation=%s',
	        c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
	        pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation)
	 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped`,
	`SELECT format('type %s typtype=%s labels=%s', t.typname, t.typtype,
	        (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
	 FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace`,
	`SELECT format('index %s: %s', indexname, indexdef) FROM pg_indexes WHERE schemaname = 'public'`,
	`SELECT format('constraint %s on %s: %s', conname, conrelid::regclass, pg_get_constraintdef(oid))
	 FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
	`SELECT format('function %s %s', oid::regprocedure, md5(prosrc)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace`,
	`SELECT format('trigger %s', pg_get_triggerdef(t.oid))
	 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal`,
	`SELECT format('comment %s: %s', c.relname, d.description)
	 FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
	 WHERE c.relnamespace = 'public'::regnamespace`,
}

// snapshotPublic describes everything public holds: tables, columns with their types and
// defaults, types with their enum labels, indexes, constraints, functions, triggers, comments,
// and each table's rows (count and digest). Sorted, so two snapshots compare line by line.
func snapshotPublic(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := t.Context()
	var lines []string
	for _, q := range snapshotQueries {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatalf("snapshot: %v\n%s", err, q)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("snapshot: %v\n%s", err, q)
		}
		lines = append(lines, got...)
	}
	rows, err := pool.Query(ctx, `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		name := pgx.Identifier{"public", table}.Sanitize()
		var n int64
		var digest string
		if err := pool.QueryRow(ctx, "SELECT count(*), coalesce(md5(string_agg(r::text, E'\\n' ORDER BY r::text)), '-') FROM "+name+" r").
			Scan(&n, &digest); err != nil {
			t.Fatalf("snapshot of %s: %v", name, err)
		}
		lines = append(lines, fmt.Sprintf("rows %s %d %s", table, n, digest))
	}
	slices.Sort(lines)
	return lines
}

// workerSchema returns the tables of the worker schema and the version its goose table records
// (0 without it).
func workerSchema(t *testing.T, pool *pgxpool.Pool) ([]string, int64) {
	t.Helper()
	ctx := t.Context()
	rows, err := pool.Query(ctx, `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'worker' AND c.relkind IN ('r', 'p') ORDER BY relname`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var version int64
	if slices.Contains(tables, "goose_db_version") {
		if err := pool.QueryRow(ctx, "SELECT max(version_id) FROM worker.goose_db_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
	}
	return tables, version
}

// latestWorkerVersion is the version of the newest worker migration file.
func latestWorkerVersion(t *testing.T) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(migrationsDir, "worker", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no worker migrations: %v", err)
	}
	var latest int64
	for _, f := range files {
		var v int64
		if _, err := fmt.Sscanf(filepath.Base(f), "%d_", &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		latest = max(latest, v)
	}
	return latest
}

// On TestPlanIt's own database, tpictl migrate in its default mode applies the worker schema
// and leaves public exactly as it was.
func TestMigrateDefaultLeavesTestPlanItsDatabaseAlone(t *testing.T) {
	pool, url := testplanitDatabase(t)
	env := map[string]string{"DATABASE_URL": url}
	before := snapshotPublic(t, pool)
	for _, want := range []string{
		"relation _prisma_migrations kind=r",
		"type Theme typtype=e labels=Light,Dark,System,Green,Orange,Purple",
		"index User_email_key: CREATE UNIQUE INDEX",
		`column User.updatedAt #`,
		"rows _prisma_migrations 1 ",
	} {
		if !slices.ContainsFunc(before, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Fatalf("the snapshot of public lacks %q: it would not notice a change", want)
		}
	}

	// doctor, before: the worker schema is missing, and it says what to run.
	out, _ := runCLI(t, env, "", "doctor")
	if l := lineWith(out, "FAIL  postgres"); !strings.Contains(l, "TestPlanIt's own database, but the worker schema is missing: run tpictl migrate --mode worker-only") {
		t.Errorf("doctor before migrating: %q", l)
	}

	out, err := runCLI(t, env, "", "migrate")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, want := range []string{
		"TestPlanIt's own database detected (public holds Prisma's tables: Notification, Projects, User, _prisma_migrations): " +
			"applied the worker schema only, public left as it was\n",
		"migrations applied (worker) to ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	if diff := cmp.Diff(before, snapshotPublic(t, pool)); diff != "" {
		t.Errorf("migrate changed public (-before +after):\n%s", diff)
	}
	tables, version := workerSchema(t, pool)
	if want := latestWorkerVersion(t); version != want {
		t.Errorf("worker.goose_db_version at %d, want %d", version, want)
	}
	for _, want := range []string{"goose_db_version", "ledger", "notification_digests", "email_deliveries"} {
		if !slices.Contains(tables, want) {
			t.Errorf("worker lacks %s; holds %v", want, tables)
		}
	}
	if slices.Contains(tables, "testplanit_subset_version") {
		t.Errorf("worker holds the subset's version table on TestPlanIt's database: %v", tables)
	}

	// Again: nothing to do, public still untouched; doctor agrees it is TestPlanIt's database.
	out, err = runCLI(t, env, "", "migrate")
	if err != nil || !strings.Contains(out, "migrations applied (worker)") || !strings.Contains(out, "(already up to date)") {
		t.Errorf("second migrate: %v\n%s", err, out)
	}
	if diff := cmp.Diff(before, snapshotPublic(t, pool)); diff != "" {
		t.Errorf("the second migrate changed public (-before +after):\n%s", diff)
	}
	out, _ = runCLI(t, env, "", "doctor")
	if l := lineWith(out, "ok    postgres"); !strings.Contains(l, "TestPlanIt tables and worker schema present (TestPlanIt's own database)") {
		t.Errorf("doctor after migrating: %q\n%s", l, out)
	}
}

// --mode all on TestPlanIt's own database is refused, names what to run instead and changes
// nothing.
func TestMigrateModeAllRefusesTestPlanItsDatabase(t *testing.T) {
	pool, url := testplanitDatabase(t)
	before := snapshotPublic(t, pool)
	out, err := runCLI(t, map[string]string{"DATABASE_URL": url}, "", "migrate", "--mode", "all")
	if err == nil {
		t.Fatalf("migrate --mode all succeeded:\n%s", out)
	}
	for _, want := range []string{"this is TestPlanIt's own database", "nothing was changed", "run `tpictl migrate --mode worker-only`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if diff := cmp.Diff(before, snapshotPublic(t, pool)); diff != "" {
		t.Errorf("the refused migrate changed public (-before +after):\n%s", diff)
	}
	var worker bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regnamespace('worker') IS NOT NULL").Scan(&worker); err != nil || worker {
		t.Errorf("schema worker exists after the refusal (%v)", err)
	}
}

// Earlier releases applied everything by default: on TestPlanIt's database the first migration
// failed and left public.tpi_workers_dev_schema_version behind. The default mode removes it.
func TestMigrateRemovesWhatTheOldDefaultLeftBehind(t *testing.T) {
	pool, url := testplanitDatabase(t)
	before := snapshotPublic(t, pool)
	err := applyTestPlanItSet(t, pool, "tpi_workers_dev_schema_version") // what `tpictl migrate` used to do
	if err == nil || !strings.Contains(err.Error(), `type "Theme" already exists`) {
		t.Fatalf("the old default on TestPlanIt's database: %v, want it to fail on \"Theme\"", err)
	}
	if slices.Equal(before, snapshotPublic(t, pool)) {
		t.Fatal("the failed run left nothing behind; the test would prove nothing")
	}

	out, err := runCLI(t, map[string]string{"DATABASE_URL": url}, "", "migrate")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, want := range []string{
		"removed public.tpi_workers_dev_schema_version: it recorded no migration",
		"TestPlanIt's own database detected",
		"migrations applied (worker)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	if diff := cmp.Diff(before, snapshotPublic(t, pool)); diff != "" {
		t.Errorf("public differs from TestPlanIt's (-before +after):\n%s", diff)
	}
}

// An empty database in the default mode gets everything; a development database of an earlier
// release gets its version table moved and nothing re-applied.
func TestMigrateDefaultOnOurDatabases(t *testing.T) {
	pool, url := testenv.EmptyPostgres(t)
	env := map[string]string{"DATABASE_URL": url}
	out, err := runCLI(t, env, "", "migrate")
	if err != nil || !strings.Contains(out, "no TestPlanIt tables in public: applied the development subset of TestPlanIt's schema and the worker schema\n") ||
		!strings.Contains(out, "migrations applied (all)") {
		t.Fatalf("migrate on an empty database: %v\n%s", err, out)
	}
	tables, version := workerSchema(t, pool)
	if !slices.Contains(tables, "testplanit_subset_version") || version != latestWorkerVersion(t) {
		t.Errorf("worker holds %v at version %d; want both version tables, at %d", tables, version, latestWorkerVersion(t))
	}
	var users, legacy bool
	if err := pool.QueryRow(t.Context(), `SELECT to_regclass('public."User"') IS NOT NULL,
		to_regclass('public.tpi_workers_dev_schema_version') IS NOT NULL`).Scan(&users, &legacy); err != nil || !users || legacy {
		t.Errorf(`"User" in public: %v, the old version table: %v (%v); want the subset without our version table`, users, legacy, err)
	}
	if out, err := runCLI(t, env, "", "seed"); err != nil || !strings.Contains(out, "demo data loaded") {
		t.Fatalf("seed: %q %v", out, err)
	}

	// The layout of an earlier release: the subset's version table in public, as goose named it.
	if _, err := pool.Exec(t.Context(), `ALTER TABLE worker.testplanit_subset_version SET SCHEMA public;
		ALTER TABLE public.testplanit_subset_version RENAME TO tpi_workers_dev_schema_version;
		ALTER INDEX public.testplanit_subset_version_pkey RENAME TO tpi_workers_dev_schema_version_pkey;
		ALTER SEQUENCE public.testplanit_subset_version_id_seq RENAME TO tpi_workers_dev_schema_version_id_seq`); err != nil {
		t.Fatal(err)
	}
	before := snapshotPublic(t, pool)
	out, err = runCLI(t, env, "", "migrate")
	if err != nil {
		t.Fatalf("migrate on a development database of an earlier release: %v\n%s", err, out)
	}
	for _, want := range []string{
		"moved public.tpi_workers_dev_schema_version to worker.testplanit_subset_version (nothing re-applied)\n",
		"development database detected (public.tpi_workers_dev_schema_version recorded TestPlanIt's subset at version ",
		"migrations applied (all)",
		"(already up to date)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	after := snapshotPublic(t, pool)
	before = slices.DeleteFunc(before, func(l string) bool { return strings.Contains(l, "tpi_workers_dev_schema_version") })
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("public, but for the version table, changed (-before +after):\n%s", diff)
	}
	out, err = runCLI(t, env, "", "migrate")
	if err != nil || strings.Contains(out, "moved") || !strings.Contains(out, "(already up to date)") {
		t.Errorf("third migrate: %v\n%s", err, out)
	}
}

// --enable-linear is the explicit opt-in that adds LINEAR to TestPlanIt's "IntegrationProvider"
// enum: the default migrate never does it, the flag does it once and changes nothing else.
func TestMigrateEnableLinear(t *testing.T) {
	pool, url := testplanitDatabase(t)
	env := map[string]string{"DATABASE_URL": url}
	before := snapshotPublic(t, pool)
	if l := lineWith(strings.Join(before, "\n"), "type IntegrationProvider "); strings.Contains(l, "LINEAR") {
		t.Fatalf("the stand-in for TestPlanIt's database already has LINEAR: %q", l)
	}

	out, err := runCLI(t, env, "", "migrate", "--enable-linear")
	if err != nil {
		t.Fatalf("migrate --enable-linear: %v\n%s", err, out)
	}
	if !strings.Contains(out, `added LINEAR to "IntegrationProvider"`) {
		t.Errorf("migrate --enable-linear output:\n%s", out)
	}
	after := snapshotPublic(t, pool)
	var changed []string
	for _, l := range after {
		if !slices.Contains(before, l) {
			changed = append(changed, l)
		}
	}
	if len(changed) != 1 || !strings.HasPrefix(changed[0], "type IntegrationProvider typtype=e labels=") || !strings.HasSuffix(changed[0], ",LINEAR") {
		t.Errorf("--enable-linear changed public beyond the enum value: %q", changed)
	}

	out, err = runCLI(t, env, "", "migrate", "--enable-linear")
	if err != nil || !strings.Contains(out, `"IntegrationProvider" already has LINEAR`) {
		t.Errorf("second migrate --enable-linear: %v\n%s", err, out)
	}
}
