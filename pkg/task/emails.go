package task

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// SendNotificationEmail is the payload of [TypeSendNotificationEmail]: email
// one notification to its user at once.
type SendNotificationEmail struct {
	// NotificationID is the "Notification".id. Required.
	NotificationID string `json:"notificationId"`
	// UserID is the recipient. Required.
	UserID string `json:"userId"`
	// Immediate is always true from the original producer and never read.
	Immediate bool `json:"immediate,omitempty"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks notificationId and userId.
func (p SendNotificationEmail) Validate() error {
	return firstError(
		required("notificationId", p.NotificationID),
		required("userId", p.UserID),
		text("tenantId", p.TenantID),
	)
}

// TaskID returns "email:notification:<notificationId>", prefixed with
// "<tenantId>:" when a tenant is set: one email per notification.
func (p SendNotificationEmail) TaskID() string {
	return withTenant(p.TenantID, "email:notification:"+p.NotificationID)
}

// NewSendNotificationEmail returns a [TypeSendNotificationEmail] task for p,
// with the deterministic ID of [SendNotificationEmail.TaskID].
func NewSendNotificationEmail(p SendNotificationEmail, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeSendNotificationEmail, p, opts)
}

// DigestItem is one notification embedded in a [SendDigestEmail] payload, as
// the original producer sends it. The email worker reloads notifications by
// ID; the copies are informative.
type DigestItem struct {
	// ID is the "Notification".id. Required.
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"createdAt"`
	URL       string    `json:"url,omitempty"`
}

// SendDigestEmail is the payload of [TypeSendDigestEmail]: email a user the
// digest of the listed notifications, then mark them read.
//
// The notifications are named by NotificationIDs, by Notifications (the
// original shape), or both; [SendDigestEmail.AllNotificationIDs] merges them.
type SendDigestEmail struct {
	// UserID is the recipient. Required.
	UserID string `json:"userId"`
	// NotificationIDs lists "Notification".id values.
	NotificationIDs []string `json:"notificationIds,omitempty"`
	// Notifications lists notifications in the original's embedded shape.
	Notifications []DigestItem `json:"notifications,omitempty"`
	// Day is the user-local date the digest covers, "YYYY-MM-DD"; when set
	// the task gets a deterministic ID, one digest per user and day.
	Day string `json:"day,omitempty"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks userId, that at least one notification is named and that
// every id is set, and the format of day.
func (p SendDigestEmail) Validate() error {
	if err := required("userId", p.UserID); err != nil {
		return err
	}
	if len(p.NotificationIDs) == 0 && len(p.Notifications) == 0 {
		return invalid("notificationIds", "at least one notification is required (in notificationIds or notifications)")
	}
	for i, id := range p.NotificationIDs {
		if err := required(fmt.Sprintf("notificationIds[%d]", i), id); err != nil {
			return err
		}
	}
	for i, n := range p.Notifications {
		f := func(name string) string { return fmt.Sprintf("notifications[%d].%s", i, name) }
		if err := firstError(
			required(f("id"), n.ID),
			text(f("title"), n.Title),
			text(f("message"), n.Message),
			text(f("url"), n.URL),
		); err != nil {
			return err
		}
	}
	if p.Day != "" {
		if d, err := time.Parse(time.DateOnly, p.Day); err != nil || d.Format(time.DateOnly) != p.Day {
			return invalid("day", "must be a date as YYYY-MM-DD, got %q", p.Day)
		}
	}
	return text("tenantId", p.TenantID)
}

// AllNotificationIDs returns the ids of NotificationIDs then Notifications,
// each once, in that order.
func (p SendDigestEmail) AllNotificationIDs() []string {
	ids := make([]string, 0, len(p.NotificationIDs)+len(p.Notifications))
	seen := make(map[string]bool, cap(ids))
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, id := range p.NotificationIDs {
		add(id)
	}
	for _, n := range p.Notifications {
		add(n.ID)
	}
	return ids
}

// TaskID returns "digest:<userId>:<day>", prefixed with "<tenantId>:" when a
// tenant is set, or "" when Day is not set.
func (p SendDigestEmail) TaskID() string {
	if p.Day == "" {
		return ""
	}
	return withTenant(p.TenantID, "digest:"+p.UserID+":"+p.Day)
}

// NewSendDigestEmail returns a [TypeSendDigestEmail] task for p, with the
// deterministic ID of [SendDigestEmail.TaskID] when Day is set.
func NewSendDigestEmail(p SendDigestEmail, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeSendDigestEmail, p, opts)
}

// Tenant returns the payload's tenantId.
func (p SendNotificationEmail) Tenant() string { return p.TenantID }

// Tenant returns the payload's tenantId.
func (p SendDigestEmail) Tenant() string { return p.TenantID }
