package task

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Sync actions, the SyncJob.Action values. The task type decides what a
// worker does; the action is kept for compatibility with the original
// payload.
const (
	SyncActionSync    = "sync"
	SyncActionCreate  = "create"
	SyncActionUpdate  = "update"
	SyncActionRefresh = "refresh"
)

// SyncJob is the payload of the issue-sync types: [TypeSyncIssues] (sync an
// integration's issues), [TypeSyncProjectIssues] (those of one project) and
// [TypeRefreshIssue] (refresh one issue).
type SyncJob struct {
	// UserID is the user on whose behalf the provider is called. Required.
	UserID string `json:"userId"`
	// IntegrationID is the "Integration".id. Required, positive.
	IntegrationID int `json:"integrationId"`
	// ProjectID is a "Projects".id as a numeric string. Required for
	// TypeSyncProjectIssues.
	ProjectID string `json:"projectId,omitempty"`
	// IssueID is the provider's issue id or key. Required for
	// TypeRefreshIssue.
	IssueID string `json:"issueId,omitempty"`
	// Action is one of the SyncAction constants, or empty. The typed
	// constructors fill it in from the task type when empty.
	Action string `json:"action"`
	// Data carries sync options ({forceRefresh, includeMetadata, limit}) or
	// issue data. Any JSON; null reads as absent.
	Data json.RawMessage `json:"data,omitempty"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks the rules common to the three types: userId, integrationId,
// projectId when set, action, data. [Decode], [New] and the constructors call
// [SyncJob.ValidateFor], which adds the type's own rules.
func (p SyncJob) Validate() error {
	var projectErr error
	if p.ProjectID != "" {
		if _, ok := p.ProjectIDInt(); !ok {
			projectErr = invalid("projectId", "must be a numeric string (a positive integer), got %q", p.ProjectID)
		}
	}
	var actionErr error
	switch p.Action {
	case "", SyncActionSync, SyncActionCreate, SyncActionUpdate, SyncActionRefresh:
	default:
		actionErr = invalid("action", "must be one of sync, create, update, refresh; got %q", p.Action)
	}
	return firstError(
		required("userId", p.UserID),
		positive("integrationId", p.IntegrationID),
		projectErr,
		text("issueId", p.IssueID),
		actionErr,
		jsonValue("data", p.Data, false),
		text("tenantId", p.TenantID),
	)
}

// ValidateFor runs [SyncJob.Validate] and the rules of taskType:
// TypeSyncProjectIssues needs projectId, TypeRefreshIssue needs issueId.
func (p SyncJob) ValidateFor(taskType string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch taskType {
	case TypeSyncProjectIssues:
		if p.ProjectID == "" {
			return invalid("projectId", "required for %s", TypeSyncProjectIssues)
		}
	case TypeRefreshIssue:
		if strings.TrimSpace(p.IssueID) == "" {
			return invalid("issueId", "required for %s", TypeRefreshIssue)
		}
	}
	return nil
}

// ProjectIDInt returns ProjectID as a number, and false when it is empty or
// not a positive integer.
func (p SyncJob) ProjectIDInt() (int, bool) {
	n, err := strconv.Atoi(p.ProjectID)
	if err != nil || n <= 0 || strconv.Itoa(n) != p.ProjectID {
		return 0, false
	}
	return n, true
}

func (p *SyncJob) normalize() {
	if isAbsent(p.Data) {
		p.Data = nil
	}
}

// NewSyncIssues returns a [TypeSyncIssues] task for p; an empty Action
// becomes "sync".
func NewSyncIssues(p SyncJob, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeSyncIssues, p.withAction(SyncActionSync), opts)
}

// NewSyncProjectIssues returns a [TypeSyncProjectIssues] task for p; an empty
// Action becomes "sync".
func NewSyncProjectIssues(p SyncJob, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeSyncProjectIssues, p.withAction(SyncActionSync), opts)
}

// NewRefreshIssue returns a [TypeRefreshIssue] task for p; an empty Action
// becomes "refresh".
func NewRefreshIssue(p SyncJob, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeRefreshIssue, p.withAction(SyncActionRefresh), opts)
}

func (p SyncJob) withAction(a string) SyncJob {
	if p.Action == "" {
		p.Action = a
	}
	return p
}

// Tenant returns the payload's tenantId.
func (p SyncJob) Tenant() string { return p.TenantID }
