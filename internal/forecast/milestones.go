package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// ReminderLedgerKind is the worker.ledger kind of a sent milestone reminder;
// its key is "<milestoneId>:<userId>:<YYYY-MM-DD>", prefixed with
// "<tenantId>:" for a tenant.
const ReminderLedgerKind = "milestone-reminder"

// ReminderLedgerRetention is how long reminder ledger rows are kept; each
// reminder run deletes older ones.
const ReminderLedgerRetention = 7 * 24 * time.Hour

// Enqueuer enqueues tasks; *asynq.Client satisfies it.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Milestones completes due milestones and reminds the people working on
// milestones that are due soon or overdue.
type Milestones struct {
	// DB is TestPlanIt's database, migrated with the worker schema.
	// Required.
	DB *pgxpool.Pool
	// Enqueuer receives the notifications:create-notification tasks.
	// Required for reminders.
	Enqueuer Enqueuer
	// Clock defaults to the wall clock.
	Clock worker.Clock
	// Location is the time zone of the reminder day (one reminder per
	// milestone, user and day) and of the date in the message; nil means
	// UTC, the time zone of the original's Docker images.
	Location *time.Location
}

func (m *Milestones) now() time.Time {
	if m.Clock == nil {
		return time.Now()
	}
	return m.Clock.Now()
}

func (m *Milestones) location() *time.Location {
	if m.Location == nil {
		return time.UTC
	}
	return m.Location
}

// AutoComplete marks as completed every milestone that is open, not deleted,
// has automatic completion on and whose due date ("completedAt", as in the
// original) has passed. It returns the ids it completed, in id order.
func (m *Milestones) AutoComplete(ctx context.Context) ([]int, error) {
	rows, err := m.DB.Query(ctx, `
		UPDATE "Milestones" SET "isCompleted" = true
		WHERE NOT "isCompleted" AND NOT "isDeleted" AND "automaticCompletion"
		  AND "completedAt" <= $1
		RETURNING id`, m.now())
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

// ReminderStats says what [Milestones.RemindDue] did.
type ReminderStats struct {
	// Milestones is the number of open milestones with reminders on and a
	// due date; Due how many of them are due within their notice or
	// overdue.
	Milestones, Due int
	// Recipients is the number of (milestone, user) pairs; Enqueued how
	// many reminders were enqueued now, and AlreadySent how many had
	// already been sent today (ledger), by an earlier attempt or trigger.
	Recipients, Enqueued, AlreadySent int
}

// DueStatus applies the original's rule: the difference between the due
// date and now in days, rounded away from now (ceil when the due date is
// ahead, floor when it has passed); overdue when negative; a reminder is due
// when overdue or within notifyDaysBefore days.
func DueStatus(now, due time.Time, notifyDaysBefore int) (daysDiff int, overdue, notify bool) {
	diffMs := float64(due.Sub(now).Milliseconds())
	days := diffMs / 86400000
	if diffMs >= 0 {
		daysDiff = int(math.Ceil(days))
	} else {
		daysDiff = int(math.Floor(days))
	}
	overdue = daysDiff < 0
	return daysDiff, overdue, overdue || daysDiff <= notifyDaysBefore
}

// reminderData is the notification's data, with the original's fields.
type reminderData struct {
	MilestoneName string `json:"milestoneName"`
	ProjectName   string `json:"projectName"`
	ProjectID     int    `json:"projectId"`
	MilestoneID   int    `json:"milestoneId"`
	DueDate       string `json:"dueDate"`
	IsOverdue     bool   `json:"isOverdue"`
}

type dueMilestone struct {
	id, projectID     int
	name, projectName string
	due               time.Time
	notifyDaysBefore  int
	overdue           bool
}

// RemindDue sends one MILESTONE_DUE_REMINDER per due milestone, recipient
// and day: recipients are the distinct users among the milestone's creator,
// the creators of its non-deleted runs, the assignees of those runs' cases,
// the executors of their results, and the creators and assignees of its
// non-deleted sessions. Each reminder is a notifications:create-notification
// task with the deterministic ID "milestone-reminder:<milestoneId>:<userId>:<day>"
// and a worker.ledger row written in the same transaction as the enqueue, so
// retries and manual triggers on the same day send nothing twice.
func (m *Milestones) RemindDue(ctx context.Context, tenantID string) (ReminderStats, error) {
	var st ReminderStats
	if m.Enqueuer == nil {
		return st, errors.New("forecast: Milestones.Enqueuer is nil")
	}
	now := m.now()
	loc := m.location()
	day := now.In(loc).Format(time.DateOnly)

	byID := map[int]*dueMilestone{}
	var ids []int
	rows, err := m.DB.Query(ctx, `
		SELECT m.id, m.name, m."completedAt", m."notifyDaysBefore", p.id, p.name
		FROM "Milestones" m JOIN "Projects" p ON p.id = m."projectId"
		WHERE NOT m."isCompleted" AND NOT m."isDeleted" AND m."notifyDaysBefore" > 0
		  AND m."completedAt" IS NOT NULL
		ORDER BY m.id`)
	if err != nil {
		return st, fmt.Errorf("forecast: reading milestones: %w", err)
	}
	for rows.Next() {
		var d dueMilestone
		if err := rows.Scan(&d.id, &d.name, &d.due, &d.notifyDaysBefore, &d.projectID, &d.projectName); err != nil {
			rows.Close()
			return st, fmt.Errorf("forecast: reading milestones: %w", err)
		}
		st.Milestones++
		_, overdue, notify := DueStatus(now, d.due, d.notifyDaysBefore)
		if !notify {
			continue
		}
		d.overdue = overdue
		byID[d.id] = &d
		ids = append(ids, d.id)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("forecast: reading milestones: %w", err)
	}
	st.Due = len(ids)
	if len(ids) == 0 {
		return st, nil
	}

	type pair struct {
		milestone int
		user      string
	}
	rows, err = m.DB.Query(ctx, recipientsSQL, ids)
	if err != nil {
		return st, fmt.Errorf("forecast: reading reminder recipients: %w", err)
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		err := r.Scan(&p.milestone, &p.user)
		return p, err
	})
	if err != nil {
		return st, fmt.Errorf("forecast: reading reminder recipients: %w", err)
	}
	st.Recipients = len(pairs)

	keys := make([]string, len(pairs))
	byKey := make(map[string]pair, len(pairs))
	for i, p := range pairs {
		keys[i] = withTenant(tenantID, fmt.Sprintf("%d:%s:%s", p.milestone, p.user, day))
		byKey[keys[i]] = p
	}
	err = pgx.BeginFunc(ctx, m.DB, func(tx pgx.Tx) error {
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
		for _, key := range fresh {
			p := byKey[key]
			t, err := reminderTask(byID[p.milestone], p.user, tenantID, day, loc)
			if err != nil {
				return worker.Permanent(err)
			}
			_, err = m.Enqueuer.EnqueueContext(ctx, t)
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				return fmt.Errorf("forecast: enqueuing the reminder for milestone %d: %w", p.milestone, err)
			}
			st.Enqueued++
		}
		st.AlreadySent = len(pairs) - len(fresh)
		// Keys name their day, so rows of past days are never consulted
		// again: keep a week for inspection, drop the rest.
		if _, err := tx.Exec(ctx, `DELETE FROM worker.ledger WHERE kind = $1 AND created_at < $2`,
			ReminderLedgerKind, now.Add(-ReminderLedgerRetention)); err != nil {
			return fmt.Errorf("forecast: pruning the reminder ledger: %w", err)
		}
		return nil
	})
	if err != nil {
		st.Enqueued = 0
		return st, err
	}
	return st, nil
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

