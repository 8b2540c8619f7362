package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

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

// Handler handles the emails queue. Each task works on its tenant's
// database, and its links point at its tenant's web app
// ([worker.TenantFrom]).
type Handler struct {
	Sender   Sender
	Renderer *Renderer
	// From is the sender address (EMAIL_FROM).
	From string
	// FromName is the sender's display name; default "TestPlanIt", as the
	// original's `"TestPlanIt" <EMAIL_FROM>`.
	FromName string
	// Clock dates the messages and the ledger. Default [worker.SystemClock].
	Clock worker.Clock
	// DeliveryRetention is how long the delivery ledger remembers a sent
	// email: longer than the emails queue keeps a task (30 days) plus its
	// retry window, so no task that could still run finds its row gone.
	// Default [DefaultDeliveryRetention]. Each worker prunes a tenant's
	// ledger at most once an hour.
	DeliveryRetention time.Duration

	pruneMu sync.Mutex
	pruned  map[string]time.Time // tenant -> last prune
}

// DefaultDeliveryRetention bounds worker.email_deliveries: 45 days.
const DefaultDeliveryRetention = 45 * 24 * time.Hour

// pruneEvery is the minimum interval between two prunes of a tenant's
// delivery ledger by one worker.
const pruneEvery = time.Hour

// prune deletes the tenant's ledger rows older than the retention, at most
// once per pruneEvery. A failure is logged, never the task's.
func (h *Handler) prune(ctx context.Context, st store, tenantID string) {
	now := h.now()
	h.pruneMu.Lock()
	if h.pruned == nil {
		h.pruned = map[string]time.Time{}
	}
	if last, ok := h.pruned[tenantID]; ok && now.Sub(last) < pruneEvery {
		h.pruneMu.Unlock()
		return
	}
	h.pruned[tenantID] = now
	h.pruneMu.Unlock()
	retention := h.DeliveryRetention
	if retention <= 0 {
		retention = DefaultDeliveryRetention
	}
	n, err := st.PruneDeliveries(ctx, now.Add(-retention))
	if err != nil {
		worker.LoggerFrom(ctx).Warn("prune the delivery ledger", "error", err.Error())
		return
	}
	if n > 0 {
		worker.LoggerFrom(ctx).Info("delivery ledger pruned", "rows", n, "older_than", now.Add(-retention).Format(time.RFC3339))
	}
}

// Register routes the email task types of mux to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeSendNotificationEmail, h.SendNotificationEmail)
	worker.Handle(mux, task.TypeSendDigestEmail, h.SendDigestEmail)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return worker.SystemClock{}.Now()
	}
	return h.Clock.Now()
}

// errNotFound is wrapped by the store's errors for a row that does not
// exist: the task names something that is not there, a permanent failure.
var errNotFound = errors.New("not found")

// recipient is a user with what decides whether they get email.
type recipient struct {
	Recipient
	Active, Deleted bool
}

// skipReason says why the user gets no email, or "".
func (u recipient) skipReason() string {
	switch {
	case u.Deleted:
		return "user is deleted"
	case !u.Active:
		return "user is inactive"
	case strings.TrimSpace(u.Email) == "":
		return "user has no email address"
	}
	return ""
}

// storedNotification is a "Notification" row with what decides whether it
// is emailed.
type storedNotification struct {
	Notification
	UserID        string
	Read, Deleted bool
}

// delivery is one email accepted by the SMTP server, as the ledger records
// it.
type delivery struct {
	Key, Kind, Recipient, MessageID string
	SentAt                          time.Time
	// NotificationIDs are the notifications a digest carried.
	NotificationIDs []string
}

