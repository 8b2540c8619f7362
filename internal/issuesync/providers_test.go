package issuesync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/encryption"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// testSecret is the ENCRYPTION_KEY of internal/encryption's Node-made
// vectors (testdata/vectors.json there).
const testSecret = "tpi-workers test ENCRYPTION_KEY (not a secret)"

func testKey(t testing.TB) *encryption.Key {
	t.Helper()
	k, err := encryption.NewKey(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// encrypted is v's JSON encrypted as TestPlanIt stores credentials:
// {"encrypted": "<base64>"}.
func encrypted(t testing.TB, k *encryption.Key, v any) string {
	t.Helper()
	b, _ := json.Marshal(v)
	blob, err := k.Encrypt(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]string{"encrypted": blob})
	return string(out)
}

func encrypt(t testing.TB, k *encryption.Key, s string) string {
	t.Helper()
	blob, err := k.Encrypt([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// stack is the production wiring of cmd/sync-worker on the fixture's
// Redis: Providers (decryption, shared budgets) behind Clients, the cache.
func stack(t testing.TB, f *fixture, rates map[string]float64, tweak ...func(*Providers)) *Handler {
	t.Helper()
	p := &Providers{Key: testKey(t), Budgets: NewBudgets(f.rdb, rates), BaseDelay: 20 * time.Millisecond}
	for _, fn := range tweak {
		fn(p)
	}
	return &Handler{Clients: NewClients(p.Build), Cache: NewCache(f.rdb, false)}
}

// TestEachProviderSyncs: Jira Cloud (API token), Jira Server (PAT), GitHub
// (PAT, refs from externalData, the URL and the default repository), Azure
// DevOps (PAT) and Linear (API key), each against a fake shaped like its
// documented API, credentials encrypted as TestPlanIt stores them: every
// issue written from the provider's answer, in one request per batch, with
// the provider's own authentication.
func TestEachProviderSyncs(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	h := stack(t, f, nil)

	t.Run("jira-cloud", func(t *testing.T) {
		j := newFakeJira(t)
		j.addN(3)
		j.auth = []string{basic("qa@example.com", "jira-token")}
		in := f.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "qa@example.com", "apiToken": "jira-token"}),
			`{"baseUrl":"`+j.srv.URL+`"}`)
		row := f.issue(in, f.projects[0], "10001", "PROJ-1")
		f.issue(in, f.projects[0], "PROJ-2", "") // an older row keeping the key as its id
		f.issue(in, f.projects[0], "10003", "PROJ-3")
		mustSync(t, h, f, in)
		got := f.row(row)
		if got.Title != "Remote 1" || got.Status != "In Progress" || got.Priority != "High" || *got.IssueTypeName != "Bug" ||
			*got.ExternalURL != j.srv.URL+"/browse/PROJ-1" {
			t.Errorf("row %+v", got)
		}
		if n := synced(t, f, in); n != 3 {
			t.Errorf("%d issues synced, want 3", n)
		}
		if reqs := j.requests(); len(reqs) != 1 || reqs[0].path != "/rest/api/3/search/jql" {
			t.Errorf("requests %+v, want one search", reqs)
		}
	})
	t.Run("jira-server", func(t *testing.T) {
		j := newFakeJira(t)
		j.addN(2)
		j.auth = []string{"Bearer server-pat"}
		in := f.integration(ProviderJira, AuthPersonalAccessToken, encrypted(t, k, map[string]string{"personalAccessToken": "server-pat"}),
			`{"baseUrl":"`+j.srv.URL+`"}`)
		f.issue(in, f.projects[0], "10001", "PROJ-1")
		f.issue(in, f.projects[0], "10002", "PROJ-2")
		mustSync(t, h, f, in)
		if n := synced(t, f, in); n != 2 {
			t.Errorf("%d issues synced, want 2", n)
		}
		if reqs := j.requests(); len(reqs) != 1 || reqs[0].path != "/rest/api/2/search" {
			t.Errorf("requests %+v, want one v2 search", reqs)
		}
	})
	t.Run("github", func(t *testing.T) {
		g := newFakeGitHub(t)
		g.add("octo-org", "octo-repo", 1, "From externalData")
		g.add("octo-org", "other", 2, "From the URL")
		g.add("acme", "default", 3, "In the default repository")
		g.auth = []string{"Bearer gh-pat"}
		in := f.integration(ProviderGitHub, AuthPersonalAccessToken, encrypted(t, k, map[string]string{"personalAccessToken": "gh-pat"}),
			`{"baseUrl":"`+g.srv.URL+`","repository":"acme/default"}`)
		a := f.issue(in, f.projects[0], "1", "#1")
		f.exec(`UPDATE "Issue" SET "externalData" = '{"_github_owner":"octo-org","_github_repo":"octo-repo"}' WHERE id = $1`, a)
		b := f.issue(in, f.projects[0], "2", "#2")
		f.exec(`UPDATE "Issue" SET "externalUrl" = 'https://github.com/octo-org/other/issues/2' WHERE id = $1`, b)
		c := f.issue(in, f.projects[0], "3", "#3")
		mustSync(t, h, f, in)
		for id, title := range map[int]string{a: "From externalData", b: "From the URL", c: "In the default repository"} {
			if got := f.row(id); got.Title != title || !strings.Contains(got.ExternalData, "_github_owner") {
				t.Errorf("issue %d: %+v", id, got)
			}
		}
		if got := f.row(a); got.Name != "#1" || *got.ExternalKey != "#1" || *got.ExternalID != "1" {
			t.Errorf("name %q, externalKey %q, externalId %q: want the original's #1, #1, 1", got.Name, *got.ExternalKey, *got.ExternalID)
		}
		if reqs := g.requests(); len(reqs) != 1 || reqs[0].path != "/api/graphql" {
			t.Errorf("requests %+v, want one GraphQL query", reqs)
		}
		// A refresh by number finds the repository in the stored row.
		g.reset()
		g.add("octo-org", "octo-repo", 1, "Renamed")
		if err := h.RefreshIssue(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in, IssueID: "#1"}); err != nil {
			t.Fatal(err)
		}
		if got := f.row(a); got.Title != "Renamed" {
			t.Errorf("refreshed title %q", got.Title)
		}
		if reqs := g.requests(); len(reqs) != 1 || !strings.Contains(reqs[0].body, `"octo-org"`) || !strings.Contains(reqs[0].body, `"octo-repo"`) {
			t.Errorf("refresh requests %+v", reqs)
		}
	})
	t.Run("azure-devops", func(t *testing.T) {
		az := newFakeAzure(t)
		az.add(297, "Work item 297")
		az.add(298, "Work item 298")
		az.auth = []string{basic("", "azdo-pat")}
		in := f.integration(ProviderAzureDevOps, AuthPersonalAccessToken, encrypted(t, k, map[string]string{"personalAccessToken": "azdo-pat"}),
			`{"organizationUrl":"`+az.srv.URL+`","project":"Fabrikam"}`)
		row := f.issue(in, f.projects[1], "297", "")
		f.issue(in, f.projects[1], "298", "")
		mustSync(t, h, f, in)
		got := f.row(row)
		if got.Title != "Work item 297" || got.Status != "Active" || !strings.Contains(got.ExternalData, "Custom.Team") {
			t.Errorf("row %+v", got)
		}
		if reqs := az.requests(); len(reqs) != 1 || reqs[0].path != "/Fabrikam/_apis/wit/workitemsbatch" {
			t.Errorf("requests %+v, want one batch", reqs)
		}
	})
	t.Run("linear", func(t *testing.T) {
		l := newFakeLinear(t)
		l.add("9cfb482a-81e3-4154-b5b9-2c805e70a726", "ENG-12", "Sign-in fails")
		l.add("0e6c3a53-2b8e-4f67-9d1a-6b5e4c3d2a10", "ENG-13", "Flaky export")
		l.auth = []string{"lin_api_key"}
		in := f.integration(ProviderLinear, AuthAPIKey, encrypted(t, k, map[string]string{"apiKey": "lin_api_key"}),
			`{"apiUrl":"`+l.srv.URL+`/graphql"}`)
		byID := f.issue(in, f.projects[0], "9cfb482a-81e3-4154-b5b9-2c805e70a726", "ENG-12")
		byKey := f.issue(in, f.projects[0], "", "ENG-13")
		mustSync(t, h, f, in)
		if got := f.row(byID); got.Title != "Sign-in fails" || got.Name != "ENG-12" {
			t.Errorf("by id: %+v", got)
		}
		if got := f.row(byKey); got.Title != "Flaky export" || *got.ExternalID != "0e6c3a53-2b8e-4f67-9d1a-6b5e4c3d2a10" {
			t.Errorf("by identifier: %+v", got)
		}
		if reqs := l.requests(); len(reqs) != 1 {
			t.Errorf("%d requests, want one query", len(reqs))
		}
	})
}

