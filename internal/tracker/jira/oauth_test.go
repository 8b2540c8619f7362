package jira_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/tracker/jira"
)

const (
	cloudID      = "11223344-a1b2-3b33-c444-def123456789"
	otherCloudID = "1324a887-45db-1bf4-1e99-ef0ff456d421"
	newAccess    = "eyJraWQiOiJmZTM2ZThkMzZjMTA2N2RjYTgyNTg5MmEiLCJhbGciOiJSUzI1NiJ9.new-access"
	newRefresh   = "eyJraWQiOiI1MWE2YjE2MjRlMTQ5ZDFiYTdhM2VmZjciLCJhbGciOiJIUzI1NiJ9.new-refresh"
)

// oauthFake is a fake serving both auth.atlassian.com (token) and
// api.atlassian.com (accessible resources, /ex/jira/<cloudId>/...), which
// accepts only the Bearer tokens in valid.
func oauthFake(t *testing.T, n int, valid ...string) *fakeJira {
	t.Helper()
	f := newFakeJira(t, n)
	f.prefix = "/ex/jira/" + cloudID
	f.resources = string(fixture(t, "accessible_resources.json"))
	f.tokenAnswers = []scripted{{status: 200, body: string(fixture(t, "oauth_token.json"))}}
	var mu sync.Mutex
	ok := map[string]bool{}
	for _, v := range valid {
		ok["Bearer "+v] = true
	}
	f.auth = func(h string) bool {
		mu.Lock()
		defer mu.Unlock()
		return ok[h]
	}
	return f
}

// clock is a fixed time.
func clock() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }

// saver records OnRefresh calls.
type saver struct {
	mu     sync.Mutex
	tokens []jira.Token
	err    error
}

func (s *saver) save(ctx context.Context, t jira.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, t)
	return s.err
}

func (s *saver) calls() []jira.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jira.Token(nil), s.tokens...)
}

func oauthClient(t *testing.T, f *fakeJira, o jira.OAuth, baseURL string) *jira.Client {
	t.Helper()
	o.TokenURL = f.srv.URL + "/oauth/token"
	o.APIBase = f.srv.URL
	if o.Now == nil {
		o.Now = clock
	}
	c, err := jira.New(jira.Config{BaseURL: baseURL, OAuth: &o, HTTP: httpFor(&sleeps{})})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOAuthCloudIDFromAccessibleResources(t *testing.T) {
	t.Run("matching BaseURL", func(t *testing.T) {
		f := oauthFake(t, 3, "access-1")
		c := oauthClient(t, f, jira.OAuth{AccessToken: "access-1"}, "https://your-domain.atlassian.net/")
		for range 2 {
			res, err := c.Fetch(context.Background(), refsN(1, 3))
			if err != nil {
				t.Fatal(err)
			}
			checkAll(t, refsN(1, 3), res)
			if got := res[0].Issue.URL; got != "https://your-domain.atlassian.net/browse/PROJ-1" {
				t.Errorf("URL = %q", got)
			}
		}
		if got := len(f.calls("/accessible-resources")); got != 1 {
			t.Errorf("accessible-resources requests = %d, want 1", got)
		}
		calls := f.calls("/ex/jira/" + cloudID + "/rest/api/3/search/jql")
		if len(calls) != 2 || calls[0].Auth != "Bearer access-1" {
			t.Errorf("searches = %+v", calls)
		}
	})
	t.Run("no BaseURL: first site", func(t *testing.T) {
		f := oauthFake(t, 1, "access-1")
		f.prefix = "/ex/jira/" + otherCloudID
		c := oauthClient(t, f, jira.OAuth{AccessToken: "access-1"}, "")
		res, err := c.Fetch(context.Background(), refsN(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0].Issue.URL; got != "https://other-site.atlassian.net/browse/PROJ-1" {
			t.Errorf("URL = %q", got)
		}
	})
	t.Run("configured CloudID", func(t *testing.T) {
		f := oauthFake(t, 1, "access-1")
		c := oauthClient(t, f, jira.OAuth{AccessToken: "access-1", CloudID: cloudID}, "https://your-domain.atlassian.net")
		if _, err := c.Fetch(context.Background(), refsN(1, 1)); err != nil {
			t.Fatal(err)
		}
		if got := len(f.calls("/accessible-resources")); got != 0 {
			t.Errorf("accessible-resources requests = %d, want 0", got)
		}
	})
	t.Run("no site", func(t *testing.T) {
		f := oauthFake(t, 1, "access-1")
		f.resources = "[]"
		c := oauthClient(t, f, jira.OAuth{AccessToken: "access-1"}, "")
		_, err := c.Fetch(context.Background(), refsN(1, 1))
		if !errors.Is(err, tracker.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
}

// checkRefreshBody checks one POST to the token endpoint.
func checkRefreshBody(t *testing.T, r recorded, refresh string) {
	t.Helper()
	want := map[string]any{"grant_type": "refresh_token", "client_id": "client-1", "client_secret": "secret-1", "refresh_token": refresh}
	got, _ := json.Marshal(r.Body)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) || r.Method != "POST" {
		t.Errorf("token request %s %s, want POST %s", r.Method, got, exp)
	}
}

func TestOAuthRefreshExpired(t *testing.T) {
	f := oauthFake(t, 2, newAccess)
	var s saver
	c := oauthClient(t, f, jira.OAuth{
		AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: clock().Add(30 * time.Second),
		ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save,
	}, "https://your-domain.atlassian.net")
	res, err := c.Fetch(context.Background(), refsN(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, refsN(1, 2), res)
	tok := f.calls("/oauth/token")
	if len(tok) != 1 {
		t.Fatalf("token requests = %d, want 1", len(tok))
	}
	checkRefreshBody(t, tok[0], "old-refresh")
	saved := s.calls()
	want := jira.Token{AccessToken: newAccess, RefreshToken: newRefresh, ExpiresAt: clock().Add(time.Hour)}
	if len(saved) != 1 || saved[0] != want {
		t.Errorf("OnRefresh calls = %+v, want [%+v]", saved, want)
	}
	for _, r := range f.calls("/search/jql") {
		if r.Auth != "Bearer "+newAccess {
			t.Errorf("search sent %q", r.Auth)
		}
	}
	// The new token is valid for an hour: no more refresh.
	if _, err := c.Fetch(context.Background(), refsN(1, 2)); err != nil {
		t.Fatal(err)
	}
	if got := len(f.calls("/oauth/token")); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

// TestOAuthRefreshConcurrent runs Fetch from 8 goroutines with an expired
// token (or, with refused, a token the API refuses): one refresh, one
// OnRefresh.
func TestOAuthRefreshConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cloudID string
		expires time.Time
	}{
		{"expired, cloud id looked up", "", clock().Add(-time.Hour)},
		{"expired, cloud id known", cloudID, clock().Add(-time.Hour)},
		{"refused", cloudID, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := oauthFake(t, 5, newAccess)
			var s saver
			c := oauthClient(t, f, jira.OAuth{
				AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: tc.expires,
				ClientID: "client-1", ClientSecret: "secret-1", CloudID: tc.cloudID, OnRefresh: s.save,
			}, "https://your-domain.atlassian.net")
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					res, err := c.Fetch(context.Background(), refsN(1, 5))
					if err != nil {
						t.Error(err)
						return
					}
					checkAll(t, refsN(1, 5), res)
				})
			}
			wg.Wait()
			if got := len(f.calls("/oauth/token")); got != 1 {
				t.Errorf("token requests = %d, want 1", got)
			}
			if got := len(s.calls()); got != 1 {
				t.Errorf("OnRefresh calls = %d, want 1", got)
			}
			want := 0
			if tc.cloudID == "" {
				want = 1
			}
			if got := len(f.calls("/accessible-resources")); got != want {
				t.Errorf("accessible-resources requests = %d, want %d", got, want)
			}
		})
	}
}

