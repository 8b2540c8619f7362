package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ExecQuerier runs statements and one-row queries: a *pgxpool.Pool or *pgx.Conn.
type ExecQuerier interface {
	RowQuerier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// LinearProvider is the "IntegrationProvider" value of Linear integrations. TestPlanIt's own
// enum has no such value; [EnableLinear] adds it.
const LinearProvider = "LINEAR"

// ErrNoProviderEnum means the database has no "IntegrationProvider" type: it is neither
// TestPlanIt's nor one migrated with our development subset.
var ErrNoProviderEnum = errors.New(`postgres: type "IntegrationProvider" does not exist (not a TestPlanIt database)`)

// EnableLinear adds LINEAR to TestPlanIt's "IntegrationProvider" enum so that Linear
// integrations can be stored and synced, and reports whether it was added now (false: it was
// there already). It is idempotent.
//
// Our development subset's migrations include the value (00009_linear_provider.sql). On
// TestPlanIt's own database it is an explicit opt-in of the operator (`tpictl migrate
// --enable-linear`), never applied silently: PostgreSQL cannot drop an enum value again, and
// TestPlanIt's Prisma client does not know the value, so its pages fail on a row that uses it
// until TestPlanIt's schema has it too.
//
// db must not be a transaction that goes on to use the value: PostgreSQL refuses a new enum
// value in the transaction that added it.
func EnableLinear(ctx context.Context, db ExecQuerier) (added bool, err error) {
	var hasType, exists bool
	if err := db.QueryRow(ctx, `
SELECT to_regtype('"IntegrationProvider"') IS NOT NULL,
       EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = to_regtype('"IntegrationProvider"') AND enumlabel = $1)`,
		LinearProvider).Scan(&hasType, &exists); err != nil {
		return false, fmt.Errorf("postgres: enabling Linear: %w", err)
	}
	switch {
	case !hasType:
		return false, ErrNoProviderEnum
	case exists:
		return false, nil
	}
	// ALTER TYPE takes no parameters; the value is a constant.
	if _, err := db.Exec(ctx, `ALTER TYPE "IntegrationProvider" ADD VALUE IF NOT EXISTS 'LINEAR'`); err != nil {
		return false, fmt.Errorf(`postgres: enabling Linear (ALTER TYPE "IntegrationProvider" ADD VALUE 'LINEAR'): %w`, err)
	}
	return true, nil
}

var _ ExecQuerier = (*pgx.Conn)(nil)
