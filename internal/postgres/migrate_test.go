package postgres_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// The TestPlanIt tables the subset must contain (brief: DESIGN section 1, reference section 2).
var wantPublicTables = []string{
	"AppConfig", "AuditLog", "Color", "ColorFamily", "Configurations", "FieldIcon", "Integration",
	"Issue", "JUnitTestResult", "JUnitTestSuite", "MilestoneTypes", "Milestones", "Notification",
	"Projects", "Repositories", "RepositoryCaseLink", "RepositoryCases", "RepositoryFolders", "Roles",
	"Sessions", "Status", "Templates", "TestRunCases", "TestRunResults", "TestRuns",
	"TestmoImportDataset", "TestmoImportJob", "TestmoImportMapping", "TestmoImportStaging", "User",
	"UserIntegrationAuth", "UserPreferences", "Workflows",
	// For the search documents (00015).
	"CaseFieldAssignment", "CaseFieldTypes", "CaseFieldValues", "CaseFields", "FieldOptions",
	"SessionResults", "SharedStepGroup", "SharedStepItem", "Steps", "Tags", "TestRunStepResults",
	"_IssueToRepositoryCases", "_IssueToSessionResults", "_IssueToSessions", "_IssueToTestRunResults",
	"_IssueToTestRunStepResults", "_IssueToTestRuns", "_RepositoryCasesToTags", "_SessionsToTags", "_TagsToTestRuns",
}

// The version tables, all in the worker schema: nothing of ours lands in public.
const (
	subsetVersionTable = "worker.testplanit_subset_version"
	workerVersionTable = "worker.goose_db_version"
	legacyVersionTable = "public.tpi_workers_dev_schema_version" // where earlier releases kept the subset's
)

// latestVersion reads the highest version among the migration files of a set on disk.
func latestVersion(t *testing.T, set string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", set, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in %s: %v", set, err)
	}
	var latest int64
	for _, f := range files {
		prefix, _, _ := strings.Cut(filepath.Base(f), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("migration %s: version prefix: %v", f, err)
		}
		latest = max(latest, v)
	}
	return latest
}

// migrationCount is the number of migration files of a set on disk (versions may leave gaps).
func migrationCount(t *testing.T, set string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", set, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in %s: %v", set, err)
	}
	return len(files)
}

func dbVersion(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var v int64
	if err := pool.QueryRow(t.Context(), "SELECT max(version_id) FROM "+table).Scan(&v); err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	return v
}

func tablesIn(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// logCounter is a slog logger that counts "applied migration" records.
type logCounter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCounter) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{c}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (c *logCounter) applied() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Count(c.buf.String(), `msg="applied migration"`)
}

// String returns everything logged so far.
func (c *logCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

type lockedWriter struct{ c *logCounter }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.c.buf.Write(p)
}

func TestMigrateAll(t *testing.T) {
	t.Parallel()
	pool, url := testenv.EmptyPostgres(t)
	ctx := t.Context()

	var logs logCounter
	if err := postgres.MigrateURL(ctx, url, postgres.MigrateAll, logs.logger()); err != nil {
		t.Fatalf("MigrateAll: %v", err)
	}
	wantApplied := migrationCount(t, "testplanit") + migrationCount(t, "worker")
	if got := logs.applied(); got != wantApplied {
		t.Errorf("applied %d migrations, want %d (one per file)", got, wantApplied)
	}
	if got, want := dbVersion(t, pool, subsetVersionTable), latestVersion(t, "testplanit"); got != want {
		t.Errorf("testplanit set at version %d, want %d", got, want)
	}
	if got, want := dbVersion(t, pool, workerVersionTable), latestVersion(t, "worker"); got != want {
		t.Errorf("worker set at version %d, want %d", got, want)
	}

	want := append([]string(nil), wantPublicTables...)
	sort.Strings(want)
	if diff := cmp.Diff(want, tablesIn(t, pool, "public")); diff != "" {
		t.Errorf("public tables (-want +got):\n%s", diff)
	}
	worker := tablesIn(t, pool, "worker")
	for _, name := range []string{"goose_db_version", "ledger", "testplanit_subset_version"} {
		if !slices.Contains(worker, name) {
			t.Errorf("worker schema lacks %s; has %v", name, worker)
		}
	}

	// Running it again is a no-op, in both modes.
	var again logCounter
	for _, mode := range []postgres.MigrateMode{postgres.MigrateAll, postgres.MigrateWorkerOnly, postgres.MigrateAuto} {
		if err := postgres.MigrateURL(ctx, url, mode, again.logger()); err != nil {
			t.Fatalf("second Migrate(%v): %v", mode, err)
		}
	}
	if n := again.applied(); n != 0 {
		t.Errorf("second run applied %d migrations, want none", n)
	}
	var versionRows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+subsetVersionTable).Scan(&versionRows); err != nil {
		t.Fatal(err)
	}
	if want := migrationCount(t, "testplanit") + 1; versionRows != want { // + goose's version 0 row
		t.Errorf("%s has %d rows after re-run, want %d", subsetVersionTable, versionRows, want)
	}
}