func TestOAuthRefreshOn401(t *testing.T) {
	// No ExpiresAt: the token is refreshed only when refused.
	f := oauthFake(t, 2, newAccess)
	var s saver
	c := oauthClient(t, f, jira.OAuth{
		AccessToken: "revoked", RefreshToken: "old-refresh",
		ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save,
	}, "https://your-domain.atlassian.net")
	res, err := c.Fetch(context.Background(), refsN(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, refsN(1, 2), res)
	searches := f.calls("/search/jql")
	if len(searches) != 2 || searches[0].Auth != "Bearer revoked" || searches[1].Auth != "Bearer "+newAccess {
		t.Errorf("searches = %+v, want one refused then one with the new token", searches)
	}
	if got := len(s.calls()); got != 1 {
		t.Errorf("OnRefresh calls = %d, want 1", got)
	}
}

func TestOAuthRefreshRefused(t *testing.T) {
	f := oauthFake(t, 1, newAccess)
	f.tokenAnswers = []scripted{{status: 403, body: `{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}`}}
	var s saver
	c := oauthClient(t, f, jira.OAuth{
		AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: clock().Add(-time.Minute),
		ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save,
	}, "https://your-domain.atlassian.net")
	_, err := c.Fetch(context.Background(), refsN(1, 1))
	if !errors.Is(err, tracker.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for _, secret := range []string{"old-access", "old-refresh", "secret-1"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("err %q shows %q", err, secret)
		}
	}
	if len(s.calls()) != 0 {
		t.Error("OnRefresh called after a refused refresh")
	}
	if got := len(f.calls("/search/jql")); got != 0 {
		t.Errorf("searches = %d, want 0", got)
	}
}

func TestOAuthCannotRefresh(t *testing.T) {
	f := oauthFake(t, 1) // no token is valid
	c := oauthClient(t, f, jira.OAuth{AccessToken: "stale", CloudID: cloudID}, "https://your-domain.atlassian.net")
	_, err := c.Fetch(context.Background(), refsN(1, 1))
	if !errors.Is(err, tracker.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if got := len(f.calls("/oauth/token")); got != 0 {
		t.Errorf("token requests = %d, want 0", got)
	}
}

func TestOAuthOnRefreshFails(t *testing.T) {
	f := oauthFake(t, 1, newAccess)
	s := &saver{err: errors.New("database down")}
	c := oauthClient(t, f, jira.OAuth{
		AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: clock().Add(-time.Minute),
		ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save,
	}, "https://your-domain.atlassian.net")
	_, err := c.Fetch(context.Background(), refsN(1, 1))
	if err == nil || !strings.Contains(err.Error(), "database down") {
		t.Fatalf("err = %v, want the OnRefresh failure", err)
	}
	// The next call saves again (the rotated refresh token must not be
	// lost) without another refresh, then fetches.
	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	if _, err := c.Fetch(context.Background(), refsN(1, 1)); err != nil {
		t.Fatal(err)
	}
	saved := s.calls()
	if len(saved) != 2 || saved[1].RefreshToken != newRefresh {
		t.Errorf("OnRefresh calls = %+v", saved)
	}
	if got := len(f.calls("/oauth/token")); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

func TestOAuthRefreshWithoutAccessToken(t *testing.T) {
	f := oauthFake(t, 1, newAccess)
	var s saver
	c := oauthClient(t, f, jira.OAuth{
		RefreshToken: "old-refresh", ClientID: "client-1", ClientSecret: "secret-1", OnRefresh: s.save,
	}, "https://your-domain.atlassian.net")
	if _, err := c.Fetch(context.Background(), refsN(1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := len(f.calls("/oauth/token")); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

// memStore is a TokenStore in memory: the storage several processes share.
type memStore struct {
	mu       sync.Mutex
	tok      jira.Token
	failSave error // returned after a successful renew, the token not kept
}

func (m *memStore) Refresh(ctx context.Context, stale jira.Token, renew func(context.Context, jira.Token) (jira.Token, error)) (jira.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok.AccessToken != stale.AccessToken {
		return m.tok, nil
	}
	t, err := renew(ctx, m.tok)
	if err != nil {
		return jira.Token{}, err
	}
	if m.failSave != nil {
		return t, m.failSave
	}
	m.tok = t
	return t, nil
}

// TestOAuthStoreRefreshesOnceAcrossClients: two clients of one grant (two
// processes) with an expired token refresh it once between them, the
// second taking the token the first stored; without the Store each would
// spend the rotating refresh token.
func TestOAuthStoreRefreshesOnceAcrossClients(t *testing.T) {
	f := oauthFake(t, 3, newAccess)
	old := jira.Token{AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: clock().Add(-time.Hour)}
	store := &memStore{tok: old}
	var s saver
	var clients []*jira.Client
	for range 2 {
		clients = append(clients, oauthClient(t, f, jira.OAuth{
			AccessToken: old.AccessToken, RefreshToken: old.RefreshToken, ExpiresAt: old.ExpiresAt,
			ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save, Store: store,
		}, "https://your-domain.atlassian.net"))
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			res, err := clients[i%2].Fetch(context.Background(), refsN(1, 3))
			if err != nil {
				t.Error(err)
				return
			}
			checkAll(t, refsN(1, 3), res)
		})
	}
	wg.Wait()
	calls := f.calls("/oauth/token")
	if len(calls) != 1 || calls[0].Body["refresh_token"] != "old-refresh" {
		t.Errorf("token requests %+v, want one, with the stored refresh token", calls)
	}
	if store.tok.AccessToken != newAccess || store.tok.RefreshToken != newRefresh {
		t.Errorf("stored %+v", store.tok)
	}
	if n := len(s.calls()); n != 0 {
		t.Errorf("OnRefresh called %d times, want none (the Store keeps the tokens)", n)
	}
}

// TestOAuthStoreCannotKeepTheToken: renewed but not stored, the new token
// (the old refresh token is spent) goes to OnRefresh, and is used without
// a second refresh.
func TestOAuthStoreCannotKeepTheToken(t *testing.T) {
	f := oauthFake(t, 2, newAccess)
	store := &memStore{tok: jira.Token{AccessToken: "old-access", RefreshToken: "old-refresh"}, failSave: errors.New("database is down")}
	var s saver
	c := oauthClient(t, f, jira.OAuth{
		AccessToken: "old-access", RefreshToken: "old-refresh", ExpiresAt: clock().Add(-time.Hour),
		ClientID: "client-1", ClientSecret: "secret-1", CloudID: cloudID, OnRefresh: s.save, Store: store,
	}, "https://your-domain.atlassian.net")
	if _, err := c.Fetch(context.Background(), refsN(1, 2)); err == nil || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("Fetch: %v, want the store's error", err)
	}
	res, err := c.Fetch(context.Background(), refsN(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, refsN(1, 2), res)
	if got := s.calls(); len(got) != 1 || got[0].AccessToken != newAccess || got[0].RefreshToken != newRefresh {
		t.Errorf("OnRefresh got %+v, want the renewed token once", got)
	}
	if n := len(f.calls("/oauth/token")); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
