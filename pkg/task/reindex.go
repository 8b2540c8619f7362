package task

import (
	"strings"

	"github.com/hibiken/asynq"
)

// Reindex entity types, the Reindex.EntityType values.
const (
	EntityAll             = "all"
	EntityRepositoryCases = "repositoryCases"
	EntityTestRuns        = "testRuns"
	EntitySessions        = "sessions"
	EntitySharedSteps     = "sharedSteps"
	EntityIssues          = "issues"
	EntityMilestones      = "milestones"
	EntityProjects        = "projects"
)

// EntityTypes returns the entity types a [Reindex] accepts, EntityAll first.
// The slice is new on each call.
func EntityTypes() []string {
	return []string{
		EntityAll, EntityRepositoryCases, EntityTestRuns, EntitySessions,
		EntitySharedSteps, EntityIssues, EntityMilestones, EntityProjects,
	}
}

// Reindex is the payload of [TypeReindex]: rebuild search documents.
type Reindex struct {
	// EntityType is one of the Entity constants; empty means EntityAll.
	EntityType string `json:"entityType"`
	// ProjectID restricts the rebuild to one project ("Projects".id > 0).
	ProjectID *int `json:"projectId,omitempty"`
	// UserID is who asked for it; empty for the operator CLI or the system.
	UserID string `json:"userId"`
	// ImportJobID is set by the Testmo import worker after an import
	// ("TestmoImportJob".id); it makes the task ID deterministic.
	ImportJobID string `json:"importJobId,omitempty"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks entityType, projectId and the ids.
func (p Reindex) Validate() error {
	var entityErr error
	if p.EntityType != "" && !isEntityType(p.EntityType) {
		entityErr = invalid("entityType", "unknown entity type %q (want one of %s)", p.EntityType, strings.Join(EntityTypes(), ", "))
	}
	var projectErr error
	if p.ProjectID != nil && *p.ProjectID <= 0 {
		projectErr = invalid("projectId", "must be a positive integer, got %d", *p.ProjectID)
	}
	return firstError(
		entityErr,
		projectErr,
		text("userId", p.UserID),
		text("importJobId", p.ImportJobID),
		text("tenantId", p.TenantID),
	)
}

func isEntityType(s string) bool {
	for _, e := range EntityTypes() {
		if s == e {
			return true
		}
	}
	return false
}

// EffectiveEntityType returns EntityType, or EntityAll when it is empty.
func (p Reindex) EffectiveEntityType() string {
	if p.EntityType == "" {
		return EntityAll
	}
	return p.EntityType
}

// TaskID returns "reindex:after-import:<importJobId>", prefixed with
// "<tenantId>:" when a tenant is set, or "" when ImportJobID is not set: one
// post-import reindex per import.
func (p Reindex) TaskID() string {
	if p.ImportJobID == "" {
		return ""
	}
	return withTenant(p.TenantID, "reindex:after-import:"+p.ImportJobID)
}

// NewReindex returns a [TypeReindex] task for p, with the deterministic ID of
// [Reindex.TaskID] when ImportJobID is set.
func NewReindex(p Reindex, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeReindex, p, opts)
}

// Tenant returns the payload's tenantId.
func (p Reindex) Tenant() string { return p.TenantID }
