package issuesync

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/testplanit/tpi-workers/internal/config"
)

// Config is what the sync worker reads from its environment besides the
// runtime's variables; [LoadConfig] fills it.
type Config struct {
	// EncryptionKey is ENCRYPTION_KEY, TestPlanIt's secret for credentials
	// (required: the worker refuses to start without it, where the
	// original silently used a development key). Never logged.
	EncryptionKey string
	// Rates are the requests per second of each integration, per provider:
	// SYNC_RATE_JIRA, SYNC_RATE_GITHUB, SYNC_RATE_AZURE_DEVOPS,
	// SYNC_RATE_LINEAR (defaults [DefaultRates]; 0 means unpaced).
	Rates map[string]float64
	// BudgetWait is SYNC_RATE_MAX_WAIT, default DefaultBudgetWait: the
	// longest one request waits for its integration's budget before the
	// task is retried later, spending no attempt.
	BudgetWait time.Duration
	// HTTPTimeout bounds one provider request: SYNC_HTTP_TIMEOUT, default
	// 30s.
	HTTPTimeout time.Duration
	// PageSize is SYNC_PAGE_SIZE, the "Issue" rows read per page
	// (default DefaultPageSize).
	PageSize int
	// JiraOAuth is JIRA_CLIENT_ID and JIRA_CLIENT_SECRET (the original's
	// names), and JIRA_TOKEN_URL and JIRA_API_BASE (default Atlassian's).
	JiraOAuth JiraOAuthApp
	// LinearAPIURL is LINEAR_API_URL, default Linear's GraphQL endpoint.
	LinearAPIURL string
}

// JiraOAuthApp is the OAuth 2.0 app of Jira Cloud integrations.
type JiraOAuthApp struct {
	// ClientID and ClientSecret refresh the users' tokens when the
	// integration's credentials do not carry their own (clientId,
	// clientSecret).
	ClientID, ClientSecret string
	// TokenURL and APIBase default to Atlassian's; tests point them at a
	// fake.
	TokenURL, APIBase string
}

// RateVars maps each provider to the variable of its rate.
var RateVars = map[string]string{
	ProviderJira:        "SYNC_RATE_JIRA",
	ProviderGitHub:      "SYNC_RATE_GITHUB",
	ProviderAzureDevOps: "SYNC_RATE_AZURE_DEVOPS",
	ProviderLinear:      "SYNC_RATE_LINEAR",
}

// LoadConfig reads the sync worker's variables into a Config, recording
// errors in env (checked once by the caller with env.Err()).
func LoadConfig(env *config.Env) Config {
	c := Config{
		EncryptionKey: env.Required("ENCRYPTION_KEY"),
		Rates:         DefaultRates(),
		BudgetWait:    env.Duration("SYNC_RATE_MAX_WAIT", DefaultBudgetWait),
		HTTPTimeout:   env.Duration("SYNC_HTTP_TIMEOUT", 30*time.Second),
		PageSize:      env.Int("SYNC_PAGE_SIZE", DefaultPageSize, 1, 100_000),
		JiraOAuth: JiraOAuthApp{
			ClientID:     env.String("JIRA_CLIENT_ID", ""),
			ClientSecret: env.String("JIRA_CLIENT_SECRET", ""),
			TokenURL:     env.String("JIRA_TOKEN_URL", ""),
			APIBase:      env.String("JIRA_API_BASE", ""),
		},
		LinearAPIURL: env.String("LINEAR_API_URL", ""),
	}
	for _, provider := range slices.Sorted(maps.Keys(RateVars)) {
		name := RateVars[provider]
		raw := env.String(name, "")
		if raw == "" {
			continue
		}
		r, err := strconv.ParseFloat(raw, 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			env.Fail(name, "%q is not a number of requests per second (0 or more)", raw)
			continue
		}
		c.Rates[provider] = r
	}
	if c.BudgetWait <= 0 {
		env.Fail("SYNC_RATE_MAX_WAIT", "must be positive")
	}
	if c.HTTPTimeout <= 0 {
		env.Fail("SYNC_HTTP_TIMEOUT", "must be positive")
	}
	return c
}

// String describes c without the secrets, for the start log.
func (c Config) String() string {
	return fmt.Sprintf("rates/s jira=%g github=%g azure-devops=%g linear=%g, budget wait %s, jira oauth app %t",
		c.Rates[ProviderJira], c.Rates[ProviderGitHub], c.Rates[ProviderAzureDevOps], c.Rates[ProviderLinear],
		c.BudgetWait, c.JiraOAuth.ClientID != "")
}
