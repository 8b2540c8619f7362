package jira_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/tracker/jira"
)

func TestNewValidation(t *testing.T) {
	const secret = "tok-s3cret"
	for _, tc := range []struct {
		name string
		cfg  jira.Config
		want string // substring of the error; "" for success
	}{
		{"cloud", jira.Config{BaseURL: "https://acme.atlassian.net/", Email: "a@b.c", APIToken: secret}, ""},
		{"server", jira.Config{BaseURL: "https://jira.example.com/jira", PersonalAccessToken: secret}, ""},
		{"oauth without BaseURL", jira.Config{OAuth: &jira.OAuth{AccessToken: secret}}, ""},
		{"no credentials", jira.Config{BaseURL: "https://acme.atlassian.net"}, "no credentials"},
		{"two modes", jira.Config{BaseURL: "https://acme.atlassian.net", Email: "a@b.c", APIToken: secret, PersonalAccessToken: secret}, "only one of"},
		{"no email", jira.Config{BaseURL: "https://acme.atlassian.net", APIToken: secret}, "Email is required"},
		{"no BaseURL", jira.Config{Email: "a@b.c", APIToken: secret}, "BaseURL is required"},
		{"relative BaseURL", jira.Config{BaseURL: "acme.atlassian.net", PersonalAccessToken: secret}, "BaseURL must be an absolute"},
		{"BaseURL with user info", jira.Config{BaseURL: "https://me:" + secret + "@jira.example.com", PersonalAccessToken: "x"}, "BaseURL must not hold"},
		{"oauth without tokens", jira.Config{OAuth: &jira.OAuth{ClientID: "id", ClientSecret: secret}}, "OAuth.AccessToken or OAuth.RefreshToken"},
		{"oauth refresh only without client", jira.Config{OAuth: &jira.OAuth{RefreshToken: secret}}, "OAuth.ClientID and OAuth.ClientSecret"},
		{"oauth bad TokenURL", jira.Config{OAuth: &jira.OAuth{AccessToken: secret, TokenURL: "/token"}}, "OAuth.TokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := jira.New(tc.cfg)
			if tc.want == "" {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v", c, err)
				}
				if c.BatchSize() != 50 {
					t.Errorf("BatchSize = %d", c.BatchSize())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("err %q shows the secret", err)
			}
		})
	}
}