// mustSync runs a bulk sync of integration in and fails the test on error.
func mustSync(t *testing.T, h *Handler, f *fixture, in int) {
	t.Helper()
	if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

// synced counts the integration's issues with a lastSyncedAt.
func synced(t *testing.T, f *fixture, in int) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM "Issue" WHERE "integrationId" = $1 AND "lastSyncedAt" IS NOT NULL`, in).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestJiraRetriesRateLimitsAndServerErrors: a 429 with Retry-After is
// waited out, a 503 retried; the sync then succeeds. A 429 asking for more
// than the HTTP layer waits fails the task as rate limited, spending no
// attempt, with nothing written.
func TestJiraRetriesRateLimitsAndServerErrors(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(2)
	h := stack(t, f, nil, func(p *Providers) { p.MaxWait = 5 * time.Second })
	in := f.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "a@b.c", "apiToken": "t"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issue(in, f.projects[0], "10001", "PROJ-1")
	f.issue(in, f.projects[0], "10002", "PROJ-2")

	j.queue(scripted{status: 429, header: map[string]string{"Retry-After": "1"}, body: `{"errorMessages":["Rate limit exceeded"]}`},
		scripted{status: 503, body: `{"errorMessages":["Service unavailable"]}`})
	start := time.Now()
	mustSync(t, h, f, in)
	if n := synced(t, f, in); n != 2 {
		t.Errorf("%d synced after 429 and 503", n)
	}
	reqs := j.requests()
	if len(reqs) != 3 || reqs[1].at.Sub(reqs[0].at) < time.Second {
		t.Errorf("%d requests; the retry after 429 came %s after it, want ≥ Retry-After 1s", len(reqs), reqs[1].at.Sub(reqs[0].at))
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("took %s", time.Since(start))
	}

	f.exec(`UPDATE "Issue" SET "lastSyncedAt" = NULL, title = 'old'`)
	before := f.snapshot()
	j.queue(scripted{status: 429, header: map[string]string{"Retry-After": "120"}, body: `{}`})
	err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	rl, ok := errors.AsType[*worker.RateLimitError](err)
	if !ok || rl.RetryAfter < 119*time.Second || rl.RetryAfter > 120*time.Second {
		t.Fatalf("429 Retry-After 120: %v", err)
	}
	if f.snapshot() != before {
		t.Error("rows written on a rate-limited sync")
	}
}

// TestJiraUnauthorizedFailsWithoutWriting: 401 fails the task (transient:
// retried and shown as failed) and changes no row.
func TestJiraUnauthorizedFailsWithoutWriting(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(3)
	j.auth = []string{basic("a@b.c", "the-right-token")}
	h := stack(t, f, nil)
	in := f.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "a@b.c", "apiToken": "a-revoked-token"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issues(in, f.projects[0], 3, "1000")
	before := f.snapshot()
	err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	if err == nil || worker.Class(err) != "transient" || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("401: %v (%s)", err, worker.Class(err))
	}
	if strings.Contains(err.Error(), "a-revoked-token") {
		t.Error("the token is in the error")
	}
	if f.snapshot() != before || f.lastSyncAt(in) != nil {
		t.Error("rows or lastSyncAt written on 401")
	}

	// A base URL where nothing answers: retried by the HTTP layer, then
	// the task fails (transient), nothing written.
	j.srv.Close()
	err = h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	if err == nil || worker.Class(err) != "transient" || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("unreachable: %v (%s)", err, worker.Class(err))
	}
	if f.snapshot() != before {
		t.Error("rows written with the provider unreachable")
	}
}

// TestJiraDeletedIssue: an issue deleted in Jira is counted as not found
// and listed in the result; its row is left as it was; the others sync.
func TestJiraDeletedIssue(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(3)
	j.remove("10002", "PROJ-2")
	h := stack(t, f, nil)
	rw := collect(h)
	in := f.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "a@b.c", "apiToken": "t"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issue(in, f.projects[0], "PROJ-1", "PROJ-1")
	gone := f.issue(in, f.projects[0], "PROJ-2", "PROJ-2")
	f.issue(in, f.projects[0], "PROJ-3", "PROJ-3")
	before := f.row(gone)
	mustSync(t, h, f, in)
	var res Result
	if err := json.Unmarshal([]byte(rw.last()), &res); err != nil {
		t.Fatal(err)
	}
	if res.Synced != 2 || res.NotFound != 1 || res.Failed != 0 || len(res.Errors) != 1 || res.Errors[0].IssueID != gone {
		t.Errorf("result %s", rw.last())
	}
	if after := f.row(gone); after.LastSyncedAt != nil || after.Title != before.Title {
		t.Errorf("the deleted issue's row changed: %+v", after)
	}
}

// jiraOAuthApp points the Atlassian OAuth app at j.
func jiraOAuthApp(j *fakeJira) func(*Providers) {
	return func(p *Providers) {
		p.JiraOAuth = JiraOAuthApp{ClientID: "env-client", ClientSecret: "env-secret", TokenURL: j.srv.URL + "/oauth/token", APIBase: j.srv.URL}
	}
}

// expiredJiraGrant inserts a Jira OAuth integration (its own client
// app-id), the user's auth row holding the expired old-access and its
// old-refresh, and the local issues 10001/PROJ-1 and 10002/PROJ-2.
func expiredJiraGrant(t *testing.T, f *fixture, k *encryption.Key) (integrationID int, authID string) {
	t.Helper()
	in := f.integration(ProviderJira, AuthOAuth2, encrypted(t, k, map[string]string{"clientId": "app-id", "clientSecret": "app-secret"}),
		`{"baseUrl":"https://acme.atlassian.net","cloudId":"cloud-1"}`)
	authID = f.userAuth(in, encrypt(t, k, "old-access"), encrypt(t, k, "old-refresh"), time.Now().Add(-time.Hour))
	f.issue(in, f.projects[0], "10001", "PROJ-1")
	f.issue(in, f.projects[0], "10002", "PROJ-2")
	return in, authID
}

// TestJiraOAuthRefreshWritesTokensBack: an expired OAuth token is
// refreshed at Atlassian's token endpoint before the sync (the original
// gave up with "Authentication token has expired"); the new tokens are
// written back into the user's auth row, encrypted as TestPlanIt reads
// them, and used.
func TestJiraOAuthRefreshWritesTokensBack(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(2)
	j.auth = []string{"Bearer new-access"}
	j.tokenAnswer = map[string]any{"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 3600,
		"token_type": "Bearer", "scope": "read:jira-work offline_access"}
	h := stack(t, f, nil, jiraOAuthApp(j))
	in, authID := expiredJiraGrant(t, f, k)
	start := time.Now()
	mustSync(t, h, f, in)
	if n := synced(t, f, in); n != 2 {
		t.Errorf("%d synced", n)
	}
	if len(j.tokens) != 1 || j.tokens[0].Get("refresh_token") != "old-refresh" || j.tokens[0].Get("client_id") != "app-id" {
		t.Errorf("token requests %v, want one refresh with the integration's own client id", j.tokens)
	}
	for _, r := range j.requests() {
		if !strings.HasPrefix(r.path, "/ex/jira/cloud-1/rest/api/3/") || r.auth != "Bearer new-access" {
			t.Errorf("request %s with %q", r.path, r.auth)
		}
	}
	var access, refresh string
	var expires time.Time
	if err := f.db.QueryRow(context.Background(), `SELECT "accessToken", "refreshToken", "tokenExpiresAt" FROM "UserIntegrationAuth" WHERE id = $1`,
		authID).Scan(&access, &refresh, &expires); err != nil {
		t.Fatal(err)
	}
	if a, err := k.DecryptString(access); err != nil || a != "new-access" {
		t.Errorf("stored access token decrypts to %q (%v)", a, err)
	}
	if r, err := k.DecryptString(refresh); err != nil || r != "new-refresh" {
		t.Errorf("stored refresh token decrypts to %q (%v)", r, err)
	}
	if strings.Contains(access, "new-access") || expires.Before(start.Add(59*time.Minute)) {
		t.Errorf("stored access %q expires %s", access, expires)
	}
	// The next task reads the rotated row and builds a client with it: no
	// second refresh.
	mustSync(t, h, f, in)
	if len(j.tokens) != 1 {
		t.Errorf("%d refreshes after two syncs, want 1", len(j.tokens))
	}
}

// TestJiraOAuthRefreshOnceAcrossProcesses: four sync workers (handlers
// with clients of their own, as four processes) sync the same user's
// integration at once with an expired token. Atlassian rotates refresh
// tokens and refuses a spent one: the grant is refreshed once, under the
// auth row's lock, and every sync succeeds with the token it stored. Each
// process refreshing on its own lost the grant to invalid_grant.
func TestJiraOAuthRefreshOnceAcrossProcesses(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(2)
	j.auth = []string{"Bearer no-token-yet"}
	j.liveRefresh = "old-refresh"
	in, authID := expiredJiraGrant(t, f, k)

	var wg sync.WaitGroup
	for range 4 {
		h := stack(t, f, nil, jiraOAuthApp(j))
		wg.Go(func() {
			if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
				t.Errorf("sync: %v", err)
			}
		})
	}
	wg.Wait()
	if len(j.tokens) != 1 {
		t.Errorf("%d token requests, want 1: %v", len(j.tokens), j.tokens)
	}
	var access, refresh string
	if err := f.db.QueryRow(context.Background(), `SELECT "accessToken", "refreshToken" FROM "UserIntegrationAuth" WHERE id = $1`,
		authID).Scan(&access, &refresh); err != nil {
		t.Fatal(err)
	}
	if a, _ := k.DecryptString(access); a != "access-1" {
		t.Errorf("stored access token %q, want access-1", a)
	}
	if r, _ := k.DecryptString(refresh); r != "refresh-1" {
		t.Errorf("stored refresh token %q, want refresh-1", r)
	}
	if n := synced(t, f, in); n != 2 {
		t.Errorf("%d synced", n)
	}
}

// TestCredentialsInTheOriginalFormat: credentials encrypted by TestPlanIt's
// own Node code (internal/encryption's vectors) authenticate the request.
func TestCredentialsInTheOriginalFormat(t *testing.T) {
	raw, err := os.ReadFile("../encryption/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Key     string `json:"key"`
		Vectors []struct{ Name, Plaintext, Blob string }
	}
	if err := json.Unmarshal(raw, &vectors); err != nil || vectors.Key != testSecret {
		t.Fatalf("vectors: %v (key %q)", err, vectors.Key)
	}
	var blob string
	for _, v := range vectors.Vectors {
		if v.Name == "api-token credentials" {
			blob = v.Blob
		}
	}
	f := newFixture(t)
	j := newFakeJira(t)
	j.addN(1)
	// The vector's plaintext: {"email":"qa.lead@example.com","apiToken":"ATATT3xFfGF0-test-token-0123456789"}.
	j.auth = []string{basic("qa.lead@example.com", "ATATT3xFfGF0-test-token-0123456789")}
	h := stack(t, f, nil)
	in := f.integration(ProviderJira, AuthAPIKey, `{"encrypted":"`+blob+`"}`, `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issue(in, f.projects[0], "10001", "PROJ-1")
	mustSync(t, h, f, in)
	if n := synced(t, f, in); n != 1 {
		t.Errorf("%d synced with the Node-encrypted credentials", n)
	}

	// The wrong ENCRYPTION_KEY: the task fails (transient), naming neither
	// key nor value.
	wrong, _ := encryption.NewKey("another key")
	p := &Providers{Key: wrong}
	h2 := &Handler{Clients: NewClients(p.Build)}
	err = h2.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	if err == nil || worker.IsPermanent(err) || !errors.Is(err, encryption.ErrDecrypt) || strings.Contains(err.Error(), blob[:20]) {
		t.Errorf("wrong key: %v", err)
	}
}

