package issuesync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Providers' "IntegrationProvider" values.
const (
	ProviderJira        = "JIRA"
	ProviderGitHub      = "GITHUB"
	ProviderAzureDevOps = "AZURE_DEVOPS"
	ProviderLinear      = "LINEAR"
	ProviderSimpleURL   = "SIMPLE_URL"
)

// DefaultRates are the request budgets per integration, in requests per
// second, when SYNC_RATE_<PROVIDER> is not set. They stay under what each
// provider allows one account, leaving room for TestPlanIt's web app, which
// calls the same APIs with the same credentials:
//
//   - Jira: 10/s. Atlassian meters Cloud by cost per hour and answers 429
//     with Retry-After beyond it; Server/Data Center has no limit by default.
//   - GitHub: 1/s. 5,000 requests an hour per token (1.39/s).
//   - Azure DevOps: 5/s. Azure meters TSTUs over 5-minute windows and delays,
//     then refuses, heavy users.
//   - Linear: 0.4/s. 1,500 requests an hour per API key or user (0.42/s).
func DefaultRates() map[string]float64 {
	return map[string]float64{
		ProviderJira:        10,
		ProviderGitHub:      1,
		ProviderAzureDevOps: 5,
		ProviderLinear:      0.4,
	}
}

// DefaultBudgetWait is the longest a request waits for the shared budget
// before the task is retried later instead (a [*tracker.RateLimitError]).
const DefaultBudgetWait = 30 * time.Second

// Budgets hands out the rate budget of each integration: one GCRA limiter
// (github.com/go-redis/redis_rate) per tenant and integration, kept in Valkey
// so that every sync-worker process shares it. Its key is
// "rate:[<tenant>:]issue-sync:budget:<integrationId>".
type Budgets struct {
	limiter *redis_rate.Limiter
	// Rates are the requests per second per provider; a provider missing
	// or at 0 is unpaced.
	rates map[string]float64
	// MaxWait bounds one request's wait; 0 means DefaultBudgetWait.
	MaxWait time.Duration
	// Sleep waits d or until ctx is done; nil means [tracker.Sleep].
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewBudgets returns the budgets kept in rdb, at rates requests per second
// per provider (see [DefaultRates]).
func NewBudgets(rdb redis.UniversalClient, rates map[string]float64) *Budgets {
	return &Budgets{limiter: redis_rate.NewLimiter(rdb), rates: rates}
}

// BudgetKey is the Valkey key (without redis_rate's "rate:" prefix) of an
// integration's budget.
func BudgetKey(tenantID string, integrationID int) string {
	return task.TenantKey(tenantID, fmt.Sprintf("issue-sync:budget:%d", integrationID))
}

// For returns the budget of the tenant's integration of provider, nil (no
// pacing) when the provider has no rate.
func (b *Budgets) For(tenantID string, integrationID int, provider string) tracker.Budget {
	if b == nil {
		return nil
	}
	rate := b.rates[provider]
	if rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return nil
	}
	return &budget{b: b, provider: provider, key: BudgetKey(tenantID, integrationID), limit: limitOf(rate)}
}

// limitOf is rate requests per second as a GCRA limit without burst: one
// request every 1/rate seconds, so that no second ever sees more than rate
// (plus the one at its edge).
func limitOf(rate float64) redis_rate.Limit {
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / rate)}
}

// errBudgetSpent is the cause of the RateLimitError of a request that
// would wait longer than MaxWait for the shared budget.
var errBudgetSpent = errors.New("the integration's shared request budget is spent")

type budget struct {
	b        *Budgets
	provider string
	key      string
	limit    redis_rate.Limit
}

// Wait takes one request from the budget, waiting for it up to MaxWait.
// Beyond that it returns a [*tracker.RateLimitError] naming the wait still
// needed; a Valkey failure is returned as is (transient).
func (w *budget) Wait(ctx context.Context) error {
	maxWait := w.b.MaxWait
	if maxWait <= 0 {
		maxWait = DefaultBudgetWait
	}
	sleep := w.b.Sleep
	if sleep == nil {
		sleep = tracker.Sleep
	}
	var waited time.Duration
	for {
		res, err := w.b.limiter.Allow(ctx, w.key, w.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("issuesync: rate budget %s: %w", w.key, err)
		}
		if res.Allowed > 0 {
			return nil
		}
		d := max(res.RetryAfter, time.Millisecond)
		if waited+d > maxWait {
			return &tracker.RateLimitError{Provider: w.provider, RetryAfter: d, Err: errBudgetSpent}
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
		waited += d
	}
}