func TestMigrateWorkerOnly(t *testing.T) {
	t.Parallel()
	pool, url := testenv.EmptyPostgres(t)
	ctx := t.Context()

	for range 2 { // the second run must be a no-op
		if err := postgres.MigrateURL(ctx, url, postgres.MigrateWorkerOnly, nil); err != nil {
			t.Fatalf("MigrateWorkerOnly: %v", err)
		}
	}
	if got := tablesIn(t, pool, "public"); len(got) != 0 {
		t.Errorf("MigrateWorkerOnly created tables in public: %v", got)
	}
	var publicTypes int
	if err := pool.QueryRow(ctx,
		`SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		 WHERE n.nspname = 'public' AND t.typtype = 'e'`).Scan(&publicTypes); err != nil {
		t.Fatal(err)
	}
	if publicTypes != 0 {
		t.Errorf("MigrateWorkerOnly created %d enum types in public", publicTypes)
	}
	if got := tablesIn(t, pool, "worker"); !slices.Contains(got, "ledger") || !slices.Contains(got, "goose_db_version") ||
		slices.Contains(got, "testplanit_subset_version") {
		t.Errorf("worker tables = %v, want ledger and goose_db_version, not the subset's version table", got)
	}
	if got, want := dbVersion(t, pool, workerVersionTable), latestVersion(t, "worker"); got != want {
		t.Errorf("worker set at version %d, want %d", got, want)
	}

	// The ledger works as documented: the second insert of a key is skipped.
	for i, want := range []int64{1, 0} {
		tag, err := pool.Exec(ctx,
			`INSERT INTO worker.ledger (kind, key, detail) VALUES ('test', 'k1', '{"n": 1}') ON CONFLICT DO NOTHING`)
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != want {
			t.Errorf("ledger insert %d affected %d rows, want %d", i+1, tag.RowsAffected(), want)
		}
	}
}

// Several processes starting at once (workers, the CLI) must not trip over each other.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	pool, url := testenv.EmptyPostgres(t)

	const n = 4
	errs := make(chan error, n)
	for i := range n {
		mode := []postgres.MigrateMode{postgres.MigrateAll, postgres.MigrateAuto}[i%2]
		go func() { errs <- postgres.MigrateURL(t.Context(), url, mode, nil) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if got, want := dbVersion(t, pool, subsetVersionTable), latestVersion(t, "testplanit"); got != want {
		t.Errorf("testplanit set at version %d, want %d", got, want)
	}
}

func TestMigrateRejectsUnknownMode(t *testing.T) {
	t.Parallel()
	_, url := testenv.EmptyPostgres(t)
	if err := postgres.MigrateURL(t.Context(), url, postgres.MigrateMode(0), nil); err == nil {
		t.Fatal("Migrate with mode 0 succeeded")
	}
}

func TestParseMigrateMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []postgres.MigrateMode{postgres.MigrateAll, postgres.MigrateWorkerOnly, postgres.MigrateAuto} {
		got, err := postgres.ParseMigrateMode(mode.String())
		if err != nil || got != mode {
			t.Errorf("ParseMigrateMode(%q) = %v, %v; want %v", mode.String(), got, err, mode)
		}
	}
	if _, err := postgres.ParseMigrateMode("public"); err == nil {
		t.Error(`ParseMigrateMode("public") succeeded`)
	}
}

