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
