package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
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

// Message is one email handed to a [Sender].
type Message struct {
	From, To, Subject string
	// MessageID is deterministic per delivery, without angle brackets.
	MessageID string
	Headers   [][2]string
	Text      string
	HTML      string
	Date      time.Time
}

// Sender delivers a message. An error with a Permanent() bool method that
// reports true (a 5xx reply for this message) archives the task; any other
// error is retried.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Handler handles the emails queue.
type Handler struct {
	DB       DB
	Sender   Sender
	Renderer *Renderer
	// From is the sender address (EMAIL_FROM).
	From string
	// FromName is the sender's display name; default "TestPlanIt", as the
	// original's `"TestPlanIt" <EMAIL_FROM>`.
	FromName string
	Clock    worker.Clock
}

// Register routes the email task types of mux to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(task.TypeSendNotificationEmail, h.SendNotificationEmail)
	mux.HandleFunc(task.TypeSendDigestEmail, h.SendDigestEmail)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return time.Now()
	}
	return h.Clock.Now()
}

// recipientRow loads a user with their preferences.
const recipientSQL = `
SELECT u.id, u.name, u.email, u."isActive", u."isDeleted",
       coalesce(p.locale::text, 'en_US'), coalesce(p.timezone, 'Etc/UTC')
FROM "User" u LEFT JOIN "UserPreferences" p ON p."userId" = u.id
WHERE u.id = $1`

type userRow struct {
	rc              Recipient
	active, deleted bool
}

func scanUser(row pgx.Row) (userRow, error) {
	var u userRow
	var locale, tz string
	err := row.Scan(&u.rc.UserID, &u.rc.Name, &u.rc.Email, &u.active, &u.deleted, &locale, &tz)
	if err != nil {
		return u, err
	}
	u.rc.Locale = LocaleFromDB(locale)
	if loc, err := time.LoadLocation(tz); err == nil {
		u.rc.TimeZone = loc
	} else {
		u.rc.TimeZone = time.UTC
	}
	return u, nil
}

// skipReason says why a user gets no email, or "".
func (u userRow) skipReason() string {
	switch {
	case u.deleted:
		return "user is deleted"
	case !u.active:
		return "user is inactive"
	case strings.TrimSpace(u.rc.Email) == "":
		return "user has no email address"
	}
	return ""
}

// SendNotificationEmail handles emails:send-notification-email.
func (h *Handler) SendNotificationEmail(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.SendNotificationEmail](t)
	if err != nil {
		return err
	}
	log := worker.LoggerFrom(ctx)
	key := tenantKey(p.TenantID, "notification:"+p.NotificationID)
	if sent, _, err := h.delivered(ctx, key); err != nil {
		return err
	} else if sent {
		log.Info("email already sent; not sending again", "delivery", key)
		return nil
	}
	var n Notification
	var userID string
	var deleted bool
	err = h.DB.QueryRow(ctx, `
SELECT id, "userId", type::text, title, message, coalesce(data, 'null'::jsonb), "createdAt", "isDeleted"
FROM "Notification" WHERE id = $1`, p.NotificationID).Scan(&n.ID, &userID, &n.Type, &n.Title, &n.Message, &n.Data, &n.CreatedAt, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return worker.Permanent(fmt.Errorf("notification %s does not exist", p.NotificationID))
	}
	if err != nil {
		return fmt.Errorf("load notification %s: %w", p.NotificationID, err)
	}
	if deleted {
		log.Info("notification deleted; no email", "notification", n.ID)
		return nil
	}
	u, err := scanUser(h.DB.QueryRow(ctx, recipientSQL, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return worker.Permanent(fmt.Errorf("user %s of notification %s does not exist", userID, n.ID))
	}
	if err != nil {
		return fmt.Errorf("load user %s: %w", userID, err)
	}
	if why := u.skipReason(); why != "" {
		log.Info("no email: "+why, "user", userID, "notification", n.ID)
		return nil
	}
	r, err := h.Renderer.Notification(u.rc, n, h.now())
	if err != nil {
		return worker.Permanent(err)
	}
	if err := h.send(ctx, key, "notification", u.rc, r, nil); err != nil {
		return err
	}
	log.Info("notification email sent", "notification", n.ID, "user", userID)
	return nil
}

