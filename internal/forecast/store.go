package forecast

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the SQL of the milestone tasks on one tenant's database:
// TestPlanIt's "Milestones", the people around them, and the reminder rows
// of worker.ledger. [Milestones] uses it as its [MilestoneStore]. The
// forecasts' set-based SQL lives with its algorithm, in [Forecaster].
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns the store of db, a tenant's pool opened by the runtime
// (timestamps bound and read as UTC).
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Milestone is an open milestone with reminders on, as
// [Store.RemindableMilestones] reads it.
type Milestone struct {
	ID        int
	Name      string
	ProjectID int
	// ProjectName is the name of the milestone's project.
	ProjectName string
	// Due is the due date ("completedAt", as in the original), in UTC.
	Due time.Time
	// NotifyDaysBefore is how many days ahead of Due a reminder starts.
	NotifyDaysBefore int
}

// Recipient is a user to remind of a milestone.
type Recipient struct {
	Milestone int
	User      string
}

// CompleteDueMilestones sets "isCompleted" on every open, non-deleted
// milestone with "automaticCompletion" whose due date ("completedAt") is at
// or before now, keeping "completedAt". It returns their ids in order.
func (s *Store) CompleteDueMilestones(ctx context.Context, now time.Time) ([]int, error) {
	rows, err := s.db.Query(ctx, `
		UPDATE "Milestones" SET "isCompleted" = true
		WHERE NOT "isCompleted" AND NOT "isDeleted" AND "automaticCompletion"
		  AND "completedAt" <= $1
		RETURNING id`, now)
	if err != nil {
		return nil, fmt.Errorf("forecast: completing due milestones: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("forecast: completing due milestones: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// RemindableMilestones returns the open, non-deleted milestones that have a
// due date and "notifyDaysBefore" > 0, in id order.
func (s *Store) RemindableMilestones(ctx context.Context) ([]Milestone, error) {
	rows, err := s.db.Query(ctx, `
		SELECT m.id, m.name, p.id, p.name, m."completedAt", m."notifyDaysBefore"
		FROM "Milestones" m JOIN "Projects" p ON p.id = m."projectId"
		WHERE NOT m."isCompleted" AND NOT m."isDeleted" AND m."notifyDaysBefore" > 0
		  AND m."completedAt" IS NOT NULL
		ORDER BY m.id`)
	if err != nil {
		return nil, fmt.Errorf("forecast: reading milestones: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Milestone, error) {
		var m Milestone
		err := r.Scan(&m.ID, &m.Name, &m.ProjectID, &m.ProjectName, &m.Due, &m.NotifyDaysBefore)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("forecast: reading milestones: %w", err)
	}
	return ms, nil
}

// ReminderRecipients returns the distinct (milestone, user) pairs of the
// milestones ids, in order: each milestone's creator, the creators of its
// non-deleted runs, the assignees of those runs' cases, the executors of
// their results, and the creators and assignees of its non-deleted
// sessions.
func (s *Store) ReminderRecipients(ctx context.Context, ids []int) ([]Recipient, error) {
	rows, err := s.db.Query(ctx, recipientsSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("forecast: reading reminder recipients: %w", err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Recipient, error) {
		var p Recipient
		err := r.Scan(&p.Milestone, &p.User)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("forecast: reading reminder recipients: %w", err)
	}
	return rs, nil
}

// recipientsSQL lists the distinct (milestone, user) pairs of the
// milestones $1, in order.
const recipientsSQL = `
	SELECT DISTINCT x.milestone, x.uid FROM (
		SELECT m.id AS milestone, m."createdBy" AS uid
		FROM "Milestones" m WHERE m.id = ANY($1)
		UNION ALL
		SELECT tr."milestoneId", tr."createdById"
		FROM "TestRuns" tr WHERE tr."milestoneId" = ANY($1) AND NOT tr."isDeleted"
		UNION ALL
		SELECT tr."milestoneId", trc."assignedToId"
		FROM "TestRuns" tr JOIN "TestRunCases" trc ON trc."testRunId" = tr.id
		WHERE tr."milestoneId" = ANY($1) AND NOT tr."isDeleted"
		UNION ALL
		SELECT tr."milestoneId", r."executedById"
		FROM "TestRuns" tr JOIN "TestRunResults" r ON r."testRunId" = tr.id
		WHERE tr."milestoneId" = ANY($1) AND NOT tr."isDeleted"
		UNION ALL
		SELECT s."milestoneId", s."createdById"
		FROM "Sessions" s WHERE s."milestoneId" = ANY($1) AND NOT s."isDeleted"
		UNION ALL
		SELECT s."milestoneId", s."assignedToId"
		FROM "Sessions" s WHERE s."milestoneId" = ANY($1) AND NOT s."isDeleted"
	) x
	WHERE x.uid IS NOT NULL
	ORDER BY 1, 2`

// RecordReminders inserts a worker.ledger row of kind [ReminderLedgerKind]
// for each of keys, created at now, and in the same transaction calls send
// with the keys that had no row yet, sorted; then it deletes the reminder
// rows created before expiry. When send fails the transaction rolls back, so
// a retry sees those keys as new. A concurrent call with the same keys waits
// for this transaction and then finds them recorded.
func (s *Store) RecordReminders(ctx context.Context, keys []string, now, expiry time.Time, send func(fresh []string) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			INSERT INTO worker.ledger (kind, key, created_at)
			SELECT $1, k, $3 FROM unnest($2::text[]) AS k
			ON CONFLICT (kind, key) DO NOTHING
			RETURNING key`, ReminderLedgerKind, keys, now)
		if err != nil {
			return fmt.Errorf("forecast: recording reminders: %w", err)
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("forecast: recording reminders: %w", err)
		}
		slices.Sort(fresh)
		if err := send(fresh); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM worker.ledger WHERE kind = $1 AND created_at < $2`,
			ReminderLedgerKind, expiry); err != nil {
			return fmt.Errorf("forecast: pruning the reminder ledger: %w", err)
		}
		return nil
	})
}