// ReminderTaskID is the deterministic task ID of the reminder of milestone
// for user on day (YYYY-MM-DD), prefixed with "<tenantId>:" for a tenant.
func ReminderTaskID(tenantID string, milestone int, user, day string) string {
	return withTenant(tenantID, fmt.Sprintf("%s:%d:%s:%s", ReminderLedgerKind, milestone, user, day))
}

// reminderTask builds the original's notification: title, message with the
// due date as toLocaleDateString() prints it in en-US (M/D/YYYY, in loc),
// and data with the ISO due date.
func reminderTask(d *dueMilestone, user, tenantID, day string, loc *time.Location) (*asynq.Task, error) {
	title := "Milestone Due Soon"
	verb := "is due on"
	if d.overdue {
		title, verb = "Milestone Overdue", "was due on"
	}
	data, err := json.Marshal(reminderData{
		MilestoneName: d.name,
		ProjectName:   d.projectName,
		ProjectID:     d.projectID,
		MilestoneID:   d.id,
		DueDate:       d.due.UTC().Format("2006-01-02T15:04:05.000Z"),
		IsOverdue:     d.overdue,
	})
	if err != nil {
		return nil, err
	}
	return task.NewCreateNotification(task.CreateNotification{
		UserID:            user,
		Type:              task.NotificationTypeMilestoneDueReminder,
		Title:             title,
		Message:           `Milestone "` + d.name + `" in project "` + d.projectName + `" ` + verb + " " + d.due.In(loc).Format("1/2/2006"),
		RelatedEntityID:   strconv.Itoa(d.id),
		RelatedEntityType: "Milestone",
		Data:              data,
		TenantID:          tenantID,
	}, asynq.TaskID(ReminderTaskID(tenantID, d.id, user, day)))
}

func withTenant(tenantID, s string) string {
	if tenantID == "" {
		return s
	}
	return tenantID + ":" + s
}
