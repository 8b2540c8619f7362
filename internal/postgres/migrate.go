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
	// and demos, on a database that TestPlanIt does not own.
	MigrateAll MigrateMode = iota + 1
	// MigrateWorkerOnly applies only the worker schema: for a database that TestPlanIt already
	// owns (its Prisma migrations manage everything in public).
	MigrateWorkerOnly
)

// String returns the mode's name as [ParseMigrateMode] accepts it.
func (m MigrateMode) String() string {
	switch m {
	case MigrateAll:
		return "all"
	case MigrateWorkerOnly:
		return "worker"
	default:
		return fmt.Sprintf("MigrateMode(%d)", int(m))
	}
}

// ParseMigrateMode parses "all" or "worker" (for example from a command-line flag).
func ParseMigrateMode(s string) (MigrateMode, error) {
	switch s {
	case "all":
		return MigrateAll, nil
	case "worker", "worker-only":
		return MigrateWorkerOnly, nil
	default:
		return 0, fmt.Errorf("postgres: unknown migrate mode %q (want all or worker)", s)
	}
}

// migrationSet is one directory of embedded migrations with its own version table.
type migrationSet struct {
	name         string // directory under migrations/, also used in logs
	versionTable string // goose version table
}

var (
	// testplanitSet lives next to the Prisma tables (current schema, normally public) under a
	// name that cannot collide with Prisma's _prisma_migrations.
	testplanitSet = migrationSet{name: "testplanit", versionTable: "tpi_workers_dev_schema_version"}
	workerSet     = migrationSet{name: "worker", versionTable: "worker.goose_db_version"}
)

func (m MigrateMode) sets() ([]migrationSet, error) {
	switch m {
	case MigrateAll:
		return []migrationSet{testplanitSet, workerSet}, nil
	case MigrateWorkerOnly:
		return []migrationSet{workerSet}, nil
	default:
		return nil, fmt.Errorf("postgres: invalid migrate mode %v", m)
	}
}

// migrateLockID is the key of the session advisory lock that serializes concurrent Migrate
// calls on one database (several workers starting at once). Arbitrary, fixed forever.
const migrateLockID int64 = 0x7470695f6d696772 // "tpi_migr"

// Migrate brings db up to the latest embedded migrations of the sets selected by mode, in order
// (testplanit, then worker). Concurrent calls on the same database are serialized with a
// PostgreSQL advisory lock; running it again when everything is applied changes nothing.
// Each applied migration is logged at info level on logger; a nil logger logs nothing.
//
// db must allow at least two open connections: one holds the lock while goose uses another.
// Migrations run in a transaction each; a failure names the file and leaves the ones before it
// applied.
func Migrate(ctx context.Context, db *sql.DB, mode MigrateMode, logger *slog.Logger) error {
	sets, err := mode.sets()
	if err != nil {
		return err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("postgres: migrate: taking the migration lock: %w", err)
	}
	defer func() {
		// Detached: the lock must be released even when ctx was canceled. Closing the
		// connection would release it too, but database/sql may keep it in its pool.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}()

	// goose creates the version table of the worker set before running its first migration,
	// so the schema holding that table must exist first.
	if _, err := conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS worker"); err != nil {
		return fmt.Errorf("postgres: migrate: creating schema worker: %w", err)
	}

	for _, set := range sets {
		if err := migrateSet(ctx, db, set, logger); err != nil {
			return err
		}
	}
	return nil
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

func migrateSet(ctx context.Context, db *sql.DB, set migrationSet, logger *slog.Logger) error {
	provider, err := newProvider(db, set, logger)
	if err != nil {
		return fmt.Errorf("postgres: migrations %s: %w", set.name, err)
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
		return fmt.Errorf("postgres: migrations %s: %s failed: %w",
			set.name, path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return fmt.Errorf("postgres: migrations %s: %w", set.name, err)
	}
	current, err := provider.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrations %s: reading version: %w", set.name, err)
	}
	logger.DebugContext(ctx, "migrations up to date",
		slog.String("set", set.name), slog.Int64("version", current), slog.Int("applied", len(results)))
	return nil
}

// MigrationsHash is a hex SHA-256 over the names and contents of every embedded migration file
// of both sets. It changes whenever a migration is added or edited; test helpers use it to name
// template databases.
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