// TestTwoProcessesShareTheBudget: two worker processes (each its own
// Providers, budgets and Valkey connection, as two sync-worker binaries)
// syncing integrations of one Jira at once stay within one integration's
// budget: counted at the fake, no second sees more than the rate (plus one
// at the window's edge).
func TestTwoProcessesShareTheBudget(t *testing.T) {
	f := newFixture(t)
	k := testKey(t)
	j := newFakeJira(t)
	j.addN(200)
	in := f.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "a@b.c", "apiToken": "t"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	f.issues(in, f.projects[0], 200, "100") // externalId 1001..100200: 200 ids, 4 searches of 50
	f.exec(`UPDATE "Issue" SET "externalId" = (10000 + substr("externalId", 4)::int)::text`)
	const rate = 8
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		ropt := f.ropt
		g := &fixture{t: t, db: f.db, ropt: ropt, user: f.user}
		g.rdb = newRedis(t, ropt.Addr, ropt.DB)
		h := stack(t, g, map[string]float64{ProviderJira: rate})
		for range 2 {
			wg.Go(func() {
				for range 2 {
					if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	reqs := j.requests()
	var at []time.Time
	for _, r := range reqs {
		at = append(at, r.at)
	}
	// 2 processes × 2 tasks × 2 syncs × 4 searches = 32 requests at 8/s.
	if len(reqs) != 32 {
		t.Errorf("%d requests, want 32", len(reqs))
	}
	if n := maxInWindow(at, time.Second); n > rate+1 {
		t.Errorf("%d requests within one second at the provider, budget %d/s", n, rate)
	}
	if el := time.Since(start); el < 3500*time.Millisecond {
		t.Errorf("32 requests in %s: faster than %d/s", el, rate)
	}
}

// TestTenantsKeepTheirOwnCredentials: two tenant databases with equal
// integration ids and different credentials, served by one handler (one
// client cache): each tenant's sync authenticates with its own
// credentials, writes its own database, and caches under its own key.
func TestTenantsKeepTheirOwnCredentials(t *testing.T) {
	k := testKey(t)
	ropt, _ := testenv.Redis(t)
	dbA, _ := testenv.Postgres(t)
	dbB, _ := testenv.Postgres(t)
	a := newFixtureOn(t, dbA, ropt, "acme")
	b := newFixtureOn(t, dbB, ropt, "globex")
	j := newFakeJira(t)
	j.addN(1)
	j.auth = []string{basic("acme@example.com", "acme-token"), basic("globex@example.com", "globex-token")}
	inA := a.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "acme@example.com", "apiToken": "acme-token"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	inB := b.integration(ProviderJira, AuthAPIKey, encrypted(t, k, map[string]string{"email": "globex@example.com", "apiToken": "globex-token"}), `{"baseUrl":"`+j.srv.URL+`"}`)
	if inA != inB {
		t.Fatalf("integration ids %d and %d: the test needs equal ids", inA, inB)
	}
	rowA := a.issue(inA, a.projects[0], "10001", "PROJ-1")
	rowB := b.issue(inB, b.projects[0], "10001", "PROJ-1")
	h := stack(t, a, nil)
	h.Cache = NewCache(a.rdb, true)
	for _, fx := range []*fixture{a, b, a} {
		j.reset()
		if err := h.SyncIssues(fx.ctx(), task.SyncJob{UserID: fx.user, IntegrationID: inA, TenantID: fx.tenantID}); err != nil {
			t.Fatalf("%s: %v", fx.tenantID, err)
		}
		reqs := j.requests()
		want := basic(fx.tenantID+"@example.com", fx.tenantID+"-token")
		if len(reqs) != 1 || reqs[0].auth != want {
			t.Errorf("%s's sync sent %+v, want its own credentials", fx.tenantID, reqs)
		}
	}
	if a.row(rowA).LastSyncedAt == nil || b.row(rowB).LastSyncedAt == nil {
		t.Error("a tenant's row was not written")
	}
	for _, key := range []string{fmt.Sprintf("acme:issue:%d:10001", inA), fmt.Sprintf("globex:issue:%d:10001", inB)} {
		if n, _ := a.rdb.Exists(context.Background(), key).Result(); n != 1 {
			t.Errorf("cache key %s missing", key)
		}
	}
	if n, _ := a.rdb.Exists(context.Background(), fmt.Sprintf("issue:%d:10001", inA)).Result(); n != 0 {
		t.Error("multi-tenant mode wrote the unprefixed key")
	}
}