// Prisma fills cuid/uuid ids and @updatedAt on the client, so TestPlanIt's database has no default
// for them, and neither may ours: a default would hide an insert that forgets them.
func TestClientSideColumnsHaveNoDatabaseDefault(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()

	clientSide := [][2]string{
		{"User", "id"}, {"User", "updatedAt"},
		{"UserPreferences", "id"},
		{"Notification", "id"}, {"Notification", "updatedAt"},
		{"UserIntegrationAuth", "id"}, {"UserIntegrationAuth", "updatedAt"},
		{"Integration", "updatedAt"},
		{"TestmoImportJob", "id"}, {"TestmoImportJob", "updatedAt"},
		{"TestmoImportStaging", "id"}, {"TestmoImportStaging", "updatedAt"},
		{"TestmoImportMapping", "id"},
		{"AuditLog", "id"},
	}
	for _, c := range clientSide {
		var def *string
		var nullable string
		err := pool.QueryRow(ctx,
			`SELECT column_default, is_nullable FROM information_schema.columns
			 WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2`, c[0], c[1]).Scan(&def, &nullable)
		if err != nil {
			t.Errorf("%q.%q: %v", c[0], c[1], err)
			continue
		}
		if def != nil {
			t.Errorf("%q.%q has database default %s; Prisma fills it on the client, so it must have none", c[0], c[1], *def)
		}
		if nullable != "NO" {
			t.Errorf("%q.%q is nullable; want NOT NULL", c[0], c[1])
		}
	}

	// Database-side defaults in Prisma (autoincrement, now(), literals) are kept.
	serverSide := [][2]string{
		{"Projects", "id"}, {"Notification", "createdAt"}, {"Notification", "isRead"},
		{"UserPreferences", "notificationMode"}, {"TestmoImportJob", "status"},
	}
	for _, c := range serverSide {
		var def *string
		err := pool.QueryRow(ctx,
			`SELECT column_default FROM information_schema.columns
			 WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2`, c[0], c[1]).Scan(&def)
		if err != nil || def == nil {
			t.Errorf("%q.%q: want a database default, got %v (err %v)", c[0], c[1], def, err)
		}
	}

	// So an insert that forgets them fails.
	user := postgres.NewCUID()
	if _, err := pool.Exec(ctx, `INSERT INTO "Roles" (id, name) VALUES (1, 'user')`); err != nil { // "roleId" defaults to 1
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx,
		`INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ($1, 'U', 'u@example.com', '!', now())`,
		user); err != nil {
		t.Fatalf("inserting a complete user: %v", err)
	}
	forgetful := map[string]string{
		"user without id": `INSERT INTO "User" (name, email, password, "updatedAt") VALUES ('V', 'v@example.com', '!', now())`,
		"user without updatedAt": `INSERT INTO "User" (id, name, email, password)
			VALUES ('` + postgres.NewCUID() + `', 'W', 'w@example.com', '!')`,
		"notification without id": `INSERT INTO "Notification" ("userId", type, title, message, "updatedAt")
			VALUES ('` + user + `', 'SYSTEM_ANNOUNCEMENT', 't', 'm', now())`,
		"notification without updatedAt": `INSERT INTO "Notification" (id, "userId", type, title, message)
			VALUES ('` + postgres.NewCUID() + `', '` + user + `', 'SYSTEM_ANNOUNCEMENT', 't', 'm')`,
		"preferences without id": `INSERT INTO "UserPreferences" ("userId") VALUES ('` + user + `')`,
	}
	for name, sql := range forgetful {
		_, err := pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23502" { // not_null_violation
			t.Errorf("%s: got %v, want a not-null violation", name, err)
		}
	}
}

// Every Down section must undo its Up section, so a migration can be rolled back during
// development: migrate up, all the way down, and up again.
func TestMigrationsRoundTrip(t *testing.T) {
	t.Parallel()
	pool, url := testenv.EmptyPostgres(t)
	ctx := t.Context()
	if err := postgres.MigrateURL(ctx, url, postgres.MigrateAll, nil); err != nil {
		t.Fatalf("MigrateAll: %v", err)
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	for _, set := range []string{"worker", "testplanit"} { // reverse order of application
		provider, err := postgres.NewProviderForTest(db, set)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := provider.DownTo(ctx, 0); err != nil {
			t.Fatalf("migrating %s down: %v", set, err)
		}
	}
	if got := tablesIn(t, pool, "public"); len(got) != 0 {
		t.Errorf("after migrating down, public holds %v; want nothing", got)
	}
	if got := tablesIn(t, pool, "worker"); !slices.Equal(got, []string{"goose_db_version", "testplanit_subset_version"}) {
		t.Errorf("after migrating down, worker holds %v; want only the version tables", got)
	}
	var types int
	if err := pool.QueryRow(ctx,
		`SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		 WHERE n.nspname = 'public' AND t.typtype = 'e'`).Scan(&types); err != nil {
		t.Fatal(err)
	}
	if types != 0 {
		t.Errorf("after migrating down, public holds %d enum types", types)
	}

	if err := postgres.MigrateURL(ctx, url, postgres.MigrateAll, nil); err != nil {
		t.Fatalf("MigrateAll after down: %v", err)
	}
	if got, want := dbVersion(t, pool, workerVersionTable), latestVersion(t, "worker"); got != want {
		t.Errorf("worker set at version %d, want %d", got, want)
	}
}
