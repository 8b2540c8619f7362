package github_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/tracker/github"
)

func TestNewValidation(t *testing.T) {
	const secret = "ghp_s3cret"
	for _, tc := range []struct {
		name string
		cfg  github.Config
		want string
	}{
		{"defaults", github.Config{Token: secret}, ""},
		{"default repo", github.Config{Token: secret, Owner: "octo-org", Repo: "octo.repo_2"}, ""},
		{"no token", github.Config{Owner: "o", Repo: "r"}, "Token is required"},
		{"owner without repo", github.Config{Token: secret, Owner: "o"}, "both Owner and Repo"},
		{"bad owner", github.Config{Token: secret, Owner: "o/x", Repo: "r"}, "not a valid GitHub name"},
		{"relative BaseURL", github.Config{Token: secret, BaseURL: "ghe.example.com/api/v3"}, "BaseURL must be an absolute"},
		{"BaseURL with query", github.Config{Token: secret, BaseURL: "https://ghe.example.com/api/v3?access_token=" + secret}, "BaseURL must not hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := github.New(tc.cfg)
			if tc.want == "" {
				if err != nil || c.BatchSize() != 50 {
					t.Fatalf("New = %v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err %q shows the token", err)
			}
		})
	}
}

// newClient is a client of f: for a github.com-shaped fake, with the
// default BaseURL and every request sent to f instead; for a GHE fake, with
// BaseURL <fake>/api/v3.
func newClient(t *testing.T, f *fakeGitHub, sl *sleeps, owner, repo string) *github.Client {
	t.Helper()
	return newClientToken(t, f, sl, f.token, owner, repo)
}

