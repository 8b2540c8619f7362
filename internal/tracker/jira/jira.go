package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// Defaults and limits.
const (
	// DefaultTokenURL is Atlassian's OAuth 2.0 token endpoint.
	DefaultTokenURL = "https://auth.atlassian.com/oauth/token"
	// DefaultAPIBase is where OAuth 2.0 (3LO) API calls go.
	DefaultAPIBase = "https://api.atlassian.com"
	// BatchSize is the number of refs one search asks for.
	BatchSize = 50

	// fieldList is what the original adapter asked for.
	fieldList = "summary,description,status,priority,issuetype,assignee,reporter,labels,created,updated"
	// refreshMargin: an access token that expires within it is refreshed
	// before use.
	refreshMargin = 60 * time.Second
)

// Config configures a [Client]. Exactly one way to authenticate is set:
// Email and APIToken (Jira Cloud, Basic auth, REST v3),
// PersonalAccessToken (Jira Server / Data Center, Bearer, REST v2), or OAuth
// (Jira Cloud through api.atlassian.com, REST v3).
type Config struct {
	// BaseURL is the site (https://acme.atlassian.net) or the server
	// (https://jira.example.com/jira). Required, except with OAuth, where
	// it picks the site among the token's accessible resources and it
	// defaults to that site's URL. Issue URLs are <BaseURL>/browse/<key>.
	BaseURL string
	// Email and APIToken authenticate to Jira Cloud.
	Email, APIToken string
	// PersonalAccessToken authenticates to Jira Server / Data Center.
	PersonalAccessToken string
	// OAuth authenticates with an OAuth 2.0 (3LO) access token.
	OAuth *OAuth
	// HTTP sends the requests (budget, retries); nil means a
	// [tracker.HTTP] with its defaults. An empty Provider becomes "jira".
	HTTP *tracker.HTTP
}

// OAuth is an OAuth 2.0 (3LO) grant for Jira Cloud.
type OAuth struct {
	// AccessToken is the current access token; it may be empty when
	// RefreshToken is set.
	AccessToken string
	// RefreshToken gets a new access token when AccessToken expires or is
	// refused. Atlassian rotates it: each refresh returns a new one.
	RefreshToken string
	// ExpiresAt is when AccessToken expires; zero means unknown (it is then
	// refreshed only when refused).
	ExpiresAt time.Time
	// ClientID and ClientSecret are the OAuth app's; required to refresh.
	ClientID, ClientSecret string
	// TokenURL defaults to [DefaultTokenURL].
	TokenURL string
	// APIBase defaults to [DefaultAPIBase].
	APIBase string
	// CloudID is the Jira site's cloud id; empty means it is looked up in
	// the token's accessible resources.
	CloudID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRefresh is called with the new tokens after each refresh, so they
	// can be stored (encrypted). When it fails, Fetch fails and the next
	// call tries it again before anything else. With a Store, it is called
	// only for tokens the Store renewed but could not keep.
	OnRefresh func(ctx context.Context, t Token) error
	// Store, when set, runs every refresh, so that the processes sharing
	// the grant refresh it once between them: Atlassian rotates the
	// refresh token, and a second process refreshing with the one the
	// first just spent loses the grant (invalid_grant).
	Store TokenStore
}

// TokenStore keeps a grant's tokens where every process using the grant
// reads them.
type TokenStore interface {
	// Refresh replaces stale, the token a client holds and finds expired or
	// refused. Under a lock every process sharing the grant takes, it reads
	// the stored token: when it is no longer stale (another process
	// refreshed it), it returns it; otherwise it calls renew with the
	// stored token (its refresh token is the newest), stores the answer
	// and returns it. When renew succeeded but storing failed, it returns
	// the new token with the error, and the client hands that token to
	// OnRefresh until it is kept.
	Refresh(ctx context.Context, stale Token, renew func(context.Context, Token) (Token, error)) (Token, error)
}

// Token is the outcome of a refresh.
type Token struct {
	AccessToken, RefreshToken string
	// ExpiresAt is zero when the token endpoint named no lifetime.
	ExpiresAt time.Time
}

// Client fetches Jira issues. It implements [tracker.Client] and is safe for
// concurrent use.
type Client struct {
	http    *tracker.HTTP
	server  bool   // Server / Data Center: REST v2
	site    string // BaseURL without trailing slash
	auth    string // Authorization header, when it never changes
	oauth   *oauthState
	restAPI string // REST base without OAuth: <site>/rest/api/{2|3}
}

