package task

import "github.com/hibiken/asynq"

// UpdateSingleCaseForecast is the payload of [TypeUpdateSingleCaseForecast]:
// recompute one repository case's forecast and the runs that contain it.
type UpdateSingleCaseForecast struct {
	// RepositoryCaseID is the "RepositoryCases".id, a positive JSON number
	// (the string "12" is rejected, as the original rejects it). Required.
	RepositoryCaseID int `json:"repositoryCaseId"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks repositoryCaseId.
func (p UpdateSingleCaseForecast) Validate() error {
	return firstError(
		positive("repositoryCaseId", p.RepositoryCaseID),
		text("tenantId", p.TenantID),
	)
}

// NewUpdateSingleCaseForecast returns a [TypeUpdateSingleCaseForecast] task for p.
func NewUpdateSingleCaseForecast(p UpdateSingleCaseForecast, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeUpdateSingleCaseForecast, p, opts)
}

// UpdateAllCasesForecast is the payload of [TypeUpdateAllCasesForecast], the
// nightly recomputation of every forecast.
type UpdateAllCasesForecast struct {
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks tenantId.
func (p UpdateAllCasesForecast) Validate() error { return text("tenantId", p.TenantID) }

// NewUpdateAllCasesForecast returns a [TypeUpdateAllCasesForecast] task for p.
func NewUpdateAllCasesForecast(p UpdateAllCasesForecast, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeUpdateAllCasesForecast, p, opts)
}

// AutoCompleteMilestones is the payload of [TypeAutoCompleteMilestones]:
// complete the due milestones that have automatic completion on.
type AutoCompleteMilestones struct {
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks tenantId.
func (p AutoCompleteMilestones) Validate() error { return text("tenantId", p.TenantID) }

// NewAutoCompleteMilestones returns a [TypeAutoCompleteMilestones] task for p.
func NewAutoCompleteMilestones(p AutoCompleteMilestones, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeAutoCompleteMilestones, p, opts)
}

// MilestoneDueNotifications is the payload of [TypeMilestoneDueNotifications]:
// remind the people working on due or overdue milestones.
type MilestoneDueNotifications struct {
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks tenantId.
func (p MilestoneDueNotifications) Validate() error { return text("tenantId", p.TenantID) }

// NewMilestoneDueNotifications returns a [TypeMilestoneDueNotifications] task for p.
func NewMilestoneDueNotifications(p MilestoneDueNotifications, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeMilestoneDueNotifications, p, opts)
}

// Tenant returns the payload's tenantId.
func (p UpdateSingleCaseForecast) Tenant() string { return p.TenantID }

// Tenant returns the payload's tenantId.
func (p UpdateAllCasesForecast) Tenant() string { return p.TenantID }

// Tenant returns the payload's tenantId.
func (p AutoCompleteMilestones) Tenant() string { return p.TenantID }

// Tenant returns the payload's tenantId.
func (p MilestoneDueNotifications) Tenant() string { return p.TenantID }
