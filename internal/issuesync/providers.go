package issuesync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/encryption"
	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/tracker/azure"
	"github.com/testplanit/tpi-workers/internal/tracker/github"
	"github.com/testplanit/tpi-workers/internal/tracker/jira"
	"github.com/testplanit/tpi-workers/internal/tracker/linear"
	"github.com/testplanit/tpi-workers/internal/worker"
)

// Providers makes the tracker client of an integration row: the provider
// and auth type pick the client, the credentials (decrypted from the
// original's format) and settings configure it, and every client sends its
// requests through a [tracker.HTTP] paced by the integration's shared
// [Budgets]. Its Build method is the [BuildFunc] of [Clients].
type Providers struct {
	// Key decrypts "Integration".credentials and the OAuth tokens, and
	// encrypts refreshed tokens. Required.
	Key *encryption.Key
	// Budgets paces each integration's requests; nil means unpaced.
	Budgets *Budgets
	// HTTPClient sends every provider request; nil means a client with
	// tracker.DefaultTimeout.
	HTTPClient *http.Client
	// Attempts, BaseDelay and MaxWait shape the retries of 429 and 5xx
	// answers (see [tracker.HTTP]); zero means tracker's defaults.
	Attempts  int
	BaseDelay time.Duration
	MaxWait   time.Duration
	// JiraOAuth is the Atlassian OAuth app that refreshes Jira tokens
	// (JIRA_CLIENT_ID, JIRA_CLIENT_SECRET), used when the integration's
	// credentials do not name their own clientId and clientSecret.
	JiraOAuth JiraOAuthApp
	// LinearAPIURL overrides Linear's GraphQL endpoint for every Linear
	// integration (tests); an integration's settings.apiUrl wins.
	LinearAPIURL string
	// Clock stamps refreshed tokens' "updatedAt"; nil means the wall clock.
	Clock worker.Clock
}

// credentials are the decrypted "Integration".credentials fields the
// providers use (the original's names).
type credentials struct {
	Email               string `json:"email"`
	APIToken            string `json:"apiToken"`
	PersonalAccessToken string `json:"personalAccessToken"`
	APIKey              string `json:"apiKey"`
	ClientID            string `json:"clientId"`
	ClientSecret        string `json:"clientSecret"`
}

// settings are the "Integration".settings fields the providers use.
type settings struct {
	BaseURL         string `json:"baseUrl"`
	OrganizationURL string `json:"organizationUrl"`
	Project         string `json:"project"`
	Owner           string `json:"owner"`
	Repo            string `json:"repo"`
	// Repository is GitHub's "owner/repo", as the original's settings.
	Repository string `json:"repository"`
	CloudID    string `json:"cloudId"`
	APIURL     string `json:"apiUrl"`
}

