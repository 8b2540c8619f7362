package issuesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// ClientSource gives the tracker client of a tenant's integration:
// [*Clients] in production.
type ClientSource interface {
	Get(ctx context.Context, tenantID string, in *Integration) (tracker.Client, error)
}

// IssueCache receives every fetched issue: [*Cache] in production.
type IssueCache interface {
	Put(ctx context.Context, tenantID string, integrationID int, issues []*tracker.Issue, now time.Time) error
}

// Defaults of [Handler].
const (
	// DefaultPageSize is the number of "Issue" rows read per keyset page.
	DefaultPageSize = 500
	// DefaultMaxErrors bounds the per-issue errors kept in a task's result.
	DefaultMaxErrors = 100
	// DefaultReindexWindow is how long an enqueued issues reindex absorbs
	// the identical ones that follow while it waits (asynq.Unique).
	DefaultReindexWindow = time.Hour
)

// Handler serves the issue-sync queue: [task.TypeSyncIssues],
// [task.TypeSyncProjectIssues] and [task.TypeRefreshIssue]. Register it with
// [Handler.Register]; each task runs on its tenant's database
// ([worker.TenantFrom]).
type Handler struct {
	// Clients gives each integration's tracker client. Required.
	Clients ClientSource
	// Cache receives the fetched issues; nil caches nothing.
	Cache IssueCache
	// Enqueuer receives the issues reindex tasks that follow a sync
	// ([worker.NewClient] in a worker, which checks their tenant); nil
	// enqueues none.
	Enqueuer task.Enqueuer
	// Clock defaults to [worker.SystemClock]; it stamps "lastSyncedAt",
	// "lastSyncAt" and the cache.
	Clock worker.Clock
	// PageSize is the number of "Issue" rows per keyset page; 0 means
	// DefaultPageSize.
	PageSize int
	// MaxErrors bounds the per-issue errors listed in a result; 0 means
	// DefaultMaxErrors.
	MaxErrors int
	// ReindexWindow is the asynq.Unique window of the reindex tasks; 0
	// means DefaultReindexWindow.
	ReindexWindow time.Duration
	// ProgressInterval is the least time between two progress documents;
	// 0 means a second.
	ProgressInterval time.Duration

	// results replaces worker.ResultWriterFrom in tests.
	results func(ctx context.Context) io.Writer
}

// Register routes the issue-sync task types to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeSyncIssues, h.SyncIssues)
	worker.Handle(mux, task.TypeSyncProjectIssues, h.SyncProjectIssues)
	worker.Handle(mux, task.TypeRefreshIssue, h.RefreshIssue)
}

// Result is the JSON result of a bulk sync task.
type Result struct {
	// Total is the number of the integration's (or project's) issues when
	// the sync started.
	Total int `json:"total"`
	// Synced counts the issues fetched and written.
	Synced int `json:"synced"`
	// Failed counts the issues that could not be fetched or written, the
	// not found ones excepted.
	Failed int `json:"failed"`
	// NotFound counts the issues the provider no longer has (deleted or
	// moved); their rows are left as they were.
	NotFound int `json:"notFound"`
	// Errors lists the first MaxErrors failed and not found issues.
	Errors []IssueError `json:"errors"`
	// ErrorsOmitted counts the failures beyond those listed.
	ErrorsOmitted int `json:"errorsOmitted,omitempty"`
	// Projects are the "Projects".id of the issues written (reindexed).
	Projects []int `json:"projects"`
}

// IssueError is the failure of one issue.
type IssueError struct {
	// IssueID is the "Issue".id.
	IssueID int `json:"issueId"`
	// ExternalID is the reference sent to the provider.
	ExternalID string `json:"externalId"`
	Error      string `json:"error"`
}

// RefreshResult is the JSON result of a refresh-issue task: the original's
// {success} plus the row written.
type RefreshResult struct {
	Success    bool   `json:"success"`
	IssueID    int    `json:"issueId"`
	ExternalID string `json:"externalId"`
	Projects   []int  `json:"projects"`
}

