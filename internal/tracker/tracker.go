package tracker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Issue is a provider's issue normalized to the fields TestPlanIt keeps
// (the original's IssueData, reference section 7.2).
type Issue struct {
	// ID is the provider's stable id (Jira's numeric id, GitHub's issue
	// number, Azure DevOps' work item id, Linear's UUID).
	ID string
	// Key is the human key when the provider has one (PROJ-12,
	// owner/repo#12, ENG-7); empty otherwise.
	Key         string
	Title       string
	Description string // plain text (Jira's ADF and Azure's HTML flattened)
	Status      string
	Priority    string // empty: TestPlanIt stores "medium"
	Type        *IssueType
	Assignee    *Person
	Reporter    *Person
	Labels      []string
	// CustomFields becomes "Issue"."externalData"; GitHub keeps
	// _github_owner and _github_repo there, as the original.
	CustomFields map[string]any
	CreatedAt    time.Time
	UpdatedAt    time.Time
	URL          string
}

// IssueType is the issue's type as the provider names it.
type IssueType struct {
	ID      string
	Name    string
	IconURL string
}

// Person is an assignee or reporter.
type Person struct {
	ID    string
	Name  string
	Email string
}

// Result is the outcome for one requested reference.
type Result struct {
	// Ref is the reference as asked ("Issue"."externalId", or externalKey
	// or name when that is empty).
	Ref string
	// Issue is set on success.
	Issue *Issue
	// Err is set when this issue could not be fetched: [ErrNotFound] when
	// the provider no longer has it, a [*StatusError] for another refusal
	// of this issue alone.
	Err error
}

// Client fetches issues from one integration. Implementations are safe for
// concurrent use.
type Client interface {
	// Fetch returns one [Result] per ref, in the order of refs, fetching in
	// batches where the provider's API allows it. It returns an error
	// instead when the integration itself fails: credentials refused
	// ([ErrUnauthorized]), the provider unreachable, the rate budget
	// exhausted ([*RateLimitError]) or ctx done. len(refs) is at most
	// BatchSize().
	Fetch(ctx context.Context, refs []string) ([]Result, error)
	// BatchSize is the largest number of refs one Fetch call takes.
	BatchSize() int
}

// ErrUnauthorized means the provider refused the integration's credentials
// (401, or 403 that is not a rate limit): the integration is broken, and the
// task fails so it is retried and shows as failed.
var ErrUnauthorized = errors.New("tracker: credentials refused")

// ErrNotFound means the provider has no such issue (deleted, moved, or never
// existed).
var ErrNotFound = errors.New("tracker: issue not found")

// StatusError is an HTTP answer that is neither success nor retryable. It
// never holds request headers or credentials; Body is a short prefix of the
// provider's answer.
type StatusError struct {
	Provider string
	Status   int
	Body     string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%s: HTTP %d", e.Provider, e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Provider, e.Status, e.Body)
}

// RateLimitError means the provider (or our shared budget) kept answering
// "too many requests" after the retries: the task should be retried after
// RetryAfter without spending its failure budget.
type RateLimitError struct {
	Provider   string
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: rate limited (retry after %s): %v", e.Provider, e.RetryAfter.Round(time.Millisecond), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }
