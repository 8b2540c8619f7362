package task

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
)

// AuditAction is what an audit event records: the PostgreSQL enum
// "AuditAction" ("AuditLog".action).
type AuditAction string

// The audit actions, in the enum's order.
const (
	AuditCreate              AuditAction = "CREATE"
	AuditUpdate              AuditAction = "UPDATE"
	AuditDelete              AuditAction = "DELETE"
	AuditBulkCreate          AuditAction = "BULK_CREATE"
	AuditBulkUpdate          AuditAction = "BULK_UPDATE"
	AuditBulkDelete          AuditAction = "BULK_DELETE"
	AuditLogin               AuditAction = "LOGIN"
	AuditLogout              AuditAction = "LOGOUT"
	AuditLoginFailed         AuditAction = "LOGIN_FAILED"
	AuditSessionInvalidated  AuditAction = "SESSION_INVALIDATED"
	AuditPasswordChanged     AuditAction = "PASSWORD_CHANGED"
	AuditPasswordReset       AuditAction = "PASSWORD_RESET"
	AuditPermissionGrant     AuditAction = "PERMISSION_GRANT"
	AuditPermissionRevoke    AuditAction = "PERMISSION_REVOKE"
	AuditRoleChanged         AuditAction = "ROLE_CHANGED"
	AuditAPIKeyCreated       AuditAction = "API_KEY_CREATED"
	AuditAPIKeyDeleted       AuditAction = "API_KEY_DELETED"
	AuditAPIKeyRegenerated   AuditAction = "API_KEY_REGENERATED"
	AuditAPIKeyRevoked       AuditAction = "API_KEY_REVOKED"
	AuditDataExported        AuditAction = "DATA_EXPORTED"
	AuditSSOConfigChanged    AuditAction = "SSO_CONFIG_CHANGED"
	AuditSystemConfigChanged AuditAction = "SYSTEM_CONFIG_CHANGED"
	AuditShareLinkCreated    AuditAction = "SHARE_LINK_CREATED"
	AuditShareLinkAccessed   AuditAction = "SHARE_LINK_ACCESSED"
	AuditShareLinkRevoked    AuditAction = "SHARE_LINK_REVOKED"
)

// AuditActions returns the 25 audit actions in the enum's order. The slice is
// new on each call.
func AuditActions() []AuditAction {
	return []AuditAction{
		AuditCreate, AuditUpdate, AuditDelete, AuditBulkCreate, AuditBulkUpdate, AuditBulkDelete,
		AuditLogin, AuditLogout, AuditLoginFailed, AuditSessionInvalidated,
		AuditPasswordChanged, AuditPasswordReset, AuditPermissionGrant, AuditPermissionRevoke,
		AuditRoleChanged, AuditAPIKeyCreated, AuditAPIKeyDeleted, AuditAPIKeyRegenerated,
		AuditAPIKeyRevoked, AuditDataExported, AuditSSOConfigChanged, AuditSystemConfigChanged,
		AuditShareLinkCreated, AuditShareLinkAccessed, AuditShareLinkRevoked,
	}
}

// Valid reports whether a is one of the audit actions.
func (a AuditAction) Valid() bool { return slices.Contains(AuditActions(), a) }

// MaxEntityTypeLen is the length limit of AuditEvent.EntityType, in
// characters: "AuditLog"."entityType" is varchar(100).
const MaxEntityTypeLen = 100