var _ tracker.Client = (*Client)(nil)

// New checks cfg and returns a client. Errors name the missing or wrong
// setting, never a secret.
func New(cfg Config) (*Client, error) {
	h := &tracker.HTTP{}
	if cfg.HTTP != nil {
		copied := *cfg.HTTP
		h = &copied
	}
	if h.Provider == "" {
		h.Provider = "jira"
	}
	c := &Client{http: h}

	modes := 0
	for _, set := range []bool{cfg.APIToken != "", cfg.PersonalAccessToken != "", cfg.OAuth != nil} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		return nil, errors.New("jira: no credentials: set Email and APIToken (Cloud), PersonalAccessToken (Server/Data Center) or OAuth")
	case modes > 1:
		return nil, errors.New("jira: set only one of APIToken, PersonalAccessToken and OAuth")
	}

	if cfg.BaseURL != "" || cfg.OAuth == nil {
		site, err := absoluteURL("BaseURL", cfg.BaseURL)
		if err != nil {
			return nil, err
		}
		c.site = site
	}

	switch {
	case cfg.APIToken != "":
		if strings.TrimSpace(cfg.Email) == "" {
			return nil, errors.New("jira: Email is required with APIToken")
		}
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Email+":"+cfg.APIToken))
		c.restAPI = c.site + "/rest/api/3"
	case cfg.PersonalAccessToken != "":
		c.server = true
		c.auth = "Bearer " + cfg.PersonalAccessToken
		c.restAPI = c.site + "/rest/api/2"
	default:
		o, err := newOAuthState(*cfg.OAuth, c.site)
		if err != nil {
			return nil, err
		}
		c.oauth = o
	}
	return c, nil
}

// BatchSize is the largest number of refs one Fetch takes.
func (c *Client) BatchSize() int { return BatchSize }

// absoluteURL checks an http(s) URL setting and drops its trailing slash.
func absoluteURL(setting, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("jira: %s is required", setting)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("jira: %s must be an absolute http(s) URL", setting)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("jira: %s must not hold user info, a query or a fragment", setting)
	}
	return strings.TrimRight(raw, "/"), nil
}

// endpoint is where REST calls go and the site issues link to.
type endpoint struct {
	api  string // .../rest/api/{2|3}
	site string // for /browse/ links; may be empty
}

func (c *Client) endpoint(ctx context.Context) (endpoint, error) {
	if c.oauth == nil {
		return endpoint{api: c.restAPI, site: c.site}, nil
	}
	cloudID, site, err := c.oauth.resource(ctx, c)
	if err != nil {
		return endpoint{}, err
	}
	return endpoint{api: c.oauth.apiBase + "/ex/jira/" + url.PathEscape(cloudID) + "/rest/api/3", site: site}, nil
}

// send sends one authenticated request to u. With OAuth, a 401 refreshes
// the token once and the request is sent once more.
func (c *Client) send(ctx context.Context, method, u string, body []byte) (*tracker.Response, error) {
	auth, err := c.authorization(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(ctx, newRequest(method, u, body, auth))
	if err == nil || c.oauth == nil || !errors.Is(err, tracker.ErrUnauthorized) {
		return resp, err
	}
	if err := c.oauth.refreshRefused(ctx, c.http, strings.TrimPrefix(auth, "Bearer ")); err != nil {
		return nil, err
	}
	if auth, err = c.authorization(ctx); err != nil {
		return nil, err
	}
	return c.http.Do(ctx, newRequest(method, u, body, auth))
}

func (c *Client) authorization(ctx context.Context) (string, error) {
	if c.oauth == nil {
		return c.auth, nil
	}
	tok, err := c.oauth.accessToken(ctx, c.http)
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

func newRequest(method, u string, body []byte, auth string) func(context.Context) (*http.Request, error) {
	return func(ctx context.Context) (*http.Request, error) {
		var r *bytes.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		var req *http.Request
		var err error
		if r != nil {
			req, err = http.NewRequestWithContext(ctx, method, u, r)
		} else {
			req, err = http.NewRequestWithContext(ctx, method, u, nil)
		}
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return req, nil
	}
}
