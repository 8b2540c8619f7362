package task

import "github.com/hibiken/asynq"

// Testmo import modes, the ProcessTestmoImport.Mode values.
const (
	// TestmoModeAnalyze stages the export and summarizes its datasets.
	TestmoModeAnalyze = "analyze"
	// TestmoModeImport imports the staged export with the saved mapping.
	TestmoModeImport = "import"
)

// ProcessTestmoImport is the payload of [TypeProcessTestmoImport]: analyze or
// import one uploaded Testmo export.
type ProcessTestmoImport struct {
	// JobID is the "TestmoImportJob".id. Required.
	JobID string `json:"jobId"`
	// Mode is TestmoModeAnalyze (the default when empty) or TestmoModeImport.
	Mode string `json:"mode,omitempty"`
	// TenantID is the tenant, if any.
	TenantID string `json:"tenantId,omitempty"`
}

// Validate checks jobId and mode.
func (p ProcessTestmoImport) Validate() error {
	var modeErr error
	switch p.Mode {
	case "", TestmoModeAnalyze, TestmoModeImport:
	default:
		modeErr = invalid("mode", "must be %q or %q, got %q", TestmoModeAnalyze, TestmoModeImport, p.Mode)
	}
	return firstError(
		required("jobId", p.JobID),
		modeErr,
		text("tenantId", p.TenantID),
	)
}

// EffectiveMode returns Mode, or TestmoModeAnalyze when it is empty.
func (p ProcessTestmoImport) EffectiveMode() string {
	if p.Mode == "" {
		return TestmoModeAnalyze
	}
	return p.Mode
}

// TaskID returns "testmo:<jobId>:<mode>" with the effective mode, prefixed
// with "<tenantId>:" when a tenant is set. While that task exists (queued,
// archived after a failure, or retained 30 days after success) the same job
// and mode cannot be enqueued again; a producer that really means to run it
// again (a resume) passes its own asynq.TaskID.
func (p ProcessTestmoImport) TaskID() string {
	return withTenant(p.TenantID, "testmo:"+p.JobID+":"+p.EffectiveMode())
}

// NewProcessTestmoImport returns a [TypeProcessTestmoImport] task for p, with
// the deterministic ID of [ProcessTestmoImport.TaskID].
func NewProcessTestmoImport(p ProcessTestmoImport, opts ...asynq.Option) (*asynq.Task, error) {
	return build(TypeProcessTestmoImport, p, opts)
}

// Tenant returns the payload's tenantId.
func (p ProcessTestmoImport) Tenant() string { return p.TenantID }