func cloudClient(t *testing.T, f *fakeJira, sl *sleeps) *jira.Client {
	t.Helper()
	c, err := jira.New(jira.Config{BaseURL: f.srv.URL, Email: "mia@example.com", APIToken: "api-token-1", HTTP: httpFor(sl)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serverClient(t *testing.T, f *fakeJira, sl *sleeps) *jira.Client {
	t.Helper()
	c, err := jira.New(jira.Config{BaseURL: f.srv.URL + "/", PersonalAccessToken: "pat-1", HTTP: httpFor(sl)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFetchCloudFixtures replays Atlassian's documented enhanced-search
// pages and checks the request (Basic auth, REST v3, fields, page token) and
// the normalized issues, ADF description included.
func TestFetchCloudFixtures(t *testing.T) {
	f := newFakeJira(t, 0)
	f.fail(
		scripted{status: 200, body: string(fixture(t, "search_jql_page1.json"))},
		scripted{status: 200, body: string(fixture(t, "search_jql_page2.json"))},
	)
	c := cloudClient(t, f, &sleeps{})
	res, err := c.Fetch(context.Background(), []string{"ED-1", "10003"})
	if err != nil {
		t.Fatal(err)
	}
	site := f.srv.URL
	want := []tracker.Result{
		{Ref: "ED-1", Issue: &tracker.Issue{
			ID: "10002", Key: "ED-1", Title: "Login fails with SSO",
			Description: "Steps\n" +
				"1. Open the login page\n" +
				"2. Click Sign in with SSO\n" +
				"   - as @Mia Krystof\n" +
				"Expected: dashboard\nActual: error ⚠️\n" +
				"HTTP 500\nInternal Server Error\n" +
				"Seen on 2020-02-19, see https://example.com/log/1 BLOCKED\n" +
				"---\n" +
				"Browser | Result\n" +
				"Firefox | fails\n" +
				"Workaround: use password login.",
			Status: "In Progress", Priority: "High",
			Type:     &tracker.IssueType{ID: "10004", Name: "Bug", IconURL: "https://your-domain.atlassian.net/rest/api/2/universal_avatar/view/type/issuetype/avatar/10303?size=medium"},
			Assignee: &tracker.Person{ID: "5b10a2844c20165700ede21g", Name: "Mia Krystof", Email: "mia@example.com"},
			Reporter: &tracker.Person{ID: "5b10ac8d82e05b22cc7d4ef5", Name: "Emma Richards"},
			Labels:   []string{"login", "sso"},
			CustomFields: map[string]any{"customfield_10020": []any{map[string]any{
				"id": float64(1), "name": "Sprint 1", "state": "active", "boardId": float64(1)}}},
			CreatedAt: time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC),
			UpdatedAt: time.Date(2024, 3, 3, 22, 30, 0, 123e6, time.UTC),
			URL:       site + "/browse/ED-1",
		}},
		{Ref: "10003", Issue: &tracker.Issue{
			ID: "10003", Key: "ED-2", Title: "Typo on the settings page", Status: "To Do",
			Type:      &tracker.IssueType{ID: "10001", Name: "Task", IconURL: "https://your-domain.atlassian.net/rest/api/2/universal_avatar/view/type/issuetype/avatar/10318?size=medium"},
			Reporter:  &tracker.Person{ID: "5b10ac8d82e05b22cc7d4ef5", Name: "Emma Richards"},
			CreatedAt: time.Date(2024, 2, 10, 8, 0, 0, 0, time.UTC),
			UpdatedAt: time.Date(2024, 2, 10, 8, 0, 0, 0, time.UTC),
			URL:       site + "/browse/ED-2",
		}},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if loc := res[0].Issue.UpdatedAt.Location(); loc != time.UTC {
		t.Errorf("UpdatedAt in %v, want UTC", loc)
	}

	calls := f.calls("/rest/api/3/search/jql")
	if len(calls) != 2 {
		t.Fatalf("search requests = %d, want 2 (two pages)", len(calls))
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("mia@example.com:api-token-1"))
	for i, r := range calls {
		if r.Method != "POST" || r.Auth != wantAuth {
			t.Errorf("request %d: %s with %q", i, r.Method, r.Auth)
		}
		if got := r.Body["jql"]; got != `id in (10003) OR key in ("ED-1")` {
			t.Errorf("request %d: jql = %v", i, got)
		}
		if got := r.Body["maxResults"]; got != float64(2) {
			t.Errorf("request %d: maxResults = %v", i, got)
		}
	}
	if _, ok := calls[0].Body["nextPageToken"]; ok {
		t.Error("first page sent a nextPageToken")
	}
	if got := calls[1].Body["nextPageToken"]; got != "CAEaAggD" {
		t.Errorf("second page nextPageToken = %v, want CAEaAggD", got)
	}
}

// TestFetchServerPAT checks the Server / Data Center path: Bearer PAT,
// REST v2 search with startAt, plain-text description, user name as id.
func TestFetchServerPAT(t *testing.T) {
	f := newFakeJira(t, 0)
	f.fail(scripted{status: 200, body: string(fixture(t, "search_v2.json"))})
	c := serverClient(t, f, &sleeps{})
	res, err := c.Fetch(context.Background(), []string{"ops-7"})
	if err != nil {
		t.Fatal(err)
	}
	want := []tracker.Result{{Ref: "ops-7", Issue: &tracker.Issue{
		ID: "10100", Key: "OPS-7", Title: "Nightly backup job times out",
		Description: "The backup job started at 02:00 and was killed at 04:00.\r\n\r\n*Steps*\r\n# Run backup.sh\r\n# Wait",
		Status:      "Open", Priority: "Medium",
		Type:      &tracker.IssueType{ID: "1", Name: "Bug", IconURL: "https://jira.example.com/secure/viewavatar?size=xsmall&avatarId=10303&avatarType=issuetype"},
		Assignee:  &tracker.Person{ID: "jsmith", Name: "John Smith", Email: "jsmith@example.com"},
		Reporter:  &tracker.Person{ID: "admin", Name: "Administrator", Email: "admin@example.com"},
		Labels:    []string{"backup"},
		CreatedAt: time.Date(2023, 11, 20, 9, 15, 30, 0, time.UTC),
		UpdatedAt: time.Date(2023, 11, 21, 7, 0, 0, 0, time.UTC),
		URL:       f.srv.URL + "/browse/OPS-7",
	}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	calls := f.calls("/rest/api/2/search")
	if len(calls) != 1 || f.total() != 1 {
		t.Fatalf("requests = %d (search %d), want 1 search", f.total(), len(calls))
	}
	r := calls[0]
	if r.Auth != "Bearer pat-1" {
		t.Errorf("Authorization = %q, want Bearer pat-1", r.Auth)
	}
	if r.Body["jql"] != `key in ("OPS-7")` || r.Body["startAt"] != float64(0) {
		t.Errorf("body = %v", r.Body)
	}
}

func refsN(from, to int) []string {
	var refs []string
	for i := from; i <= to; i++ {
		refs = append(refs, "PROJ-"+strconv.Itoa(i))
	}
	return refs
}

func checkAll(t *testing.T, refs []string, res []tracker.Result) {
	t.Helper()
	if len(res) != len(refs) {
		t.Fatalf("%d results for %d refs", len(res), len(refs))
	}
	for i, r := range res {
		if r.Ref != refs[i] || r.Err != nil || r.Issue == nil || !strings.EqualFold(r.Issue.Key, refs[i]) && r.Issue.ID != refs[i] {
			t.Errorf("result %d = %+v, want %s", i, r, refs[i])
		}
	}
}

// TestFetchBatches checks that issues are searched in batches: 120 refs cost
// 3 requests, not 120.
func TestFetchBatches(t *testing.T) {
	refs := refsN(1, 120)
	for _, mode := range []string{"cloud", "server"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeJira(t, 120)
			c := cloudClient(t, f, &sleeps{})
			if mode == "server" {
				c = serverClient(t, f, &sleeps{})
			}
			ctx := context.Background()
			for start := 0; start < len(refs); start += c.BatchSize() {
				batch := refs[start:min(start+c.BatchSize(), len(refs))]
				res, err := c.Fetch(ctx, batch)
				if err != nil {
					t.Fatal(err)
				}
				checkAll(t, batch, res)
			}
			if got := f.total(); got != 3 {
				t.Errorf("requests = %d, want 3", got)
			}
			// One call with more than BatchSize refs is split too.
			res, err := c.Fetch(ctx, refs)
			if err != nil {
				t.Fatal(err)
			}
			checkAll(t, refs, res)
			if got := f.total(); got != 6 {
				t.Errorf("requests = %d, want 6", got)
			}
		})
	}
}

// TestFetchPagination makes the server return at most 20 issues a page.
func TestFetchPagination(t *testing.T) {
	refs := refsN(1, 50)
	for _, mode := range []string{"cloud", "server"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeJira(t, 50)
			f.pageCap = 20
			c := cloudClient(t, f, &sleeps{})
			path := "/rest/api/3/search/jql"
			if mode == "server" {
				c = serverClient(t, f, &sleeps{})
				path = "/rest/api/2/search"
			}
			res, err := c.Fetch(context.Background(), refs)
			if err != nil {
				t.Fatal(err)
			}
			checkAll(t, refs, res)
			calls := f.calls(path)
			if len(calls) != 3 || f.total() != 3 {
				t.Fatalf("requests = %d, searches = %d, want 3 pages", f.total(), len(calls))
			}
			if mode == "cloud" {
				if calls[1].Body["nextPageToken"] != "tok-20" || calls[2].Body["nextPageToken"] != "tok-40" {
					t.Errorf("page tokens = %v, %v", calls[1].Body["nextPageToken"], calls[2].Body["nextPageToken"])
				}
			} else if calls[1].Body["startAt"] != float64(20) || calls[2].Body["startAt"] != float64(40) {
				t.Errorf("startAt = %v, %v", calls[1].Body["startAt"], calls[2].Body["startAt"])
			}
		})
	}
}

// TestFetchDeletedIssue: Jira refuses `key in (...)` naming a deleted issue
// with 400; the others are searched again, the deleted one is fetched alone
// and is ErrNotFound for its ref only.
func TestFetchDeletedIssue(t *testing.T) {
	for _, mode := range []string{"cloud", "server"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeJira(t, 5)
			f.remove("PROJ-2")
			c := cloudClient(t, f, &sleeps{})
			if mode == "server" {
				c = serverClient(t, f, &sleeps{})
			}
			refs := []string{"PROJ-1", "PROJ-2", "20003", "PROJ-4"}
			res, err := c.Fetch(context.Background(), refs)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if i == 1 {
					if !errors.Is(r.Err, tracker.ErrNotFound) || r.Issue != nil {
						t.Errorf("PROJ-2: %+v, want ErrNotFound", r)
					}
					continue
				}
				if r.Err != nil || r.Issue == nil || r.Ref != refs[i] {
					t.Errorf("%s: %+v", refs[i], r)
				}
			}
			if res[2].Issue.Key != "PROJ-3" {
				t.Errorf("id 20003 gave %s", res[2].Issue.Key)
			}
			// search refused, search again, GET PROJ-2.
			if got := f.total(); got != 3 {
				t.Errorf("requests = %d, want 3", got)
			}
			if got := f.calls("/issue/PROJ-2"); len(got) != 1 {
				t.Errorf("GET PROJ-2 = %d", len(got))
			}
		})
	}
}

// TestFetchMissingNotNamed: when the 400 does not name the missing issue
// (another language), each ref is fetched alone.
func TestFetchMissingNotNamed(t *testing.T) {
	f := newFakeJira(t, 4)
	f.remove("PROJ-3")
	f.localized = true
	c := cloudClient(t, f, &sleeps{})
	res, err := c.Fetch(context.Background(), refsN(1, 4))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if (i == 2) != errors.Is(r.Err, tracker.ErrNotFound) || (i != 2) != (r.Issue != nil) {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if got := len(f.calls("/issue/")); got != 4 {
		t.Errorf("GETs = %d, want 4", got)
	}
}

// TestFetchSilentlyMissing: a search that leaves a missing issue out (no
// 400) still ends in ErrNotFound for that ref.
func TestFetchSilentlyMissing(t *testing.T) {
	f := newFakeJira(t, 3)
	f.remove("PROJ-2")
	f.silentMissing = true
	c := cloudClient(t, f, &sleeps{})
	res, err := c.Fetch(context.Background(), refsN(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, tracker.ErrNotFound) || res[0].Issue == nil || res[2].Issue == nil {
		t.Errorf("results = %+v", res)
	}
	if got := f.total(); got != 2 {
		t.Errorf("requests = %d, want 2 (search, GET PROJ-2)", got)
	}
}

// TestFetchMovedIssue: a moved issue comes back under its new key; it is
// matched to the old ref by a GET.
func TestFetchMovedIssue(t *testing.T) {
	f := newFakeJira(t, 2)
	f.add("30005", "NEW-5")
	f.moved["OLD-1"] = "NEW-5"
	c := cloudClient(t, f, &sleeps{})
	res, err := c.Fetch(context.Background(), []string{"PROJ-1", "OLD-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Err != nil || res[1].Issue == nil || res[1].Issue.Key != "NEW-5" || res[1].Ref != "OLD-1" {
		t.Errorf("OLD-1 = %+v", res[1])
	}
	if res[0].Issue == nil || res[0].Issue.Key != "PROJ-1" {
		t.Errorf("PROJ-1 = %+v", res[0])
	}
}

func TestFetchRefForms(t *testing.T) {
	f := newFakeJira(t, 3)
	c := cloudClient(t, f, &sleeps{})
	refs := []string{"proj-1", "PROJ-1", " 20002 ", "not a key", "PROJ-1 OR project = X", ""}
	res, err := c.Fetch(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if res[i].Issue == nil || res[i].Err != nil || res[i].Ref != refs[i] {
			t.Errorf("%q = %+v", refs[i], res[i])
		}
	}
	for i := 3; i < len(refs); i++ {
		if !errors.Is(res[i].Err, tracker.ErrNotFound) {
			t.Errorf("%q = %+v, want ErrNotFound", refs[i], res[i])
		}
	}
	calls := f.calls("/search/jql")
	if len(calls) != 1 || f.total() != 1 {
		t.Fatalf("requests = %d", f.total())
	}
	if got := calls[0].Body["jql"]; got != `id in (20002) OR key in ("PROJ-1")` {
		t.Errorf("jql = %v", got)
	}
	// Nothing valid: no request at all.
	if _, err := c.Fetch(context.Background(), []string{"nope"}); err != nil || f.total() != 1 {
		t.Errorf("err = %v, requests = %d", err, f.total())
	}
}

func TestFetchRetries(t *testing.T) {
	t.Run("429 with Retry-After", func(t *testing.T) {
		f := newFakeJira(t, 2)
		f.fail(scripted{status: 429, header: map[string]string{"Retry-After": "3"}, body: "Rate limit exceeded"})
		var sl sleeps
		res, err := cloudClient(t, f, &sl).Fetch(context.Background(), refsN(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		checkAll(t, refsN(1, 2), res)
		if got := sl.all(); len(got) != 1 || got[0] != 3*time.Second {
			t.Errorf("waits = %v, want [3s]", got)
		}
		if got := f.total(); got != 2 {
			t.Errorf("requests = %d, want 2", got)
		}
	})
	t.Run("503 then success", func(t *testing.T) {
		f := newFakeJira(t, 2)
		f.fail(scripted{status: 503, body: "<html>Service Unavailable</html>"}, scripted{status: 502})
		var sl sleeps
		res, err := serverClient(t, f, &sl).Fetch(context.Background(), refsN(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		checkAll(t, refsN(1, 2), res)
		if got := len(sl.all()); got != 2 {
			t.Errorf("waits = %d, want 2", got)
		}
	})
	t.Run("persistent 429", func(t *testing.T) {
		f := newFakeJira(t, 2)
		f.fail(slicesRepeat(scripted{status: 429, header: map[string]string{"Retry-After": "600"}}, 5)...)
		_, err := cloudClient(t, f, &sleeps{}).Fetch(context.Background(), refsN(1, 2))
		if rl, ok := errors.AsType[*tracker.RateLimitError](err); !ok || rl.RetryAfter != 10*time.Minute {
			t.Fatalf("err = %v, want RateLimitError after 10m", err)
		}
	})
}

func slicesRepeat(s scripted, n int) []scripted {
	out := make([]scripted, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestFetchUnauthorized(t *testing.T) {
	for _, mode := range []string{"cloud", "server"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeJira(t, 2)
			f.auth = func(string) bool { return false }
			c := cloudClient(t, f, &sleeps{})
			if mode == "server" {
				c = serverClient(t, f, &sleeps{})
			}
			_, err := c.Fetch(context.Background(), refsN(1, 2))
			if !errors.Is(err, tracker.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			for _, secret := range []string{"api-token-1", "pat-1", base64.StdEncoding.EncodeToString([]byte("mia@example.com:api-token-1"))} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err %q shows a credential", err)
				}
			}
			if got := f.total(); got != 1 {
				t.Errorf("requests = %d, want 1", got)
			}
		})
	}
}

func TestFetchContextCanceled(t *testing.T) {
	f := newFakeJira(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := cloudClient(t, f, &sleeps{}).Fetch(ctx, refsN(1, 2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestFetchWrongBaseURL: a 404 from the search endpoint is a broken
// integration, not a missing issue.
func TestFetchWrongBaseURL(t *testing.T) {
	f := newFakeJira(t, 1)
	c, err := jira.New(jira.Config{BaseURL: f.srv.URL + "/nope", PersonalAccessToken: "pat-1", HTTP: httpFor(&sleeps{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), refsN(1, 1))
	if err == nil || errors.Is(err, tracker.ErrNotFound) || !strings.Contains(err.Error(), "check BaseURL") {
		t.Fatalf("err = %v, want a BaseURL error that is not ErrNotFound", err)
	}
}

// TestFetchPaginationStops: a search that hands back the same page token
// is not followed forever; what it did not return is fetched alone.
func TestFetchPaginationStops(t *testing.T) {
	f := newFakeJira(t, 2)
	loop := scripted{status: 200, body: `{"issues":[],"nextPageToken":"same","isLast":false}`}
	f.fail(loop, loop)
	res, err := cloudClient(t, f, &sleeps{}).Fetch(context.Background(), refsN(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, refsN(1, 2), res)
	if got := len(f.calls("/search/jql")); got != 2 {
		t.Errorf("searches = %d, want 2", got)
	}
}