// Build makes the client of the tenant's integration in. Errors never hold
// a credential; an unsupported provider or auth type wraps [ErrUnsupported].
func (p *Providers) Build(_ context.Context, tenantID string, in *Integration) (tracker.Client, error) {
	if p.Key == nil {
		return nil, errors.New("issuesync: Providers.Key is nil (ENCRYPTION_KEY)")
	}
	var set settings
	if len(in.Settings) > 0 && string(in.Settings) != "null" {
		if err := json.Unmarshal(in.Settings, &set); err != nil {
			return nil, fmt.Errorf("settings are not a JSON object of strings: %w", errNoValue(err))
		}
	}
	var cred credentials
	if in.AuthType != AuthNone && !emptyJSON(in.Credentials) {
		obj, err := encryption.DecodeCredentials(p.Key, in.Credentials)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		b, _ := json.Marshal(obj) // a map from JSON encodes again
		if err := json.Unmarshal(b, &cred); err != nil {
			return nil, fmt.Errorf("credentials: a field is not a string: %w", errNoValue(err))
		}
	}
	h := &tracker.HTTP{
		Provider:  providerName(in.Provider),
		Client:    p.HTTPClient,
		Budget:    p.Budgets.For(tenantID, in.ID, in.Provider),
		Attempts:  p.Attempts,
		BaseDelay: p.BaseDelay,
		MaxWait:   p.MaxWait,
	}
	switch in.Provider {
	case ProviderJira:
		return p.jira(in, cred, set, h)
	case ProviderGitHub:
		if in.AuthType == AuthOAuth2 {
			return nil, fmt.Errorf("github with OAuth 2.0: %w (use a personal access token)", ErrUnsupported)
		}
		owner, repo := set.Owner, set.Repo
		if r := strings.TrimSpace(set.Repository); r != "" && (owner == "" || repo == "") {
			owner, repo, _ = strings.Cut(r, "/")
		}
		return client(github.New(github.Config{BaseURL: set.BaseURL, Token: cmp.Or(cred.PersonalAccessToken, cred.APIToken, cred.APIKey),
			Owner: owner, Repo: repo, HTTP: h}))
	case ProviderAzureDevOps:
		if in.AuthType == AuthOAuth2 {
			return nil, fmt.Errorf("azure devops with OAuth 2.0: %w (use a personal access token)", ErrUnsupported)
		}
		return client(azure.New(azure.Config{OrganizationURL: cmp.Or(set.OrganizationURL, set.BaseURL), Project: set.Project,
			PAT: cmp.Or(cred.PersonalAccessToken, cred.APIToken, cred.APIKey), HTTP: h}))
	case ProviderLinear:
		cfg := linear.Config{APIURL: cmp.Or(set.APIURL, p.LinearAPIURL), HTTP: h}
		if in.AuthType == AuthOAuth2 {
			tok, err := p.decryptToken(in)
			if err != nil {
				return nil, err
			}
			cfg.OAuthToken = tok
		} else {
			cfg.APIKey = cmp.Or(cred.APIKey, cred.APIToken, cred.PersonalAccessToken)
		}
		return client(linear.New(cfg))
	default:
		return nil, fmt.Errorf("provider %s: %w", in.Provider, ErrUnsupported)
	}
}

// jira makes a Jira client: API token (Cloud), personal access token
// (Server / Data Center) or OAuth 2.0 (Cloud), whose refreshed tokens are
// written back, encrypted, into the user's auth row.
func (p *Providers) jira(in *Integration, cred credentials, set settings, h *tracker.HTTP) (tracker.Client, error) {
	cfg := jira.Config{BaseURL: set.BaseURL, HTTP: h}
	switch in.AuthType {
	case AuthOAuth2:
		if in.Auth == nil {
			return nil, errors.New("no active UserIntegrationAuth for the user")
		}
		tok, err := p.decryptTokens(StoredTokens{Access: in.Auth.AccessToken, Refresh: in.Auth.RefreshToken, ExpiresAt: in.Auth.TokenExpiresAt})
		if err != nil {
			return nil, err
		}
		var additional struct {
			CloudID string `json:"cloudId"`
		}
		if len(in.Auth.AdditionalData) > 0 {
			_ = json.Unmarshal(in.Auth.AdditionalData, &additional) // optional
		}
		o := &jira.OAuth{
			AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: tok.ExpiresAt,
			ClientID:     cmp.Or(cred.ClientID, p.JiraOAuth.ClientID),
			ClientSecret: cmp.Or(cred.ClientSecret, p.JiraOAuth.ClientSecret),
			TokenURL:     p.JiraOAuth.TokenURL, APIBase: p.JiraOAuth.APIBase,
			CloudID:   cmp.Or(additional.CloudID, set.CloudID),
			OnRefresh: p.saveTokens(in.Auth.ID),
			Store:     tokenStore{p, in.Auth.ID},
		}
		cfg.OAuth = o
	case AuthPersonalAccessToken:
		cfg.PersonalAccessToken = cmp.Or(cred.PersonalAccessToken, cred.APIToken)
	default:
		if cred.APIToken == "" && cred.PersonalAccessToken != "" {
			// A Server / Data Center token saved under API_KEY.
			cfg.PersonalAccessToken = cred.PersonalAccessToken
		} else {
			cfg.Email, cfg.APIToken = cred.Email, cred.APIToken
		}
	}
	return client(jira.New(cfg))
}

