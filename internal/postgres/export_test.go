package postgres

import (
	"database/sql"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// NewProviderForTest exposes the goose provider of the set "testplanit" or "worker" to the
// external tests, for migrating down.
func NewProviderForTest(db *sql.DB, set string) (*goose.Provider, error) {
	s := workerSet
	if set == testplanitSet.name {
		s = testplanitSet
	}
	return newProvider(db, s, slog.New(slog.DiscardHandler))
}

// NewProviderWithTableForTest is [NewProviderForTest] with the versions recorded in table
// instead of the set's own version table: to lay out a database as an earlier release did.
func NewProviderWithTableForTest(db *sql.DB, set, table string) (*goose.Provider, error) {
	return newProvider(db, migrationSet{name: set, versionTable: table}, slog.New(slog.DiscardHandler))
}

// ResolveForTest exposes how a mode resolves on a database laid out as l.
func ResolveForTest(mode MigrateMode, l Layout) (MigrateMode, error) { return mode.resolve(l) }