func newClientToken(t *testing.T, f *fakeGitHub, sl *sleeps, token, owner, repo string) *github.Client {
	t.Helper()
	h := httpFor(sl)
	base := f.srv.URL + f.prefix
	if f.prefix == "" {
		base = ""
		h.Client = &http.Client{Transport: &rewrite{srv: f.srv.URL}}
	}
	c, err := github.New(github.Config{BaseURL: base, Token: token, Owner: owner, Repo: repo, HTTP: h})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchFixture replays a documented-shape GraphQL answer: an issue, a
// NOT_FOUND issue (confirmed deleted by REST's 410), a merged pull request
// and a repository that does not exist.
func TestFetchFixture(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.fail(scripted{status: 200, body: string(fixture(t, "graphql_batch.json"))})
	f.deleted["octo-org/octo-repo#9999"] = true
	c := newClient(t, f, &sleeps{}, "", "")
	refs := []string{"octo-org/octo-repo#1347", "octo-org/octo-repo#9999", "https://github.com/octo-org/octo-repo/pull/1348", "octo-org/gone#1"}
	res, err := c.Fetch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []tracker.Result{
		{Ref: refs[0], Issue: &tracker.Issue{
			ID: "1347", Key: "octo-org/octo-repo#1347", Title: "Found a bug",
			Description: "I'm having a problem with this.\n\nSteps:\n1. Open the app",
			Status:      "open",
			Type:        &tracker.IssueType{ID: "IT_kwDOA8aKxM4AAbc1", Name: "Bug"},
			Assignee:    &tracker.Person{ID: "octocat", Name: "The Octocat", Email: "octocat@github.com"},
			Reporter:    &tracker.Person{ID: "hubot", Name: "Hubot"},
			Labels:      []string{"bug", "good first issue"},
			CustomFields: map[string]any{"_github_owner": "octo-org", "_github_repo": "octo-repo",
				"_github_node_id": "I_kwDOA8aKxM5G9Wxy"},
			CreatedAt: time.Date(2011, 4, 22, 13, 33, 48, 0, time.UTC),
			UpdatedAt: time.Date(2011, 4, 23, 9, 0, 0, 0, time.UTC),
			URL:       "https://github.com/octo-org/octo-repo/issues/1347",
		}},
		{Ref: refs[1]},
		{Ref: refs[2], Issue: &tracker.Issue{
			ID: "1348", Key: "octo-org/octo-repo#1348", Title: "Fix the bug", Description: "Fixes #1347",
			Status:   "closed",
			Reporter: &tracker.Person{ID: "dependabot", Name: "dependabot"},
			CustomFields: map[string]any{"_github_owner": "octo-org", "_github_repo": "octo-repo",
				"_github_node_id": "PR_kwDOA8aKxM5Hx7Qa", "_github_pull_request": true},
			CreatedAt: time.Date(2011, 4, 24, 10, 0, 0, 0, time.UTC),
			UpdatedAt: time.Date(2011, 4, 25, 11, 30, 0, 0, time.UTC),
			URL:       "https://github.com/octo-org/octo-repo/pull/1348",
		}},
		{Ref: refs[3]},
	}
	for _, i := range []int{1, 3} {
		if !errors.Is(res[i].Err, tracker.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", refs[i], res[i].Err)
		}
		res[i].Err = nil
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// One GraphQL query; REST only for the unresolved issue, not for the
	// missing repository.
	gql := f.calls("/graphql")
	if len(gql) != 1 || f.total() != 2 {
		t.Fatalf("requests = %d, GraphQL = %d; want 1 GraphQL + 1 REST", f.total(), len(gql))
	}
	if rest := f.calls("/repos/"); len(rest) != 1 || rest[0].Path != "/repos/octo-org/octo-repo/issues/9999" {
		t.Errorf("REST requests = %+v", rest)
	}
	q := gql[0]
	if q.Auth != "Bearer ghp_test123" || q.Accept != "application/vnd.github+json" || q.APIVersion != "2022-11-28" {
		t.Errorf("headers: %q %q %q", q.Auth, q.Accept, q.APIVersion)
	}
	wantVars := map[string]any{"o0": "octo-org", "n0": "octo-repo", "o1": "octo-org", "n1": "gone"}
	if diff := cmp.Diff(wantVars, q.Variables); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
	for _, s := range []string{"i0: issueOrPullRequest(number: 1347)", "i2: issueOrPullRequest(number: 1348)", "i3: issueOrPullRequest(number: 1)", "stateReason", "issueType"} {
		if !strings.Contains(q.Query, s) {
			t.Errorf("query lacks %q:\n%s", s, q.Query)
		}
	}
}

// TestFetchBatch: 120 refs in two repositories cost 3 GraphQL requests.
func TestFetchBatch(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.add("octo-org", "octo-repo", seq(1, 60)...)
	f.add("octo-org", "tools", seq(1, 60)...)
	c := newClient(t, f, &sleeps{}, "octo-org", "octo-repo")
	refs := append(numbered("#", 1, 60), numbered("octo-org/tools#", 1, 60)...)
	check := func(res []tracker.Result) {
		t.Helper()
		for i, r := range res {
			if r.Err != nil || r.Issue == nil || r.Ref != refs[i] {
				t.Fatalf("result %d = %+v", i, r)
			}
			wantKey := "octo-org/octo-repo#" + strconv.Itoa(i+1)
			if i >= 60 {
				wantKey = "octo-org/tools#" + strconv.Itoa(i-59)
			}
			if r.Issue.Key != wantKey || r.Issue.ID != strings.TrimPrefix(wantKey[strings.Index(wantKey, "#"):], "#") {
				t.Errorf("result %d: %s (%s), want %s", i, r.Issue.Key, r.Issue.ID, wantKey)
			}
		}
	}
	ctx := context.Background()
	var all []tracker.Result
	for start := 0; start < len(refs); start += c.BatchSize() {
		res, err := c.Fetch(ctx, refs[start:min(start+c.BatchSize(), len(refs))])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res...)
	}
	check(all)
	if got := f.total(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	res, err := c.Fetch(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	check(res)
	if got := f.total(); got != 6 {
		t.Errorf("requests = %d, want 6", got)
	}
}

func TestFetchRefForms(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.add("octo-org", "octo-repo", seq(1, 6)...)
	c := newClient(t, f, &sleeps{}, "octo-org", "octo-repo")
	refs := []string{
		"octo-org/octo-repo#1", "#2", " 3 ",
		"https://github.com/octo-org/octo-repo/issues/4",
		"https://ghe.example.com/octo-org/octo-repo/issues/5",
		"https://api.github.com/repos/octo-org/octo-repo/issues/6",
		"Octo-Org/Octo-Repo#1",
	}
	bad := []string{"abc", "octo-org/octo-repo#0", "octo-org/octo-repo#x", "o/r/x#1", "https://github.com/octo-org/octo-repo/wiki/1", "#99999999999"}
	res, err := c.Fetch(context.Background(), append(refs, bad...))
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range refs {
		n := i + 1
		if i == 6 {
			n = 1
		}
		if r := res[i]; r.Err != nil || r.Issue == nil || r.Issue.ID != strconv.Itoa(n) || r.Ref != ref {
			t.Errorf("%q = %+v", ref, r)
		}
	}
	for i, ref := range bad {
		if r := res[len(refs)+i]; !errors.Is(r.Err, tracker.ErrNotFound) {
			t.Errorf("%q = %+v, want ErrNotFound", ref, r)
		}
	}
	gql := f.calls("/graphql")
	if len(gql) != 1 || f.total() != 1 {
		t.Fatalf("requests = %d", f.total())
	}
	if n := strings.Count(gql[0].Query, "issueOrPullRequest"); n != 6 {
		t.Errorf("query asks for %d issues, want 6 (duplicates merged)", n)
	}

	// Without a default repository a bare number is an error for that ref
	// alone, and not "not found".
	c = newClient(t, f, &sleeps{}, "", "")
	res, err = c.Fetch(context.Background(), []string{"7", "octo-org/octo-repo#1"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || errors.Is(res[0].Err, tracker.ErrNotFound) || !strings.Contains(res[0].Err.Error(), "no default") {
		t.Errorf("bare ref without default: %v", res[0].Err)
	}
	if res[1].Issue == nil {
		t.Errorf("second ref: %+v", res[1])
	}
}

// TestFetchDeleted: one deleted issue is ErrNotFound for its ref only.
func TestFetchDeleted(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.add("octo-org", "octo-repo", seq(1, 5)...)
	f.deleted["octo-org/octo-repo#3"] = true
	c := newClient(t, f, &sleeps{}, "octo-org", "octo-repo")
	res, err := c.Fetch(context.Background(), numbered("", 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 2 {
			if !errors.Is(r.Err, tracker.ErrNotFound) || r.Issue != nil {
				t.Errorf("#3 = %+v, want ErrNotFound", r)
			}
			continue
		}
		if r.Err != nil || r.Issue == nil {
			t.Errorf("#%d = %+v", i+1, r)
		}
	}
	if got := f.total(); got != 2 {
		t.Errorf("requests = %d, want 2 (GraphQL, REST for #3)", got)
	}
}

// TestFetchTransferred: GraphQL cannot resolve a transferred issue; REST
// follows the 301 and the issue comes back with its new repository.
func TestFetchTransferred(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.add("octo-org", "octo-repo", 1)
	f.add("octo-org", "new-home", 42)
	f.transferred["octo-org/octo-repo#7"] = "octo-org/new-home#42"
	c := newClient(t, f, &sleeps{}, "octo-org", "octo-repo")
	res, err := c.Fetch(context.Background(), []string{"1", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := &tracker.Issue{
		ID: "42", Key: "octo-org/new-home#42", Title: "Issue 42 of new-home",
		Description: "I'm having a problem with this.", Status: "closed",
		Type:     &tracker.IssueType{ID: "410", Name: "Bug"},
		Assignee: &tracker.Person{ID: "octocat", Name: "octocat"},
		Reporter: &tracker.Person{ID: "octocat", Name: "octocat"},
		Labels:   []string{"bug"},
		CustomFields: map[string]any{"_github_owner": "octo-org", "_github_repo": "new-home",
			"_github_node_id": "MDU6SXNzdWUx", "_github_state_reason": "completed"},
		CreatedAt: time.Date(2011, 4, 22, 13, 33, 48, 0, time.UTC),
		UpdatedAt: time.Date(2011, 4, 23, 10, 0, 0, 0, time.UTC),
		URL:       "https://github.com/octo-org/new-home/issues/42",
	}
	if res[1].Err != nil {
		t.Fatal(res[1].Err)
	}
	if diff := cmp.Diff(want, res[1].Issue); diff != "" {
		t.Errorf("transferred issue (-want +got):\n%s", diff)
	}
	if res[0].Issue == nil {
		t.Errorf("#1 = %+v", res[0])
	}
}

func TestFetchForbiddenRepository(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.fail(scripted{status: 200, body: string(fixture(t, "graphql_forbidden.json"))})
	c := newClient(t, f, &sleeps{}, "saml-org", "repo")
	res, err := c.Fetch(context.Background(), []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err == nil || errors.Is(r.Err, tracker.ErrNotFound) || !strings.Contains(r.Err.Error(), "SAML") {
			t.Errorf("%s: err = %v, want the FORBIDDEN message", r.Ref, r.Err)
		}
	}
	if got := f.total(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestFetchRateLimited(t *testing.T) {
	t.Run("GraphQL RATE_LIMITED", func(t *testing.T) {
		f := newFakeGitHub(t, false)
		reset := time.Now().Add(2 * time.Minute).Unix()
		f.fail(scripted{status: 200, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)},
			body: string(fixture(t, "graphql_rate_limited.json"))})
		_, err := newClient(t, f, &sleeps{}, "o", "r").Fetch(context.Background(), []string{"1"})
		rl, ok := errors.AsType[*tracker.RateLimitError](err)
		if !ok || rl.RetryAfter < 100*time.Second || rl.RetryAfter > 2*time.Minute {
			t.Fatalf("err = %v, want RateLimitError after about 2m", err)
		}
	})
	t.Run("403 primary limit", func(t *testing.T) {
		f := newFakeGitHub(t, false)
		reset := time.Now().Add(time.Hour).Unix()
		f.fail(scripted{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset, 10)},
			body: `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`})
		_, err := newClient(t, f, &sleeps{}, "o", "r").Fetch(context.Background(), []string{"1"})
		rl, ok := errors.AsType[*tracker.RateLimitError](err)
		if !ok || rl.RetryAfter < 59*time.Minute {
			t.Fatalf("err = %v, want RateLimitError after about 1h", err)
		}
		if errors.Is(err, tracker.ErrUnauthorized) {
			t.Error("rate limit reads as ErrUnauthorized")
		}
	})
	t.Run("429 with Retry-After then success", func(t *testing.T) {
		f := newFakeGitHub(t, false)
		f.add("o", "r", 1)
		f.fail(scripted{status: 429, header: map[string]string{"Retry-After": "4"}, body: `{"message":"You have exceeded a secondary rate limit."}`})
		var sl sleeps
		res, err := newClient(t, f, &sl, "o", "r").Fetch(context.Background(), []string{"1"})
		if err != nil || res[0].Issue == nil {
			t.Fatalf("Fetch = %+v, %v", res, err)
		}
		if got := sl.all(); len(got) != 1 || got[0] != 4*time.Second {
			t.Errorf("waits = %v, want [4s]", got)
		}
	})
}

func TestFetch5xxThenSuccess(t *testing.T) {
	f := newFakeGitHub(t, false)
	f.add("o", "r", 1)
	f.fail(scripted{status: 502, body: `{"data":null,"errors":[{"message":"Something went wrong while executing your query. This may be the result of a timeout, or it could be a GitHub bug."}]}`})
	var sl sleeps
	res, err := newClient(t, f, &sl, "o", "r").Fetch(context.Background(), []string{"1"})
	if err != nil || res[0].Issue == nil {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	if got := f.total(); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
	if got := len(sl.all()); got != 1 {
		t.Errorf("waits = %d, want 1", got)
	}
}

func TestFetchUnauthorized(t *testing.T) {
	f := newFakeGitHub(t, false)
	c := newClientToken(t, f, &sleeps{}, "ghp_wrong", "o", "r")
	_, err := c.Fetch(context.Background(), []string{"1"})
	if !errors.Is(err, tracker.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "ghp_wrong") {
		t.Errorf("err %q shows the token", err)
	}
}

// TestFetchGHE: a GitHub Enterprise Server base URL sends GraphQL to
// /api/graphql and REST under /api/v3; an older server that lacks
// issueType is asked once more without it, and then never again.
func TestFetchGHE(t *testing.T) {
	f := newFakeGitHub(t, true)
	f.oldGHE = true
	f.add("eng", "app", 1, 2)
	c := newClient(t, f, &sleeps{}, "eng", "app")
	for range 2 {
		res, err := c.Fetch(context.Background(), []string{"1", "2", "3"})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Issue == nil || res[1].Issue == nil || !errors.Is(res[2].Err, tracker.ErrNotFound) {
			t.Fatalf("results = %+v", res)
		}
	}
	gql := f.calls("/api/graphql")
	rest := f.calls("/api/v3/repos/eng/app/issues/3")
	// First Fetch: refused query, basic query, REST for #3; second: basic
	// query, REST for #3.
	if len(gql) != 3 || len(rest) != 2 || f.total() != 5 {
		t.Errorf("requests = %d: GraphQL %d, REST %d", f.total(), len(gql), len(rest))
	}
	if strings.Contains(gql[2].Query, "issueType") {
		t.Error("the second Fetch asked for issueType again")
	}
}

// rewrite sends every request to srv, recording the URL asked for.
type rewrite struct {
	srv  string
	mu   sync.Mutex
	seen []string
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.seen = append(r.seen, req.URL.String())
	r.mu.Unlock()
	u, _ := url.Parse(r.srv)
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = u.Scheme, u.Host
	return http.DefaultTransport.RoundTrip(req)
}

func TestEndpoints(t *testing.T) {
	for _, tc := range []struct {
		base, graphql, rest string
	}{
		{"", "https://api.github.com/graphql", "https://api.github.com/repos/o/r/issues/1"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql", "https://ghe.example.com/api/v3/repos/o/r/issues/1"},
		{"https://ghe.example.com", "https://ghe.example.com/api/graphql", "https://ghe.example.com/api/v3/repos/o/r/issues/1"},
		{"https://api.acme.ghe.com", "https://api.acme.ghe.com/graphql", "https://api.acme.ghe.com/repos/o/r/issues/1"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			// The fake answers every request with a NOT_FOUND issue, then
			// a 404: one GraphQL and one REST request.
			srv := newFakeGitHub(t, false)
			srv.repos["o/r"] = true
			srv.fail(scripted{status: 200, body: `{"data":{"r0":{"i0":null}},"errors":[{"type":"NOT_FOUND","path":["r0","i0"],"message":"Could not resolve to an issue or pull request with the number of 1."}]}`})
			rt := &rewrite{srv: srv.srv.URL}
			h := httpFor(&sleeps{})
			h.Client = &http.Client{Transport: rt}
			c, err := github.New(github.Config{BaseURL: tc.base, Token: srv.token, Owner: "o", Repo: "r", HTTP: h})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Fetch(context.Background(), []string{"1"})
			if err != nil || !errors.Is(res[0].Err, tracker.ErrNotFound) {
				t.Fatalf("Fetch = %+v, %v", res, err)
			}
			rt.mu.Lock()
			defer rt.mu.Unlock()
			if want := []string{tc.graphql, tc.rest}; !cmp.Equal(want, rt.seen) {
				t.Errorf("URLs = %v, want %v", rt.seen, want)
			}
		})
	}
}

// TestFetchWrongBaseURL: a 404 from the GraphQL endpoint is a broken
// integration, not a missing issue.
func TestFetchWrongBaseURL(t *testing.T) {
	f := newFakeGitHub(t, true)
	c, err := github.New(github.Config{BaseURL: f.srv.URL + "/nope/api/v3", Token: f.token, Owner: "o", Repo: "r", HTTP: httpFor(&sleeps{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), []string{"1"})
	if err == nil || errors.Is(err, tracker.ErrNotFound) || !strings.Contains(err.Error(), "check BaseURL") {
		t.Fatalf("err = %v, want a BaseURL error that is not ErrNotFound", err)
	}
}