// saveTokens returns the OnRefresh of a Jira OAuth grant: tokens the
// Store renewed but could not keep go into auth row authID of the database
// of the tenant whose task triggered the refresh, encrypted in the
// original's format.
func (p *Providers) saveTokens(authID string) func(ctx context.Context, t jira.Token) error {
	return func(ctx context.Context, t jira.Token) error {
		tn := worker.TenantFrom(ctx)
		if tn.DB == nil {
			return fmt.Errorf("issuesync: saving refreshed tokens: tenant %q has no database", tn.ID)
		}
		row, err := p.encryptTokens(t)
		if err != nil {
			return err
		}
		return NewStore(tn.DB).SaveTokens(ctx, authID, row.Access, row.Refresh, row.ExpiresAt, p.now())
	}
}

// tokenStore refreshes a Jira OAuth grant once for all the processes using
// it: under the auth row's lock, in the database of the tenant whose task
// asks. Atlassian rotates refresh tokens, so two sync-worker replicas (or a
// replica and TestPlanIt's app) refreshing with the same one would lose the
// grant to invalid_grant.
type tokenStore struct {
	p      *Providers
	authID string
}

func (s tokenStore) Refresh(ctx context.Context, stale jira.Token, renew func(context.Context, jira.Token) (jira.Token, error)) (jira.Token, error) {
	tn := worker.TenantFrom(ctx)
	if tn.DB == nil {
		return jira.Token{}, fmt.Errorf("issuesync: refreshing tokens: tenant %q has no database", tn.ID)
	}
	var out jira.Token
	err := NewStore(tn.DB).UpdateTokensLocked(ctx, s.authID, s.p.now, func(row StoredTokens) (StoredTokens, bool, error) {
		cur, err := s.p.decryptTokens(row)
		if err != nil {
			return row, false, err
		}
		if cur.AccessToken != stale.AccessToken {
			out = cur // refreshed by another process since this one read it
			return row, false, nil
		}
		if out, err = renew(ctx, cur); err != nil {
			return row, false, err
		}
		next, err := s.p.encryptTokens(out)
		return next, true, err
	})
	return out, err
}

// decryptTokens decrypts an auth row's tokens.
func (p *Providers) decryptTokens(row StoredTokens) (jira.Token, error) {
	var t jira.Token
	var err error
	if t.AccessToken, err = p.Key.DecryptString(row.Access); err != nil {
		return t, fmt.Errorf("UserIntegrationAuth.accessToken: %w", err)
	}
	if row.Refresh != "" {
		if t.RefreshToken, err = p.Key.DecryptString(row.Refresh); err != nil {
			return t, fmt.Errorf("UserIntegrationAuth.refreshToken: %w", err)
		}
	}
	if row.ExpiresAt != nil {
		t.ExpiresAt = *row.ExpiresAt
	}
	return t, nil
}

// encryptTokens encrypts tokens in the original's format.
func (p *Providers) encryptTokens(t jira.Token) (StoredTokens, error) {
	var row StoredTokens
	var err error
	if row.Access, err = p.Key.Encrypt([]byte(t.AccessToken)); err != nil {
		return row, err
	}
	if t.RefreshToken != "" {
		if row.Refresh, err = p.Key.Encrypt([]byte(t.RefreshToken)); err != nil {
			return row, err
		}
	}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt.UTC()
		row.ExpiresAt = &e
	}
	return row, nil
}

// now is the clock that stamps "updatedAt".
func (p *Providers) now() time.Time {
	if p.Clock != nil {
		return p.Clock.Now().UTC()
	}
	return time.Now().UTC()
}

// decryptToken is the user's decrypted OAuth access token.
func (p *Providers) decryptToken(in *Integration) (string, error) {
	if in.Auth == nil {
		return "", errors.New("no active UserIntegrationAuth for the user")
	}
	tok, err := p.Key.DecryptString(in.Auth.AccessToken)
	if err != nil {
		return "", fmt.Errorf("UserIntegrationAuth.accessToken: %w", err)
	}
	return tok, nil
}

// client returns c as a tracker.Client, nil when err is set (never an
// interface holding a nil pointer).
func client[C tracker.Client](c C, err error) (tracker.Client, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

// providerName is the lower-case name of a provider in errors and logs.
func providerName(provider string) string {
	switch provider {
	case ProviderAzureDevOps:
		return "azure-devops"
	default:
		return strings.ToLower(provider)
	}
}

// errNoValue keeps the type of a JSON decoding error but not the input it
// quotes (settings and credentials may hold secrets).
func errNoValue(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Errorf("field %q has type %s", te.Field, te.Value)
	}
	return errors.New("malformed JSON")
}