// SendDigestEmail handles emails:send-digest-email: it sends the listed
// notifications that are still unread and not deleted, then marks exactly
// those read.
func (h *Handler) SendDigestEmail(ctx context.Context, t *asynq.Task) error {
	p, err := task.Decode[task.SendDigestEmail](t)
	if err != nil {
		return err
	}
	log := worker.LoggerFrom(ctx)
	ids := p.AllNotificationIDs()
	key := tenantKey(p.TenantID, "digest:"+p.UserID+":"+p.Day)
	if p.Day == "" {
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
		key = tenantKey(p.TenantID, "digest:"+p.UserID+":"+hex.EncodeToString(sum[:8]))
	}
	sent, sentIDs, err := h.delivered(ctx, key)
	if err != nil {
		return err
	}
	if sent {
		// A retry after the send: finish marking read, never send again.
		if err := h.markRead(ctx, p.UserID, sentIDs); err != nil {
			return err
		}
		log.Info("digest already sent; not sending again", "delivery", key)
		return nil
	}
	u, err := scanUser(h.DB.QueryRow(ctx, recipientSQL, p.UserID))
	if errors.Is(err, pgx.ErrNoRows) {
		return worker.Permanent(fmt.Errorf("user %s does not exist", p.UserID))
	}
	if err != nil {
		return fmt.Errorf("load user %s: %w", p.UserID, err)
	}
	if why := u.skipReason(); why != "" {
		log.Info("no digest: "+why, "user", p.UserID)
		return nil
	}
	rows, err := h.DB.Query(ctx, `
SELECT id, type::text, title, message, coalesce(data, 'null'::jsonb), "createdAt"
FROM "Notification"
WHERE id = ANY($1) AND "userId" = $2 AND NOT "isRead" AND NOT "isDeleted"
ORDER BY "createdAt" DESC, id`, ids, p.UserID)
	if err != nil {
		return fmt.Errorf("load digest notifications: %w", err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Notification, error) {
		var n Notification
		err := r.Scan(&n.ID, &n.Type, &n.Title, &n.Message, &n.Data, &n.CreatedAt)
		return n, err
	})
	if err != nil {
		return fmt.Errorf("load digest notifications: %w", err)
	}
	if len(ns) == 0 {
		log.Info("digest has nothing unread left; no email", "user", p.UserID)
		return nil
	}
	r, err := h.Renderer.Digest(u.rc, ns, h.now())
	if err != nil {
		return worker.Permanent(err)
	}
	sentIDs = make([]string, len(ns))
	for i, n := range ns {
		sentIDs[i] = n.ID
	}
	if err := h.send(ctx, key, "digest", u.rc, r, sentIDs); err != nil {
		return err
	}
	if err := h.markRead(ctx, p.UserID, sentIDs); err != nil {
		return err
	}
	log.Info("digest email sent", "user", p.UserID, "notifications", len(sentIDs))
	return nil
}

// send delivers r and records the delivery. A failure to record after a
// successful send is retried by asynq; the retry then sends again, the one
// window the ledger cannot close (the SMTP server and PostgreSQL share no
// transaction). The deterministic Message-ID lets mail clients fold such a
// duplicate.
func (h *Handler) send(ctx context.Context, key, kind string, rc Recipient, r Rendered, ids []string) error {
	msgID := messageID(key, h.Renderer.AppURL())
	m := Message{
		From:      h.fromHeader(),
		To:        rc.Email,
		Subject:   r.Subject,
		MessageID: msgID,
		Headers: [][2]string{
			{"List-Unsubscribe", "<" + r.PreferencesURL + ">"},
			{"Auto-Submitted", "auto-generated"},
		},
		Text: r.Text,
		HTML: r.HTML,
		Date: h.now(),
	}
	if err := h.Sender.Send(ctx, m); err != nil {
		var pe interface{ Permanent() bool }
		if errors.As(err, &pe) && pe.Permanent() {
			return worker.Permanent(fmt.Errorf("send %s email to user %s: %w", kind, rc.UserID, err))
		}
		return fmt.Errorf("send %s email to user %s: %w", kind, rc.UserID, err)
	}
	var detail []byte
	if ids != nil {
		detail, _ = json.Marshal(map[string]any{"notificationIds": ids})
	}
	// The message is out: record it even if the task's context ends now (its
	// deadline, a shutdown), or the retry would send it again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := h.DB.Exec(rctx, `
INSERT INTO worker.email_deliveries (key, kind, recipient, message_id, sent_at, detail)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING`, key, kind, rc.Email, msgID, h.now(), detail)
	if err != nil {
		return fmt.Errorf("record delivery %s: %w", key, err)
	}
	return nil
}

func (h *Handler) fromHeader() string {
	name := h.FromName
	if name == "" {
		name = "TestPlanIt"
	}
	return (&mail.Address{Name: name, Address: h.From}).String()
}

// delivered reports whether key was already sent, with the notification ids
// a digest carried.
func (h *Handler) delivered(ctx context.Context, key string) (bool, []string, error) {
	var detail []byte
	err := h.DB.QueryRow(ctx, `SELECT detail FROM worker.email_deliveries WHERE key = $1`, key).Scan(&detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read delivery ledger: %w", err)
	}
	var d struct {
		NotificationIDs []string `json:"notificationIds"`
	}
	if len(detail) > 0 {
		_ = json.Unmarshal(detail, &d)
	}
	return true, d.NotificationIDs, nil
}

func (h *Handler) markRead(ctx context.Context, userID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := h.DB.Exec(ctx, `
UPDATE "Notification" SET "isRead" = true, "updatedAt" = $3
WHERE id = ANY($1) AND "userId" = $2 AND NOT "isRead"`, ids, userID, h.now().UTC())
	if err != nil {
		return fmt.Errorf("mark digest notifications read: %w", err)
	}
	return nil
}

func tenantKey(tenant, key string) string {
	if tenant == "" {
		return key
	}
	return tenant + ":" + key
}

// messageID derives a stable Message-ID from the delivery key.
func messageID(key, appURL string) string {
	host := "tpi-workers.local"
	if u, err := url.Parse(appURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + "@" + host
}
