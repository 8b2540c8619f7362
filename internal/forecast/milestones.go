package forecast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

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

// MilestoneStore is what [Milestones] reads and writes: [*Store] on a
// tenant's database.
type MilestoneStore interface {
	CompleteDueMilestones(ctx context.Context, now time.Time) ([]int, error)
	RemindableMilestones(ctx context.Context) ([]Milestone, error)
	ReminderRecipients(ctx context.Context, milestoneIDs []int) ([]Recipient, error)
	RecordReminders(ctx context.Context, keys []string, now, expiry time.Time, send func(fresh []string) error) error
}

// Milestones completes due milestones and reminds the people working on
// milestones that are due soon or overdue. Build one per task, on the
// task's tenant.
type Milestones struct {
	// Store is the tenant's database ([NewStore]). Required.
	Store MilestoneStore
	// Enqueuer receives the notifications:create-notification tasks.
	// Required for reminders.
	Enqueuer task.Enqueuer
	// Clock defaults to [worker.SystemClock]. It alone says what "now" is:
	// which milestones are due and which day it is in Location.
	Clock worker.Clock
	// Location is the time zone of the reminder day (one reminder per
	// milestone, user and day) and of the date in the message; nil means
	// UTC, the time zone of the original's Docker images. The process's
	// own zone (time.Local) is never used.
	Location *time.Location
}

func (m *Milestones) now() time.Time {
	if m.Clock == nil {
		return worker.SystemClock{}.Now()
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
	if m.Store == nil {
		return nil, errors.New("forecast: Milestones.Store is nil")
	}
	return m.Store.CompleteDueMilestones(ctx, m.now())
}

// ReminderStats says what [Milestones.RemindDue] did.
type ReminderStats struct {
	// Milestones is the number of open milestones with reminders on and a
	// due date; Due how many of them are due within their notice or
	// overdue.
	Milestones, Due int
	// Recipients is the number of (milestone, user) pairs; Enqueued how
	// many reminders were enqueued now, and AlreadySent how many had
	// already been sent today, by an earlier attempt or trigger (a ledger
	// row, or a task ID already taken).
	Recipients, Enqueued, AlreadySent int
}

// DueStatus applies the original's rule: the difference between the due
// date and now in days, rounded away from now (ceil when the due date is
// ahead, floor when it has passed); overdue when negative; a reminder is due
// when overdue or within notifyDaysBefore days. It depends on the two
// instants only, not on any time zone.
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

// dueMilestone is a milestone that gets reminders today.
type dueMilestone struct {
	Milestone
	overdue bool
}

// RemindDue sends one MILESTONE_DUE_REMINDER per due milestone, recipient
// and day (the day of the clock's now in Location): recipients are the
// distinct users among the milestone's creator, the creators of its
// non-deleted runs, the assignees of those runs' cases, the executors of
// their results, and the creators and assignees of its non-deleted
// sessions. Each reminder is a notifications:create-notification task of
// tenantID (the task's resolved tenant, "" for none) with the deterministic
// ID [ReminderTaskID], and a worker.ledger row keyed
// "<tenantId>:<milestoneId>:<userId>:<day>" written in the same transaction
// as the enqueue, so retries and manual triggers on the same day send
// nothing twice.
func (m *Milestones) RemindDue(ctx context.Context, tenantID string) (ReminderStats, error) {
	var st ReminderStats
	if m.Store == nil {
		return st, errors.New("forecast: Milestones.Store is nil")
	}
	if m.Enqueuer == nil {
		return st, errors.New("forecast: Milestones.Enqueuer is nil")
	}
	now := m.now()
	loc := m.location()
	day := now.In(loc).Format(time.DateOnly)

	all, err := m.Store.RemindableMilestones(ctx)
	if err != nil {
		return st, err
	}
	st.Milestones = len(all)
	byID := map[int]dueMilestone{}
	var ids []int
	for _, ms := range all {
		_, overdue, notify := DueStatus(now, ms.Due, ms.NotifyDaysBefore)
		if notify {
			byID[ms.ID] = dueMilestone{Milestone: ms, overdue: overdue}
			ids = append(ids, ms.ID)
		}
	}
	st.Due = len(ids)
	if len(ids) == 0 {
		return st, nil
	}

	recipients, err := m.Store.ReminderRecipients(ctx, ids)
	if err != nil {
		return st, err
	}
	st.Recipients = len(recipients)
	keys := make([]string, len(recipients))
	byKey := make(map[string]Recipient, len(recipients))
	for i, r := range recipients {
		keys[i] = task.TenantKey(tenantID, fmt.Sprintf("%d:%s:%s", r.Milestone, r.User, day))
		byKey[keys[i]] = r
	}
	// Keys name their day, so rows of past days are never consulted again:
	// keep a week for inspection, drop the rest.
	err = m.Store.RecordReminders(ctx, keys, now, now.Add(-ReminderLedgerRetention), func(fresh []string) error {
		st.Enqueued, st.AlreadySent = 0, len(keys)-len(fresh)
		for _, key := range fresh {
			r := byKey[key]
			t, err := reminderTask(byID[r.Milestone], r.User, tenantID, day, loc)
			if err != nil {
				return worker.Permanent(err)
			}
			res, err := task.Enqueue(ctx, m.Enqueuer, t)
			if err != nil {
				return fmt.Errorf("forecast: enqueuing the reminder for milestone %d: %w", r.Milestone, err)
			}
			if res.Duplicate {
				st.AlreadySent++
			} else {
				st.Enqueued++
			}
		}
		return nil
	})
	if err != nil {
		st.Enqueued, st.AlreadySent = 0, 0
		return st, err
	}
	return st, nil
}

// ReminderTaskID is the deterministic task ID of the reminder of milestone
// for user on day (YYYY-MM-DD), prefixed with "<tenantId>:" for a tenant.
func ReminderTaskID(tenantID string, milestone int, user, day string) string {
	return task.TenantKey(tenantID, fmt.Sprintf("%s:%d:%s:%s", ReminderLedgerKind, milestone, user, day))
}

// reminderTask builds the original's notification: title, message with the
// due date as toLocaleDateString() prints it in en-US (M/D/YYYY, in loc),
// and data with the ISO due date.
func reminderTask(d dueMilestone, user, tenantID, day string, loc *time.Location) (*asynq.Task, error) {
	title := "Milestone Due Soon"
	verb := "is due on"
	if d.overdue {
		title, verb = "Milestone Overdue", "was due on"
	}
	data, err := json.Marshal(reminderData{
		MilestoneName: d.Name,
		ProjectName:   d.ProjectName,
		ProjectID:     d.ProjectID,
		MilestoneID:   d.ID,
		DueDate:       d.Due.UTC().Format("2006-01-02T15:04:05.000Z"),
		IsOverdue:     d.overdue,
	})
	if err != nil {
		return nil, fmt.Errorf("forecast: encoding the reminder data of milestone %d: %w", d.ID, err)
	}
	return task.NewCreateNotification(task.CreateNotification{
		UserID:            user,
		Type:              task.NotificationTypeMilestoneDueReminder,
		Title:             title,
		Message:           `Milestone "` + d.Name + `" in project "` + d.ProjectName + `" ` + verb + " " + d.Due.In(loc).Format("1/2/2006"),
		RelatedEntityID:   strconv.Itoa(d.ID),
		RelatedEntityType: "Milestone",
		Data:              data,
		TenantID:          tenantID,
	}, asynq.TaskID(ReminderTaskID(tenantID, d.ID, user, day)))
}
