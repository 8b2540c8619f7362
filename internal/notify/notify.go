package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Handler handles the notifications queue. Each task works on its
// tenant's database ([worker.TenantFrom]).
type Handler struct {
	// Enqueuer enqueues the follow-up emails: [worker.NewClient]'s client
	// in a worker. Required.
	Enqueuer task.Enqueuer
	// Clock stamps new notifications and decides which users' digests are
	// due. Default [worker.SystemClock].
	Clock worker.Clock
	// DigestTime is the local time of day from which a user's digest is
	// due, as "HH:MM". Default "08:00".
	DigestTime string
	// FirstDigestLookback bounds the first digest of a user who never had
	// one: notifications older than this are not included. Default 7 days.
	FirstDigestLookback time.Duration
	// BatchSize is the number of users planned per SQL statement. Default
	// 1000.
	BatchSize int
	// EnqueueWorkers is the number of concurrent enqueues per batch.
	// Default 8.
	EnqueueWorkers int
	// DigestRetention is how long digest ledger rows are kept. Default 35
	// days (more than the lookback).
	DigestRetention time.Duration
}

// Register routes the notification task types of mux to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeCreateNotification, h.CreateNotification)
	worker.Handle(mux, task.TypeSendDailyDigest, h.SendDailyDigest)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return worker.SystemClock{}.Now()
	}
	return h.Clock.Now()
}

// errNotFound is wrapped by the stores' errors for a row that does not
// exist: the task names something that is not there, a permanent failure.
var errNotFound = errors.New("not found")

// user is what CreateNotification needs to know of the recipient.
type user struct {
	Active, Deleted bool
	// Mode is the effective notification mode, never USE_GLOBAL.
	Mode task.NotificationMode
}

// store is what CreateNotification needs of the tenant's database.
type store interface {
	// User loads a user; an error wrapping errNotFound when there is none.
	User(ctx context.Context, id string) (user, error)
	// InsertNotification inserts the notification of p under id, created
	// at at, unless a row with that id exists; it reports whether it
	// inserted.
	InsertNotification(ctx context.Context, id string, p task.CreateNotification, at time.Time) (bool, error)
}

// NotificationID derives the "Notification".id of a create-notification
// task from its queue and task ID ([cuid.Derive]), so a retried task (same
// ID) addresses the same row.
func NotificationID(queue, taskID string) string { return cuid.Derive(queue, taskID) }

// CreateNotification handles notifications:create-notification: one
// "Notification" row per task whatever the retries, unless the user is
// inactive, deleted or in mode NONE, and, in mode IN_APP_EMAIL_IMMEDIATE,
// its email enqueued once.
func (h *Handler) CreateNotification(ctx context.Context, p task.CreateNotification) error {
	tn := worker.TenantFrom(ctx)
	return h.createNotification(ctx, newStore(tn.DB, tn.ID), tn.ID, p)
}

func (h *Handler) createNotification(ctx context.Context, st store, tenantID string, p task.CreateNotification) error {
	log := worker.LoggerFrom(ctx)
	u, err := st.User(ctx, p.UserID)
	if errors.Is(err, errNotFound) {
		return worker.Permanent(fmt.Errorf("user %s does not exist", p.UserID))
	}
	if err != nil {
		return err
	}
	if u.Deleted || !u.Active {
		log.Info("user inactive or deleted; no notification", "user", p.UserID)
		return nil
	}
	if u.Mode == task.NotificationModeNone {
		log.Info("notification mode NONE; nothing created", "user", p.UserID)
		return nil
	}
	id := cuid.New()
	if taskID, ok := asynq.GetTaskID(ctx); ok {
		id = NotificationID(task.QueueNotifications, taskID)
	}
	created, err := st.InsertNotification(ctx, id, p, h.now())
	if err != nil {
		return err
	}
	if u.Mode == task.NotificationModeInAppEmailImmediate {
		et, err := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: id, UserID: p.UserID, Immediate: true, TenantID: tenantID})
		if err != nil {
			return worker.Permanent(err)
		}
		if _, err := task.Enqueue(ctx, h.Enqueuer, et); err != nil {
			return fmt.Errorf("enqueue notification email: %w", err)
		}
	}
	log.Info("notification created", "notification", id, "user", p.UserID, "mode", string(u.Mode), "new", created)
	return nil
}
