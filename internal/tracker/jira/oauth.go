package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// oauthState holds an OAuth grant shared by concurrent Fetch calls: the
// token lock makes one caller refresh while the others wait for its result.
type oauthState struct {
	clientID, clientSecret string
	tokenURL, apiBase      string
	baseURL                string // Config.BaseURL, may be empty
	now                    func() time.Time
	onRefresh              func(context.Context, Token) error
	store                  TokenStore

	tokenLock chan struct{} // held while reading or refreshing tok
	tok       Token
	unsaved   bool // tok was refreshed but OnRefresh has not succeeded

	resLock  chan struct{} // held while looking up the cloud id
	cloudID  string
	site     string
	resolved bool // the accessible resources were read
}

func newOAuthState(o OAuth, baseURL string) (*oauthState, error) {
	if o.AccessToken == "" && o.RefreshToken == "" {
		return nil, errors.New("jira: OAuth.AccessToken or OAuth.RefreshToken is required")
	}
	if o.AccessToken == "" && (o.ClientID == "" || o.ClientSecret == "") {
		return nil, errors.New("jira: OAuth.ClientID and OAuth.ClientSecret are required to refresh a grant without an access token")
	}
	s := &oauthState{
		clientID:     o.ClientID,
		clientSecret: o.ClientSecret,
		tokenURL:     DefaultTokenURL,
		apiBase:      DefaultAPIBase,
		baseURL:      baseURL,
		now:          o.Now,
		onRefresh:    o.OnRefresh,
		store:        o.Store,
		tokenLock:    make(chan struct{}, 1),
		tok:          Token{AccessToken: o.AccessToken, RefreshToken: o.RefreshToken, ExpiresAt: o.ExpiresAt},
		resLock:      make(chan struct{}, 1),
		cloudID:      strings.TrimSpace(o.CloudID),
	}
	var err error
	if o.TokenURL != "" {
		if s.tokenURL, err = absoluteURL("OAuth.TokenURL", o.TokenURL); err != nil {
			return nil, err
		}
	}
	if o.APIBase != "" {
		if s.apiBase, err = absoluteURL("OAuth.APIBase", o.APIBase); err != nil {
			return nil, err
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cloudID != "" && baseURL != "" {
		s.site = baseURL
	}
	return s, nil
}

// lock takes l, or gives up when ctx is done.
func lock(ctx context.Context, l chan struct{}) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// accessToken returns a usable access token, refreshing it first when it
// expires within refreshMargin.
func (s *oauthState) accessToken(ctx context.Context, h *tracker.HTTP) (string, error) {
	if err := lock(ctx, s.tokenLock); err != nil {
		return "", err
	}
	defer func() { <-s.tokenLock }()
	if s.unsaved {
		if err := s.save(ctx); err != nil {
			return "", err
		}
	}
	expiring := !s.tok.ExpiresAt.IsZero() && !s.now().Add(refreshMargin).Before(s.tok.ExpiresAt)
	if s.tok.AccessToken == "" || expiring {
		if err := s.refresh(ctx, h); err != nil {
			return "", err
		}
	}
	return s.tok.AccessToken, nil
}

// refreshRefused refreshes after refused was answered 401, unless another
// caller already replaced it.
func (s *oauthState) refreshRefused(ctx context.Context, h *tracker.HTTP, refused string) error {
	if err := lock(ctx, s.tokenLock); err != nil {
		return err
	}
	defer func() { <-s.tokenLock }()
	if s.tok.AccessToken != refused {
		return nil
	}
	return s.refresh(ctx, h)
}

// tokenAnswer is Atlassian's token endpoint answer.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
}

// refresh replaces the held token (tokenLock held): through the Store when
// there is one, else at the token endpoint, then handed to OnRefresh.
func (s *oauthState) refresh(ctx context.Context, h *tracker.HTTP) error {
	if s.store == nil {
		t, err := s.renew(ctx, h, s.tok)
		if err != nil {
			return err
		}
		s.tok = t
		s.unsaved = s.onRefresh != nil
		return s.save(ctx)
	}
	t, err := s.store.Refresh(ctx, s.tok, func(ctx context.Context, cur Token) (Token, error) { return s.renew(ctx, h, cur) })
	if err != nil {
		if t.AccessToken != "" && t.AccessToken != s.tok.AccessToken {
			// Renewed but not stored: the old refresh token is spent, so
			// the new one must not be lost; OnRefresh keeps trying.
			s.tok = t
			s.unsaved = s.onRefresh != nil
		}
		return err
	}
	s.tok = t
	return nil
}

// renew exchanges cur's refresh token at the token endpoint.
func (s *oauthState) renew(ctx context.Context, h *tracker.HTTP, cur Token) (Token, error) {
	if cur.RefreshToken == "" || s.clientID == "" || s.clientSecret == "" {
		return Token{}, fmt.Errorf("%w (jira: the OAuth access token expired or was refused, and there is no refresh token or client credentials to renew it)", tracker.ErrUnauthorized)
	}
	body, err := json.Marshal(map[string]string{
		"grant_type":    "refresh_token",
		"client_id":     s.clientID,
		"client_secret": s.clientSecret,
		"refresh_token": cur.RefreshToken,
	})
	if err != nil {
		return Token{}, fmt.Errorf("jira: encoding the token refresh: %w", err)
	}
	resp, err := h.Do(ctx, newRequest(http.MethodPost, s.tokenURL, body, ""))
	if err != nil {
		// Atlassian answers invalid_grant (revoked or reused refresh
		// token) with 400 or 403: the grant is gone.
		if se, ok := errors.AsType[*tracker.StatusError](err); ok && se.Status >= 400 && se.Status < 500 {
			return Token{}, fmt.Errorf("%w (jira: refreshing the OAuth token: %v)", tracker.ErrUnauthorized, err)
		}
		return Token{}, fmt.Errorf("jira: refreshing the OAuth token: %w", err)
	}
	var a tokenAnswer
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.AccessToken == "" {
		return Token{}, errors.New("jira: refreshing the OAuth token: the answer holds no access_token")
	}
	t := Token{AccessToken: a.AccessToken, RefreshToken: cur.RefreshToken}
	if a.RefreshToken != "" {
		t.RefreshToken = a.RefreshToken
	}
	if a.ExpiresIn > 0 {
		t.ExpiresAt = s.now().Add(time.Duration(a.ExpiresIn) * time.Second)
	}
	return t, nil
}

// save hands refreshed tokens to OnRefresh (tokenLock held).
func (s *oauthState) save(ctx context.Context) error {
	if !s.unsaved {
		return nil
	}
	if err := s.onRefresh(ctx, s.tok); err != nil {
		return fmt.Errorf("jira: saving the refreshed OAuth token: %w", err)
	}
	s.unsaved = false
	return nil
}

// accessibleResource is one entry of /oauth/token/accessible-resources.
type accessibleResource struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// resource returns the cloud id and the site URL, looking them up once in
// the token's accessible resources when the config did not name both.
func (s *oauthState) resource(ctx context.Context, c *Client) (cloudID, site string, err error) {
	if err := lock(ctx, s.resLock); err != nil {
		return "", "", err
	}
	defer func() { <-s.resLock }()
	if s.cloudID != "" && (s.site != "" || s.resolved) {
		return s.cloudID, s.site, nil
	}
	resp, err := c.send(ctx, http.MethodGet, s.apiBase+"/oauth/token/accessible-resources", nil)
	if err != nil {
		return "", "", fmt.Errorf("jira: listing the OAuth token's sites: %w", err)
	}
	var list []accessibleResource
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return "", "", fmt.Errorf("jira: reading the OAuth token's sites: %w", err)
	}
	s.resolved = true
	r, ok := pickResource(list, s.cloudID, s.baseURL)
	switch {
	case s.cloudID != "":
		// The configured cloud id stands; the list only names its site.
		if ok && r.ID == s.cloudID {
			s.site = strings.TrimRight(r.URL, "/")
		}
	case !ok:
		return "", "", fmt.Errorf("%w (jira: the OAuth token grants access to no Jira site)", tracker.ErrUnauthorized)
	default:
		s.cloudID = r.ID
		s.site = s.baseURL
		if s.site == "" {
			s.site = strings.TrimRight(r.URL, "/")
		}
	}
	return s.cloudID, s.site, nil
}

// pickResource chooses the site: the one with the configured cloud id, else
// the one whose URL is baseURL, else the first.
func pickResource(list []accessibleResource, cloudID, baseURL string) (accessibleResource, bool) {
	var usable []accessibleResource
	for _, r := range list {
		if r.ID != "" {
			usable = append(usable, r)
		}
	}
	if len(usable) == 0 {
		return accessibleResource{}, false
	}
	for _, r := range usable {
		if cloudID != "" && r.ID == cloudID {
			return r, true
		}
	}
	norm := func(u string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(u), "/")) }
	for _, r := range usable {
		if baseURL != "" && norm(r.URL) == norm(baseURL) {
			return r, true
		}
	}
	return usable[0], true
}
