package task

import (
	"encoding/json"

	"github.com/hibiken/asynq"
)

// NotificationType is the kind of an in-app notification: the PostgreSQL enum
// "NotificationType".
type NotificationType string

// The notification types.
const (
	NotificationTypeWorkAssigned         NotificationType = "WORK_ASSIGNED"
	NotificationTypeSessionAssigned      NotificationType = "SESSION_ASSIGNED"
	NotificationTypeSystemAnnouncement   NotificationType = "SYSTEM_ANNOUNCEMENT"
	NotificationTypeUserRegistered       NotificationType = "USER_REGISTERED"
	NotificationTypeCommentMention       NotificationType = "COMMENT_MENTION"
	NotificationTypeMilestoneDueReminder NotificationType = "MILESTONE_DUE_REMINDER"
	NotificationTypeShareLinkAccessed    NotificationType = "SHARE_LINK_ACCESSED"
)

// Valid reports whether t is one of the notification types.
func (t NotificationType) Valid() bool {
	switch t {
	case NotificationTypeWorkAssigned, NotificationTypeSessionAssigned,
		NotificationTypeSystemAnnouncement, NotificationTypeUserRegistered,
		NotificationTypeCommentMention, NotificationTypeMilestoneDueReminder,
		NotificationTypeShareLinkAccessed:
		return true
	}
	return false
}

// NotificationMode is a user's notification preference: the PostgreSQL enum
// "NotificationMode" ("UserPreferences"."notificationMode", and the global
// default in "AppConfig" 'notificationSettings').
type NotificationMode string

// The notification modes.
const (
	// NotificationModeNone: no in-app notification, no email.
	NotificationModeNone NotificationMode = "NONE"
	// NotificationModeInApp: in-app notification only.
	NotificationModeInApp NotificationMode = "IN_APP"
	// NotificationModeInAppEmailImmediate: in-app notification and an email
	// at once.
	NotificationModeInAppEmailImmediate NotificationMode = "IN_APP_EMAIL_IMMEDIATE"
	// NotificationModeInAppEmailDaily: in-app notification, and the unread
	// ones in the daily digest email.
	NotificationModeInAppEmailDaily NotificationMode = "IN_APP_EMAIL_DAILY"
	// NotificationModeUseGlobal: the global default mode applies.
	NotificationModeUseGlobal NotificationMode = "USE_GLOBAL"
)

// Valid reports whether m is one of the notification modes.
func (m NotificationMode) Valid() bool {
	switch m {
	case NotificationModeNone, NotificationModeInApp, NotificationModeInAppEmailImmediate,
		NotificationModeInAppEmailDaily, NotificationModeUseGlobal:
		return true
	}
	return false
}

// CreateNotification is the payload of [TypeCreateNotification]: create one
// in-app notification for a user and, depending on the user's mode, enqueue
// its email. The worker derives the notification's id from the task ID, so a
// retried task never creates a second notification.
type CreateNotification struct {
	// UserID is the recipient ("User".id). Required.
	UserID string `json:"userId"`
	// Type is the notification type. Required, one of the NotificationType
	// constants.
	Type NotificationType `json:"type"`
	// Title is required.
	Title string `json:"title"`
	// Message may be empty.
	Message string `json:"message"`
	// RelatedEntityID and RelatedEntityType name the entity the
	// notification is about, e.g. a milestone.
	RelatedEntityID   string `json:"relatedEntityId,omitempty"`
	RelatedEntityType string `json:"relatedEntityType,omitempty"`
	// Data holds type-specific details used for deep links and rendering
	// (reference-testplanit.md section 8.1). If present it must be a JSON
	// object; null reads as absent.
	Data json.RawMessage `json:"data,omitempty"`
	// TenantID is the producing instance's tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks userId, type, title and data.
func (p CreateNotification) Validate() error {
	var typeErr error
	switch {
	case p.Type == "":
		typeErr = invalid("type", "required")
	case !p.Type.Valid():
		typeErr = invalid("type", "unknown notification type %q", string(p.Type))
	}
	return firstError(
		required("userId", p.UserID),
		typeErr,
		required("title", p.Title),
		text("message", p.Message),
		text("relatedEntityId", p.RelatedEntityID),
		text("relatedEntityType", p.RelatedEntityType),
		jsonValue("data", p.Data, true),
		text("tenantId", p.TenantID),
	)
}

func (p *CreateNotification) normalize() {
	if isAbsent(p.Data) {
		p.Data = nil
	}
}

// NewCreateNotification returns a [TypeCreateNotification] task for p.
func NewCreateNotification(p CreateNotification, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeCreateNotification, p, opts)
}

// SendDailyDigest is the payload of [TypeSendDailyDigest], the scheduled sweep
// that sends each user whose mode is daily a digest of their unread
// notifications.
type SendDailyDigest struct {
	// TenantID is the tenant to sweep, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks tenantId.
func (p SendDailyDigest) Validate() error { return text("tenantId", p.TenantID) }

// NewSendDailyDigest returns a [TypeSendDailyDigest] task for p.
func NewSendDailyDigest(p SendDailyDigest, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeSendDailyDigest, p, opts)
}

// Tenant returns the payload's tenantId.
func (p CreateNotification) Tenant() string { return p.TenantID }

// Tenant returns the payload's tenantId.
func (p SendDailyDigest) Tenant() string { return p.TenantID }