// AuditLog is the payload of [TypeAuditEvent]: write one "AuditLog" row.
// Its JSON is the original's AuditLogJobData. The worker derives the row's
// id from the task ID, so a retried task never writes a second row.
type AuditLog struct {
	// Event is what happened. Required.
	Event AuditEvent `json:"event"`
	// Context is the request the event came from; the producer sends null
	// outside a request.
	Context *AuditContext `json:"context"`
	// QueuedAt is when the producer queued the event, an RFC 3339 string
	// (JavaScript's toISOString). Required. It is kept as sent and copied
	// into the row's metadata.
	QueuedAt string `json:"queuedAt"`
	// TenantID is the producing instance's tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// AuditEvent is the event part of an [AuditLog].
type AuditEvent struct {
	// Action is required, one of the AuditAction constants.
	Action AuditAction `json:"action"`
	// EntityType names the kind of entity, e.g. "RepositoryCases".
	// Required, at most [MaxEntityTypeLen] characters.
	EntityType string `json:"entityType"`
	// EntityID is the entity's id, as text. Required.
	EntityID string `json:"entityId"`
	// EntityName is a display name of the entity.
	EntityName string `json:"entityName,omitempty"`
	// Changes maps each changed field to {old, new}; sensitive values are
	// masked by the producer. If present it must be a JSON object; it is
	// stored as sent.
	Changes json.RawMessage `json:"changes,omitempty"`
	// ProjectID is the project the event belongs to ("Projects".id > 0).
	ProjectID *int `json:"projectId,omitempty"`
	// UserID, UserEmail and UserName name the actor; each one that is empty
	// is taken from the context.
	UserID    string `json:"userId,omitempty"`
	UserEmail string `json:"userEmail,omitempty"`
	UserName  string `json:"userName,omitempty"`
	// Metadata holds free-form details. If present it must be a JSON
	// object; the worker adds the request's details to it.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// AuditContext is the request part of an [AuditLog].
type AuditContext struct {
	IPAddress string `json:"ipAddress,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	UserID    string `json:"userId,omitempty"`
	UserEmail string `json:"userEmail,omitempty"`
	UserName  string `json:"userName,omitempty"`
}

// Validate checks the event (action, entityType, entityId, changes,
// metadata, projectId), queuedAt and the text fields.
func (p AuditLog) Validate() error {
	e := p.Event
	var actionErr error
	switch {
	case e.Action == "":
		actionErr = invalid("event.action", "required")
	case !e.Action.Valid():
		actionErr = invalid("event.action", "unknown audit action %q", string(e.Action))
	}
	var entityTypeErr error
	if n := utf8.RuneCountInString(e.EntityType); n > MaxEntityTypeLen {
		entityTypeErr = invalid("event.entityType", "at most %d characters, got %d", MaxEntityTypeLen, n)
	}
	var projectErr error
	if e.ProjectID != nil && *e.ProjectID <= 0 {
		projectErr = invalid("event.projectId", "must be a positive integer, got %d", *e.ProjectID)
	}
	var queuedErr error
	if strings.TrimSpace(p.QueuedAt) == "" {
		queuedErr = invalid("queuedAt", "required")
	} else if _, err := time.Parse(time.RFC3339Nano, p.QueuedAt); err != nil {
		queuedErr = invalid("queuedAt", "must be an RFC 3339 timestamp, got %q", p.QueuedAt)
	}
	c := p.Context
	if c == nil {
		c = &AuditContext{}
	}
	return firstError(
		actionErr,
		required("event.entityType", e.EntityType),
		entityTypeErr,
		required("event.entityId", e.EntityID),
		text("event.entityName", e.EntityName),
		jsonValue("event.changes", e.Changes, true),
		projectErr,
		text("event.userId", e.UserID),
		text("event.userEmail", e.UserEmail),
		text("event.userName", e.UserName),
		jsonValue("event.metadata", e.Metadata, true),
		text("context.ipAddress", c.IPAddress),
		text("context.userAgent", c.UserAgent),
		text("context.requestId", c.RequestID),
		text("context.userId", c.UserID),
		text("context.userEmail", c.UserEmail),
		text("context.userName", c.UserName),
		queuedErr,
		text("tenantId", p.TenantID),
	)
}

// normalize reads a null changes or metadata as absent.
func (p *AuditLog) normalize() {
	if isAbsent(p.Event.Changes) {
		p.Event.Changes = nil
	}
	if isAbsent(p.Event.Metadata) {
		p.Event.Metadata = nil
	}
}

// NewAuditEvent returns a [TypeAuditEvent] task for p. The task ID is
// asynq's random one unless opts set one: the worker derives the row id from
// it, so a producer that may enqueue the same event twice should pass a
// deterministic asynq.TaskID.
func NewAuditEvent(p AuditLog, opts ...asynq.Option) (*asynq.Task, error) {
	p.normalize()
	return build(TypeAuditEvent, p, opts)
}

// Tenant returns the payload's tenantId.
func (p AuditLog) Tenant() string { return p.TenantID }
