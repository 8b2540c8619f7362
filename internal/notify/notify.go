package notify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// DB is what the handlers need of PostgreSQL (a *pgxpool.Pool).
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Enqueuer puts tasks in a queue (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Handler handles the notifications queue.
type Handler struct {
	DB    DB
	Queue Enqueuer
	// Clock stamps new notifications and decides which users' digests are
	// due. Default the system clock.
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
	mux.HandleFunc(task.TypeCreateNotification, h.CreateNotification)
	mux.HandleFunc(task.TypeSendDailyDigest, h.SendDailyDigest)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return time.Now()
	}
	return h.Clock.Now()
}

// EffectiveMode resolves a user's mode: USE_GLOBAL (or no preferences)
// becomes the global default of "AppConfig" 'notificationSettings', itself
// IN_APP when absent or invalid.
func EffectiveMode(userMode, globalDefault string) task.NotificationMode {
	m := task.NotificationMode(userMode)
	if m == "" || m == task.NotificationModeUseGlobal || !m.Valid() {
		g := task.NotificationMode(globalDefault)
		if !g.Valid() || g == task.NotificationModeUseGlobal {
			return task.NotificationModeInApp
		}
		return g
	}
	return m
}

// NotificationID derives the "Notification".id of a create-notification
// task from its queue and task ID: cuid-shaped (25 characters, 'c' then
// base 36), so a retried task (same ID) addresses the same row.
func NotificationID(queue, taskID string) string {
	sum := sha256.Sum256([]byte(queue + "\x00" + taskID))
	n := new(big.Int).SetBytes(sum[:])
	s := n.Text(36)
	for len(s) < 24 {
		s = "0" + s
	}
	return "c" + s[:24]
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s := new(big.Int).SetBytes(b).Text(36)
	for len(s) < 24 {
		s = "0" + s
	}
	return "c" + s[:24]
}

// CreateNotification handles notifications:create-notification.
func (h *Handler) CreateNotification(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.CreateNotification](t)
	if err != nil {
		return err
	}
	log := worker.LoggerFrom(ctx)
	var active, deleted bool
	var userMode, globalMode *string
	err = h.DB.QueryRow(ctx, `
SELECT u."isActive", u."isDeleted", p."notificationMode"::text,
       (SELECT value->>'defaultMode' FROM "AppConfig" WHERE key = 'notificationSettings')
FROM "User" u LEFT JOIN "UserPreferences" p ON p."userId" = u.id
WHERE u.id = $1`, p.UserID).Scan(&active, &deleted, &userMode, &globalMode)
	if errors.Is(err, pgx.ErrNoRows) {
		return worker.Permanent(fmt.Errorf("user %s does not exist", p.UserID))
	}
	if err != nil {
		return fmt.Errorf("load user %s: %w", p.UserID, err)
	}
	if deleted || !active {
		log.Info("user inactive or deleted; no notification", "user", p.UserID)
		return nil
	}
	mode := EffectiveMode(deref(userMode), deref(globalMode))
	if mode == task.NotificationModeNone {
		log.Info("notification mode NONE; nothing created", "user", p.UserID)
		return nil
	}
	id := randomID()
	if taskID, ok := asynq.GetTaskID(ctx); ok {
		id = NotificationID(task.QueueNotifications, taskID)
	}
	now := h.now()
	var data any
	if len(p.Data) > 0 {
		data = string(p.Data)
	}
	tag, err := h.DB.Exec(ctx, `
INSERT INTO "Notification" (id, "userId", type, title, message, data, "relatedEntityId", "relatedEntityType", "createdAt", "updatedAt")
VALUES ($1, $2, $3::"NotificationType", $4, $5, $6::jsonb, nullif($7, ''), nullif($8, ''), $9, $10)
ON CONFLICT (id) DO NOTHING`, id, p.UserID, string(p.Type), p.Title, p.Message, data,
		p.RelatedEntityID, p.RelatedEntityType, now, now.UTC())
	if err != nil {
		return fmt.Errorf("insert notification: %w", err)
	}
	if mode == task.NotificationModeInAppEmailImmediate {
		et, err := task.NewSendNotificationEmail(task.SendNotificationEmail{NotificationID: id, UserID: p.UserID, Immediate: true, TenantID: p.TenantID})
		if err != nil {
			return worker.Permanent(err)
		}
		if _, err := h.Queue.EnqueueContext(ctx, et); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue notification email: %w", err)
		}
	}
	log.Info("notification created", "notification", id, "user", p.UserID, "mode", string(mode), "new", tag.RowsAffected() == 1)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
