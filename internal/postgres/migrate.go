package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/testplanit/*.sql migrations/worker/*.sql
var migrationFiles embed.FS

// MigrateMode selects which migration sets [Migrate] applies.
type MigrateMode int

const (
	// MigrateAll applies the TestPlanIt subset, then the worker schema: for development, tests
	// and demos, on a database that TestPlanIt does not own. On one it owns
	// ([Layout.TestPlanItOwned]) [Migrate] refuses it with [ErrTestPlanItDatabase] and changes
	// nothing.
	MigrateAll MigrateMode = iota + 1
	// MigrateWorkerOnly applies only the worker schema: for a database that TestPlanIt already
	// owns (its Prisma migrations manage everything in public).
	MigrateWorkerOnly
	// MigrateAuto looks at the database before changing anything: [MigrateWorkerOnly] on
	// TestPlanIt's own database ([Layout.TestPlanItOwned]), [MigrateAll] on an empty database or
	// one that holds our development subset. The mode of tpictl migrate unless told otherwise.
	MigrateAuto
)

// String returns the mode's name as [ParseMigrateMode] accepts it.
func (m MigrateMode) String() string {
	switch m {
	case MigrateAll:
		return "all"
	case MigrateWorkerOnly:
		return "worker"
	case MigrateAuto:
		return "auto"
	default:
		return fmt.Sprintf("MigrateMode(%d)", int(m))
	}
}

// ParseMigrateMode parses "auto", "all" or "worker" (also spelled "worker-only"), for example
// from a command-line flag.
func ParseMigrateMode(s string) (MigrateMode, error) {
	switch s {
	case "auto":
		return MigrateAuto, nil
	case "all":
		return MigrateAll, nil
	case "worker", "worker-only":
		return MigrateWorkerOnly, nil
	default:
		return 0, fmt.Errorf("postgres: unknown migrate mode %q (want auto, all or worker-only)", s)
	}
}

// ErrTestPlanItDatabase is returned, wrapped, by [Migrate] in [MigrateAll] mode on a database
// whose public schema TestPlanIt's Prisma migrations own: the development subset would collide
// with TestPlanIt's tables. Nothing is changed; [MigrateAuto] or [MigrateWorkerOnly] is what
// such a database takes.
var ErrTestPlanItDatabase = errors.New("this is TestPlanIt's own database")

// resolve returns the mode to apply to a database laid out as l: [MigrateAll] or
// [MigrateWorkerOnly].
func (m MigrateMode) resolve(l Layout) (MigrateMode, error) {
	switch m {
	case MigrateAuto:
		if l.TestPlanItOwned() {
			return MigrateWorkerOnly, nil
		}
		return MigrateAll, nil
	case MigrateAll:
		if l.TestPlanItOwned() {
			return 0, fmt.Errorf("postgres: migrate all: %w (public holds Prisma's tables: %s): "+
				"the development subset of its schema would collide with them; nothing was changed",
				ErrTestPlanItDatabase, strings.Join(l.PrismaTables, ", "))
		}
		return MigrateAll, nil
	case MigrateWorkerOnly:
		return MigrateWorkerOnly, nil
	default:
		return 0, fmt.Errorf("postgres: invalid migrate mode %v", m)
	}
}

// migrationSet is one directory of embedded migrations with its own version table.
type migrationSet struct {
	name         string // directory under migrations/, also used in logs
	versionTable string // goose version table, schema-qualified
}

var (
	// testplanitSet records its versions in the worker schema, like everything of ours: public
	// holds TestPlanIt's tables only. (Before, its version table was [legacyVersionTable].)
	testplanitSet = migrationSet{name: "testplanit", versionTable: "worker.testplanit_subset_version"}
	workerSet     = migrationSet{name: "worker", versionTable: "worker.goose_db_version"}
)

// sets returns the sets that a resolved mode applies, in order.
func (m MigrateMode) sets() []migrationSet {
	if m == MigrateAll {
		return []migrationSet{testplanitSet, workerSet}
	}
	return []migrationSet{workerSet}
}

// migrateLockID is the key of the session advisory lock that serializes concurrent Migrate
// calls on one database (several workers starting at once). Arbitrary, fixed forever.
const migrateLockID int64 = 0x7470695f6d696772 // "tpi_migr"

// MigrateResult says what [MigrateWithResult] found and did.
type MigrateResult struct {
	// Found is what the database held before anything was changed.
	Found Layout
	// Mode is the mode applied, [MigrateAll] or [MigrateWorkerOnly]: the one asked for, or the
	// one [MigrateAuto] chose from Found.
	Mode MigrateMode
	// Applied counts the migrations applied, of both sets; 0 when everything was up to date.
	Applied int
	// MovedLegacyVersionTable reports that public.tpi_workers_dev_schema_version, which
	// recorded the subset's versions on a development database, became
	// worker.testplanit_subset_version, rows unchanged.
	MovedLegacyVersionTable bool
	// RemovedLegacyVersionTable reports that public.tpi_workers_dev_schema_version was dropped
	// because it recorded no migration: the leftover of a run whose first migration failed,
	// as `tpictl migrate --mode all` used to on TestPlanIt's database.
	RemovedLegacyVersionTable bool
}

// Migrate is [MigrateWithResult] without the result.
func Migrate(ctx context.Context, db *sql.DB, mode MigrateMode, logger *slog.Logger) error {
	_, err := MigrateWithResult(ctx, db, mode, logger)
	return err
}

// MigrateWithResult brings db up to the latest embedded migrations of the sets selected by mode,
// in order (testplanit, then worker), and says what it found and did. Concurrent calls on the
// same database are serialized with a PostgreSQL advisory lock; running it again when
// everything is applied changes nothing. Each applied migration is logged at info level on
// logger; a nil logger logs nothing.
//
// Under the lock and before changing anything it reads the database's [Layout]: [MigrateAuto]
// picks the mode from it, and [MigrateAll] on TestPlanIt's own database fails with
// [ErrTestPlanItDatabase]. Then it creates the schema worker, moves a development database's
// public.tpi_workers_dev_schema_version to worker.testplanit_subset_version (or drops it when
// it records no migration), and migrates. On TestPlanIt's own database nothing in public is
// created or changed.
//
// db must allow at least two open connections: one holds the lock while goose uses another.
// Migrations run in a transaction each; a failure names the file and leaves the ones before it
// applied.
func MigrateWithResult(ctx context.Context, db *sql.DB, mode MigrateMode, logger *slog.Logger) (MigrateResult, error) {
	if _, err := mode.resolve(Layout{}); err != nil {
		return MigrateResult{}, err // an invalid mode: fail before connecting
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return MigrateResult{}, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return MigrateResult{}, fmt.Errorf("postgres: migrate: taking the migration lock: %w", err)
	}
	defer func() {
		// Detached: the lock must be released even when ctx was canceled. Closing the
		// connection would release it too, but database/sql may keep it in its pool.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}()

	var res MigrateResult
	if res.Found, err = Inspect(ctx, connQuerier{conn}); err != nil {
		return res, err
	}
	if res.Mode, err = mode.resolve(res.Found); err != nil {
		return res, err
	}

	// goose creates the version tables, all in the worker schema, before running the first
	// migration of their set, so the schema must exist first.
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS worker"); err != nil {
		return res, fmt.Errorf("postgres: migrate: creating schema worker: %w", err)
	}
	if res.MovedLegacyVersionTable, res.RemovedLegacyVersionTable, err = settleLegacyVersionTable(ctx, conn, res.Found); err != nil {
		return res, err
	}
	switch {
	case res.MovedLegacyVersionTable:
		logger.InfoContext(ctx, "moved the version table of the testplanit set",
			slog.String("from", legacyVersionTable), slog.String("to", testplanitSet.versionTable))
	case res.RemovedLegacyVersionTable:
		logger.InfoContext(ctx, "removed an empty version table left by a failed run",
			slog.String("table", legacyVersionTable))
	}

	for _, set := range res.Mode.sets() {
		n, err := migrateSet(ctx, db, set, logger)
		res.Applied += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// settleLegacyVersionTable brings the testplanit set's versions, recorded in
// [legacyVersionTable] by earlier releases, to the worker schema: moved when they record
// migrations (a development database), dropped when they record none (the leftover of a run
// that failed on the first migration, possibly on TestPlanIt's database). Idempotent: once
// done, l.LegacySubset no longer exists. conn holds the migration lock.
func settleLegacyVersionTable(ctx context.Context, conn *sql.Conn, l Layout) (moved, removed bool, err error) {
	legacy, subset := l.LegacySubset, l.Subset
	switch {
	case !legacy.Exists:
		return false, false, nil
	case legacy.Version == 0:
		if _, err := conn.ExecContext(ctx, "DROP TABLE "+legacyVersionTable); err != nil {
			return false, false, fmt.Errorf("postgres: migrate: dropping the empty %s: %w", legacyVersionTable, err)
		}
		return false, true, nil
	case subset.Version > 0:
		return false, false, fmt.Errorf("postgres: migrate: both %s (version %d) and %s (version %d) record the testplanit set; "+
			"drop the one that does not match the tables in public", legacyVersionTable, legacy.Version, subset.Name, subset.Version)
	}

	stmts := []string{
		// The identity sequence and the primary key's index move with the table; they are
		// renamed too, so that nothing keeps the old name.
		"ALTER TABLE public.tpi_workers_dev_schema_version SET SCHEMA worker",
		"ALTER TABLE worker.tpi_workers_dev_schema_version RENAME TO testplanit_subset_version",
		"ALTER INDEX IF EXISTS worker.tpi_workers_dev_schema_version_pkey RENAME TO testplanit_subset_version_pkey",
		"ALTER SEQUENCE IF EXISTS worker.tpi_workers_dev_schema_version_id_seq RENAME TO testplanit_subset_version_id_seq",
	}
	if subset.Exists { // and records nothing: goose created it, then the first migration failed
		stmts = append([]string{"DROP TABLE " + testplanitSet.versionTable}, stmts...)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("postgres: migrate: moving %s: %w", legacyVersionTable, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, false, fmt.Errorf("postgres: migrate: moving %s to %s: %s: %w",
				legacyVersionTable, testplanitSet.versionTable, stmt, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, false, fmt.Errorf("postgres: migrate: moving %s to %s: %w", legacyVersionTable, testplanitSet.versionTable, err)
	}
	return true, false, nil
}

// connQuerier lets [Inspect] read through the database/sql connection that holds the lock.
type connQuerier struct{ conn *sql.Conn }

func (q connQuerier) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return q.conn.QueryRowContext(ctx, query, args...)
}

// MigrateURL opens databaseURL with pgx's database/sql driver, runs [Migrate] and closes it.
func MigrateURL(ctx context.Context, databaseURL string, mode MigrateMode, logger *slog.Logger) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("postgres: invalid database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return Migrate(ctx, db, mode, logger)
}

// newProvider returns a goose provider for one embedded set.
func newProvider(db *sql.DB, set migrationSet, logger *slog.Logger) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, path.Join("migrations", set.name))
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName(set.versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(logger), // goose itself only logs in verbose mode; set for safety
	)
}

// migrateSet applies the pending migrations of set and returns how many it applied.
func migrateSet(ctx context.Context, db *sql.DB, set migrationSet, logger *slog.Logger) (int, error) {
	provider, err := newProvider(db, set, logger)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrations %s: %w", set.name, err)
	}
	results, err := provider.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		results = partial.Applied
	}
	for _, r := range results {
		logger.InfoContext(ctx, "applied migration",
			slog.String("set", set.name),
			slog.String("file", path.Base(r.Source.Path)),
			slog.Int64("version", r.Source.Version),
			slog.Duration("duration", r.Duration))
	}
	if partial != nil && partial.Failed != nil {
		return len(results), fmt.Errorf("postgres: migrations %s: %s failed: %w",
			set.name, path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return len(results), fmt.Errorf("postgres: migrations %s: %w", set.name, err)
	}
	current, err := provider.GetDBVersion(ctx)
	if err != nil {
		return len(results), fmt.Errorf("postgres: migrations %s: reading version: %w", set.name, err)
	}
	logger.DebugContext(ctx, "migrations up to date",
		slog.String("set", set.name), slog.Int64("version", current), slog.Int("applied", len(results)))
	return len(results), nil
}

// MigrationsHash is a hex SHA-256 over the names and contents of every embedded migration file
// of both sets, and the names of their version tables. It changes whenever a migration is added
// or edited or a version table moves; test helpers use it to name template databases.
func MigrationsHash() string {
	var names []string
	err := fs.WalkDir(migrationFiles, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("postgres: walking embedded migrations: %v", err)) // embedded: cannot fail
	}
	sort.Strings(names)
	h := sha256.New()
	for _, set := range []migrationSet{testplanitSet, workerSet} {
		fmt.Fprintf(h, "%s\x00%s\x00", set.name, set.versionTable)
	}
	for _, name := range names {
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("postgres: reading embedded %s: %v", name, err))
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(body))
		h.Write(body)
	}
	return hex.EncodeToString(h.Sum(nil))
}