// store is what the handlers need of the tenant's database: users,
// notifications and the delivery ledger (worker.email_deliveries), which
// remembers every email the SMTP server accepted so that a retried task
// never sends twice.
type store interface {
	// Recipient loads a user; an error wrapping errNotFound when there is
	// none.
	Recipient(ctx context.Context, userID string) (recipient, error)
	// Notifications loads the notifications of ids that exist, newest
	// first.
	Notifications(ctx context.Context, ids []string) ([]storedNotification, error)
	// MarkRead marks the unread notifications of ids that belong to
	// userID read at at.
	MarkRead(ctx context.Context, userID string, ids []string, at time.Time) error
	// Delivered reports whether the email key was sent, with the
	// notifications a digest carried.
	Delivered(ctx context.Context, key string) (sent bool, ids []string, err error)
	// RecordDelivery records d; recording a key twice is no error.
	RecordDelivery(ctx context.Context, d delivery) error
	// PruneDeliveries deletes the ledger rows sent before before and
	// returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// SendNotificationEmail handles emails:send-notification-email.
func (h *Handler) SendNotificationEmail(ctx context.Context, p task.SendNotificationEmail) error {
	tn := worker.TenantFrom(ctx)
	return h.sendNotification(ctx, newStore(tn.DB), tn, p)
}

func (h *Handler) sendNotification(ctx context.Context, st store, tn *tenant.Tenant, p task.SendNotificationEmail) error {
	log := worker.LoggerFrom(ctx)
	key := task.TenantKey(tn.ID, "notification:"+p.NotificationID)
	if sent, _, err := st.Delivered(ctx, key); err != nil {
		return err
	} else if sent {
		log.Info("email already sent; not sending again", "delivery", key)
		return nil
	}
	ns, err := st.Notifications(ctx, []string{p.NotificationID})
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		return worker.Permanent(fmt.Errorf("notification %s does not exist", p.NotificationID))
	}
	n := ns[0]
	if n.Deleted {
		log.Info("notification deleted; no email", "notification", n.ID)
		return nil
	}
	u, err := st.Recipient(ctx, n.UserID)
	if errors.Is(err, errNotFound) {
		return worker.Permanent(fmt.Errorf("user %s of notification %s does not exist", n.UserID, n.ID))
	}
	if err != nil {
		return err
	}
	if why := u.skipReason(); why != "" {
		log.Info("no email: "+why, "user", n.UserID, "notification", n.ID)
		return nil
	}
	r, err := h.Renderer.Notification(tn.BaseURL, u.Recipient, n.Notification, h.now())
	if err != nil {
		return worker.Permanent(err)
	}
	if err := h.send(ctx, st, tn.BaseURL, key, "notification", u.Recipient, r, nil); err != nil {
		return err
	}
	log.Info("notification email sent", "notification", n.ID, "user", n.UserID)
	return nil
}

// SendDigestEmail handles emails:send-digest-email: it sends the listed
// notifications that are still unread and not deleted, then marks exactly
// those read.
func (h *Handler) SendDigestEmail(ctx context.Context, p task.SendDigestEmail) error {
	tn := worker.TenantFrom(ctx)
	return h.sendDigest(ctx, newStore(tn.DB), tn, p)
}

func (h *Handler) sendDigest(ctx context.Context, st store, tn *tenant.Tenant, p task.SendDigestEmail) error {
	log := worker.LoggerFrom(ctx)
	ids := p.AllNotificationIDs()
	day := p.Day
	if day == "" {
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
		day = hex.EncodeToString(sum[:8])
	}
	key := task.TenantKey(tn.ID, "digest:"+p.UserID+":"+day)
	sent, sentIDs, err := st.Delivered(ctx, key)
	if err != nil {
		return err
	}
	if sent {
		// A retry after the send: finish marking read, never send again.
		if err := st.MarkRead(ctx, p.UserID, sentIDs, h.now()); err != nil {
			return err
		}
		log.Info("digest already sent; not sending again", "delivery", key)
		return nil
	}
	u, err := st.Recipient(ctx, p.UserID)
	if errors.Is(err, errNotFound) {
		return worker.Permanent(fmt.Errorf("user %s does not exist", p.UserID))
	}
	if err != nil {
		return err
	}
	if why := u.skipReason(); why != "" {
		log.Info("no digest: "+why, "user", p.UserID)
		return nil
	}
	stored, err := st.Notifications(ctx, ids)
	if err != nil {
		return err
	}
	var ns []Notification
	for _, n := range stored {
		if n.UserID == p.UserID && !n.Read && !n.Deleted {
			ns = append(ns, n.Notification)
		}
	}
	if len(ns) == 0 {
		log.Info("digest has nothing unread left; no email", "user", p.UserID)
		return nil
	}
	r, err := h.Renderer.Digest(tn.BaseURL, u.Recipient, ns, h.now())
	if err != nil {
		return worker.Permanent(err)
	}
	sentIDs = make([]string, len(ns))
	for i, n := range ns {
		sentIDs[i] = n.ID
	}
	if err := h.send(ctx, st, tn.BaseURL, key, "digest", u.Recipient, r, sentIDs); err != nil {
		return err
	}
	if err := st.MarkRead(ctx, p.UserID, sentIDs, h.now()); err != nil {
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
func (h *Handler) send(ctx context.Context, st store, baseURL, key, kind string, rc Recipient, r Rendered, ids []string) error {
	msgID := messageID(key, h.Renderer.BaseURL(baseURL))
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
	// The message is out: record it even if the task's context ends now (its
	// deadline, a shutdown), or the retry would send it again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := st.RecordDelivery(rctx, delivery{Key: key, Kind: kind, Recipient: rc.Email, MessageID: msgID, SentAt: h.now(), NotificationIDs: ids}); err != nil {
		return err
	}
	h.prune(rctx, st, worker.TenantFrom(ctx).ID)
	return nil
}

func (h *Handler) fromHeader() string {
	name := h.FromName
	if name == "" {
		name = "TestPlanIt"
	}
	return (&mail.Address{Name: name, Address: h.From}).String()
}

// messageID derives a stable Message-ID from the delivery key, at the host
// of the links' base URL.
func messageID(key, baseURL string) string {
	host := "tpi-workers.local"
	if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + "@" + host
}