// Progress is the document a bulk sync publishes while it runs: the
// original's job.updateProgress fields (current, total, percentage,
// message), the counts so far, and when it was written.
type Progress struct {
	Current    int       `json:"current"`
	Total      int       `json:"total"`
	Percentage int       `json:"percentage"`
	Message    string    `json:"message"`
	Synced     int       `json:"synced"`
	Failed     int       `json:"failed"`
	NotFound   int       `json:"notFound"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Integration auth types ("IntegrationAuthType").
const (
	AuthNone                = "NONE"
	AuthOAuth2              = "OAUTH2"
	AuthPersonalAccessToken = "PERSONAL_ACCESS_TOKEN"
	AuthAPIKey              = "API_KEY"
)

// check refuses an integration that cannot be synced, as the original's
// performSync and getAdapter do; every refusal is permanent.
func (in *Integration) check() error {
	switch {
	case in.IsDeleted:
		return fmt.Errorf("issuesync: integration %d is deleted", in.ID)
	case in.Status != "ACTIVE":
		return fmt.Errorf("issuesync: integration %d is not active (status %s)", in.ID, in.Status)
	case in.Provider == ProviderSimpleURL:
		return fmt.Errorf("issuesync: integration %d (%s) does not support syncing issues", in.ID, in.Provider)
	}
	switch in.AuthType {
	case AuthOAuth2:
		if in.Auth == nil {
			return fmt.Errorf("issuesync: integration %d: user not authenticated for this integration (no active UserIntegrationAuth)", in.ID)
		}
	case AuthAPIKey, AuthPersonalAccessToken:
		if emptyJSON(in.Credentials) {
			return fmt.Errorf("issuesync: integration %d is missing credentials", in.ID)
		}
	case AuthNone:
	default:
		if in.Auth == nil && emptyJSON(in.Credentials) {
			return fmt.Errorf("issuesync: integration %d: no authentication credentials found", in.ID)
		}
	}
	return nil
}

func emptyJSON(b []byte) bool {
	var v any
	if len(b) == 0 || json.Unmarshal(b, &v) != nil || v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// open loads the task's integration and its client on the task's tenant.
func (h *Handler) open(ctx context.Context, p task.SyncJob) (*Store, *Integration, tracker.Client, error) {
	tn := worker.TenantFrom(ctx)
	if tn.DB == nil {
		return nil, nil, nil, worker.Permanent(fmt.Errorf("issuesync: tenant %q has no database", tn.ID))
	}
	st := NewStore(tn.DB)
	in, err := st.LoadIntegration(ctx, p.IntegrationID, p.UserID)
	if errors.Is(err, ErrIntegrationNotFound) {
		return nil, nil, nil, worker.Permanent(err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if err := in.check(); err != nil {
		return nil, nil, nil, worker.Permanent(err)
	}
	if h.Clients == nil {
		return nil, nil, nil, errors.New("issuesync: Handler.Clients is nil")
	}
	cl, err := h.Clients.Get(ctx, tn.ID, in)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, nil, nil, worker.Permanent(err)
		}
		return nil, nil, nil, fmt.Errorf("issuesync: integration %d (%s): %w", in.ID, in.Provider, err)
	}
	return st, in, cl, nil
}

// ErrUnsupported is wrapped by the error of an integration whose provider or
// auth type the worker cannot sync (SIMPLE_URL, an unknown provider, OAuth
// on a provider without it): a permanent failure.
var ErrUnsupported = errors.New("not supported for issue sync")

// integrationError classifies a failure of the integration itself (Fetch
// returned an error): a rate limit waits without spending an attempt
// ([worker.RateLimited]); refused credentials, an unreachable provider and
// the rest are transient, so the task is retried and shows as failed.
func integrationError(ctx context.Context, in *Integration, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rl, ok := errors.AsType[*tracker.RateLimitError](err); ok {
		return worker.RateLimited(fmt.Errorf("issuesync: integration %d (%s): %w", in.ID, in.Provider, err), rl.RetryAfter)
	}
	if errors.Is(err, tracker.ErrUnauthorized) {
		return fmt.Errorf("issuesync: integration %d (%s): the provider refused the credentials; fix them in TestPlanIt (the task is retried): %w", in.ID, in.Provider, err)
	}
	return fmt.Errorf("issuesync: integration %d (%s): %w", in.ID, in.Provider, err)
}

// resultWriter is where the task's progress and result go, nil outside a
// server.
func (h *Handler) resultWriter(ctx context.Context) io.Writer {
	if h.results != nil {
		return h.results(ctx)
	}
	return worker.ResultWriterFrom(ctx)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return worker.SystemClock{}.Now()
	}
	return h.Clock.Now().UTC()
}

// writeJSON stores v as the task's result when the task runs in a server.
func writeJSON(w io.Writer, v any) error {
	if w == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("issuesync: encoding the result: %w", err)
	}
	_, _ = w.Write(b) // a lost result is not worth a retry
	return nil
}
