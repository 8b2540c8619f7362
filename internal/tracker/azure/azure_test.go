package azure_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/tracker/azure"
)

const (
	testPAT     = "x7k2-secret-pat-value"
	testProject = "Fabrikam-Fiber-Git"
)

// call is one request the fake Azure DevOps received.
type call struct {
	Method, Path, Query string
	Header              http.Header
	Body                struct {
		IDs         []int  `json:"ids"`
		Expand      string `json:"$expand"`
		ErrorPolicy string `json:"errorPolicy"`
	}
}

// fake is an Azure DevOps organization behind httptest: each request is
// recorded and answered by respond (n counts from 0).
type fake struct {
	srv     *httptest.Server
	mu      sync.Mutex
	calls   []call
	respond func(w http.ResponseWriter, c call, n int)
}

func newFake(t *testing.T, respond func(w http.ResponseWriter, c call, n int)) *fake {
	t.Helper()
	f := &fake{respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := call{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone()}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &c.Body); err != nil {
			t.Errorf("request body %q: %v", b, err)
		}
		f.mu.Lock()
		n := len(f.calls)
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		f.respond(w, c, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fake) orgURL() string { return f.srv.URL + "/fabrikam" }

// sleeps records the waits tracker.HTTP asks for instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func newClient(t *testing.T, f *fake, s *sleeps) *azure.Client {
	t.Helper()
	c, err := azure.New(azure.Config{
		OrganizationURL: f.orgURL() + "/",
		Project:         testProject,
		PAT:             testPAT,
		HTTP: &tracker.HTTP{
			Provider:  "azure-devops",
			Client:    f.srv.Client(),
			BaseDelay: time.Millisecond,
			Sleep:     s.sleep,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8; api-version=7.0")
	w.WriteHeader(status)
	w.Write(body)
}

// itemsFor answers a batch with a work item per requested id, built from
// the fixture's Task (id 300), except the ids in missing, which are null.
func itemsFor(t *testing.T, missing ...int) func(http.ResponseWriter, call, int) {
	t.Helper()
	var fixture struct {
		Value []map[string]any `json:"value"`
	}
	if err := json.Unmarshal(readFixture(t, "workitemsbatch.json"), &fixture); err != nil {
		t.Fatal(err)
	}
	task := fixture.Value[3]
	return func(w http.ResponseWriter, c call, _ int) {
		value := make([]any, 0, len(c.Body.IDs))
		for _, id := range c.Body.IDs {
			if slices.Contains(missing, id) {
				value = append(value, nil)
				continue
			}
			item := map[string]any{}
			for k, v := range task {
				item[k] = v
			}
			item["id"] = id
			fields := map[string]any{}
			for k, v := range task["fields"].(map[string]any) {
				fields[k] = v
			}
			fields["System.Title"] = fmt.Sprintf("Task %d", id)
			item["fields"] = fields
			item["_links"] = map[string]any{"html": map[string]any{"href": fmt.Sprintf("https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_workitems/edit/%d", id)}}
			value = append(value, item)
		}
		b, _ := json.Marshal(map[string]any{"count": len(value), "value": value})
		writeJSON(w, http.StatusOK, b)
	}
}

func TestFetchNormalizesDocumentedBatch(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "workitemsbatch.json")
	f := newFake(t, func(w http.ResponseWriter, _ call, _ int) { writeJSON(w, http.StatusOK, body) })
	c := newClient(t, f, &sleeps{})

	res, err := c.Fetch(t.Context(), []string{"297", "298", "299", "300"})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}

	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d requests, want 1", len(calls))
	}
	got := calls[0]
	if got.Method != http.MethodPost || got.Path != "/fabrikam/Fabrikam-Fiber-Git/_apis/wit/workitemsbatch" || got.Query != "api-version=7.0" {
		t.Errorf("request %s %s?%s, want POST /fabrikam/Fabrikam-Fiber-Git/_apis/wit/workitemsbatch?api-version=7.0", got.Method, got.Path, got.Query)
	}
	// Basic auth with an empty user name: base64(":" + PAT).
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+testPAT))
	if a := got.Header.Get("Authorization"); a != wantAuth || a != "Basic Ong3azItc2VjcmV0LXBhdC12YWx1ZQ==" {
		t.Errorf("Authorization = %q, want %q", a, wantAuth)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if h := got.Header.Get("X-TFS-FedAuthRedirect"); h != "Suppress" {
		t.Errorf("X-TFS-FedAuthRedirect = %q, want Suppress", h)
	}
	if !slices.Equal(got.Body.IDs, []int{297, 298, 299, 300}) || got.Body.Expand != "All" || got.Body.ErrorPolicy != "Omit" {
		t.Errorf("body = %+v, want ids 297..300, $expand All, errorPolicy Omit", got.Body)
	}

	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	for i, ref := range []string{"297", "298", "299", "300"} {
		if res[i].Ref != ref {
			t.Errorf("result %d ref %q, want %q", i, res[i].Ref, ref)
		}
	}

	pbi := res[0].Issue
	if res[0].Err != nil || pbi == nil {
		t.Fatalf("297: %v", res[0].Err)
	}
	custom := pbi.CustomFields
	pbi.CustomFields = nil
	want := &tracker.Issue{
		ID:          "297",
		Key:         "297",
		Title:       "Customer can sign in using their Microsoft Account",
		Description: "Our authorization logic needs to allow for users with Microsoft accounts (formerly Live Ids) - see the docs <https://docs.microsoft.com/en-us/azure/active-directory/>.\n\n- Sign in with MSA\n- Sign out & back in\n\nAcceptance: both work.",
		Status:      "Committed",
		Priority:    "2",
		Type: &tracker.IssueType{ID: "Product Backlog Item", Name: "Product Backlog Item",
			IconURL: "https://dev.azure.com/fabrikam/_apis/wit/workItemIcons/icon_list?color=009CCC&v=2"},
		Assignee:  &tracker.Person{ID: "d291b0c4-a05c-4ea6-8df1-4b41d5f39eff", Name: "Jamal Hartnett", Email: "fabrikamfiber4@hotmail.com"},
		Reporter:  &tracker.Person{ID: "1fcb4f6b-2e8d-4f1f-9c9f-c1d2e2f3a4b5", Name: "Johnnie McLeod", Email: "fabrikamfiber2@hotmail.com"},
		Labels:    []string{"Authentication", "Customer Facing", "web"},
		CreatedAt: time.Date(2023, 1, 9, 10, 11, 12, 547e6, time.UTC),
		UpdatedAt: time.Date(2023, 2, 14, 16, 42, 3, 1e8, time.UTC),
		URL:       "https://dev.azure.com/fabrikam/Fabrikam-Fiber-Git/_workitems/edit/297",
	}
	if diff := cmp.Diff(want, pbi); diff != "" {
		t.Errorf("297 (-want +got):\n%s", diff)
	}
	for _, k := range []string{"System.Title", "System.Description", "System.State", "System.Tags", "System.AssignedTo", "System.CreatedBy", "System.CreatedDate", "System.ChangedDate", "System.WorkItemType", "Microsoft.VSTS.Common.Priority"} {
		if _, ok := custom[k]; ok {
			t.Errorf("CustomFields keeps mapped field %s", k)
		}
	}
	// Unmapped fields are kept, numbers with their digits.
	if v := fmt.Sprint(custom["Microsoft.VSTS.Common.BacklogPriority"]); v != "1999999999.5" {
		t.Errorf("BacklogPriority = %s", v)
	}
	if v := fmt.Sprint(custom["System.IterationPath"]); v != `Fabrikam-Fiber-Git\Sprint 3` {
		t.Errorf("IterationPath = %s", v)
	}
	if cb, _ := custom["System.ChangedBy"].(map[string]any); cb["displayName"] != "Jamal Hartnett" {
		t.Errorf("ChangedBy = %v", custom["System.ChangedBy"])
	}
	// externalData is JSON: CustomFields must marshal.
	if _, err := json.Marshal(custom); err != nil {
		t.Errorf("CustomFields do not marshal: %v", err)
	}

	if !errors.Is(res[1].Err, tracker.ErrNotFound) || res[1].Issue != nil {
		t.Errorf("298 (null in the answer): %v, %v; want ErrNotFound", res[1].Issue, res[1].Err)
	}

	bug := res[2].Issue
	if res[2].Err != nil || bug == nil {
		t.Fatalf("299: %v", res[2].Err)
	}
	if bug.Reporter == nil || *bug.Reporter != (tracker.Person{Name: "Chuck Reinhart", Email: "fabrikamfiber3@hotmail.com"}) {
		t.Errorf("299 reporter from the older string form = %+v", bug.Reporter)
	}
	if bug.Assignee != nil || bug.Priority != "1" || bug.Description != "" || len(bug.Labels) != 0 || bug.Labels == nil {
		t.Errorf("299 = assignee %v priority %q description %q labels %#v", bug.Assignee, bug.Priority, bug.Description, bug.Labels)
	}
	if wantURL := f.orgURL() + "/Fabrikam-Fiber-Git/_workitems/edit/299"; bug.URL != wantURL {
		t.Errorf("299 URL without _links.html = %q, want %q", bug.URL, wantURL)
	}
	if bug.Type == nil || bug.Type.Name != "Bug" || bug.Type.IconURL != "" {
		t.Errorf("299 type = %+v", bug.Type)
	}

	task := res[3].Issue
	if res[3].Err != nil || task == nil {
		t.Fatalf("300: %v", res[3].Err)
	}
	if task.Reporter == nil || *task.Reporter != (tracker.Person{ID: "8c9f5d6e-0000-4000-8000-000000000001", Name: "Build Service"}) {
		t.Errorf("300 reporter with a DOMAIN\\user unique name = %+v", task.Reporter)
	}
	if !task.CreatedAt.Equal(time.Date(2023, 3, 2, 9, 30, 0, 100, time.UTC)) || task.Priority != "" {
		t.Errorf("300 created %v priority %q", task.CreatedAt, task.Priority)
	}
}

func TestFetchBatchesOf200(t *testing.T) {
	t.Parallel()
	f := newFake(t, itemsFor(t, 7, 201))
	c := newClient(t, f, &sleeps{})
	if c.BatchSize() != 200 {
		t.Fatalf("BatchSize = %d, want 200", c.BatchSize())
	}
	refs := make([]string, 250)
	for i := range refs {
		refs[i] = strconv.Itoa(i + 1)
	}
	res, err := c.Fetch(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 2 || len(calls[0].Body.IDs) != 200 || len(calls[1].Body.IDs) != 50 {
		t.Fatalf("requests: %d, want 2 of 200 and 50 ids", len(calls))
	}
	if len(res) != 250 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		id := i + 1
		if r.Ref != strconv.Itoa(id) {
			t.Fatalf("result %d has ref %q", i, r.Ref)
		}
		if id == 7 || id == 201 {
			if !errors.Is(r.Err, tracker.ErrNotFound) {
				t.Errorf("deleted work item %d: %v, want ErrNotFound", id, r.Err)
			}
			continue
		}
		if r.Err != nil || r.Issue == nil || r.Issue.ID != strconv.Itoa(id) || r.Issue.Title != fmt.Sprintf("Task %d", id) {
			t.Errorf("work item %d: %+v, %v", id, r.Issue, r.Err)
		}
	}
}

func TestFetchRefs(t *testing.T) {
	t.Parallel()
	f := newFake(t, itemsFor(t))
	c := newClient(t, f, &sleeps{})
	refs := []string{"12", "abc", "", "-3", "0", "99999999999", "+5", "12", " 012 ", "PROJ-1"}
	res, err := c.Fetch(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		valid := refs[i] == "12" || refs[i] == " 012 "
		if valid {
			if r.Err != nil || r.Issue == nil || r.Issue.ID != "12" {
				t.Errorf("ref %q: %+v, %v", refs[i], r.Issue, r.Err)
			}
			continue
		}
		if !errors.Is(r.Err, azure.ErrInvalidRef) || r.Issue != nil {
			t.Errorf("ref %q: %v, want ErrInvalidRef", refs[i], r.Err)
		}
		if errors.Is(r.Err, tracker.ErrNotFound) {
			t.Errorf("ref %q: an invalid ref is not a deleted issue", refs[i])
		}
	}
	calls := f.Calls()
	if len(calls) != 1 || !slices.Equal(calls[0].Body.IDs, []int{12}) {
		t.Fatalf("requests %+v, want one for id 12 only", calls)
	}

	// Nothing valid: no request at all.
	res, err = c.Fetch(t.Context(), []string{"x", "y"})
	if err != nil || len(res) != 2 || res[0].Err == nil || res[1].Err == nil {
		t.Fatalf("Fetch(invalid refs) = %+v, %v", res, err)
	}
	if n := len(f.Calls()); n != 1 {
		t.Fatalf("%d requests, want no new one for invalid refs", n)
	}
	res, err = c.Fetch(t.Context(), nil)
	if err != nil || len(res) != 0 {
		t.Fatalf("Fetch(nil) = %v, %v", res, err)
	}
}

func TestFetch429RetryAfterThenSuccess(t *testing.T) {
	t.Parallel()
	ok := itemsFor(t)
	f := newFake(t, func(w http.ResponseWriter, c call, n int) {
		if n == 0 {
			// Azure DevOps throttling: 429 with Retry-After and the
			// X-RateLimit-* headers.
			w.Header().Set("Retry-After", "7")
			w.Header().Set("X-RateLimit-Resource", "ATCPU")
			w.Header().Set("X-RateLimit-Delay", "2.5")
			w.Header().Set("X-RateLimit-Limit", "200")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			writeJSON(w, http.StatusTooManyRequests, []byte(`{"message":"TF400733: The request has been throttled."}`))
			return
		}
		ok(w, c, n)
	})
	s := &sleeps{}
	c := newClient(t, f, s)
	res, err := c.Fetch(t.Context(), []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Issue == nil || res[1].Issue == nil {
		t.Fatalf("results %+v", res)
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if got := s.got(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("waits %v, want [7s] from Retry-After", got)
	}
}

func TestFetch429BeyondMaxWait(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ call, _ int) {
		w.Header().Set("Retry-After", "120")
		writeJSON(w, http.StatusTooManyRequests, []byte(`{"message":"throttled"}`))
	})
	c := newClient(t, f, &sleeps{})
	_, err := c.Fetch(t.Context(), []string{"1"})
	rl, ok := errors.AsType[*tracker.RateLimitError](err)
	if !ok || rl.RetryAfter != 120*time.Second {
		t.Fatalf("err = %v, want RateLimitError after 120s", err)
	}
}

func TestFetch5xxThenSuccess(t *testing.T) {
	t.Parallel()
	ok := itemsFor(t)
	f := newFake(t, func(w http.ResponseWriter, c call, n int) {
		if n == 0 {
			writeJSON(w, http.StatusServiceUnavailable, []byte(`{"message":"TF400898: An Internal Error Occurred."}`))
			return
		}
		ok(w, c, n)
	})
	s := &sleeps{}
	c := newClient(t, f, s)
	res, err := c.Fetch(t.Context(), []string{"42"})
	if err != nil || res[0].Issue == nil {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if n := len(s.got()); n != 1 {
		t.Errorf("%d waits, want 1 backoff", n)
	}
}

func TestFetchCredentialsRefused(t *testing.T) {
	t.Parallel()
	signin := readFixture(t, "signin.html")
	for name, respond := range map[string]func(http.ResponseWriter, call, int){
		"401": func(w http.ResponseWriter, _ call, _ int) {
			w.Header().Set("WWW-Authenticate", "Basic realm=\"https://dev.azure.com/\"")
			w.WriteHeader(http.StatusUnauthorized)
		},
		"203 sign-in page": func(w http.ResponseWriter, _ call, _ int) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNonAuthoritativeInfo)
			w.Write(signin)
		},
		"200 sign-in page after redirect": func(w http.ResponseWriter, _ call, _ int) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(signin)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, respond)
			c := newClient(t, f, &sleeps{})
			res, err := c.Fetch(t.Context(), []string{"1"})
			if !errors.Is(err, tracker.ErrUnauthorized) || res != nil {
				t.Fatalf("Fetch = %v, %v; want ErrUnauthorized", res, err)
			}
			if strings.Contains(err.Error(), testPAT) || strings.Contains(err.Error(), "Ong3azItc2Vj") {
				t.Errorf("error %q shows the PAT", err)
			}
			if n := len(f.Calls()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry of refused credentials)", n)
			}
		})
	}
}

func TestFetchProjectNotFound(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ call, _ int) {
		writeJSON(w, http.StatusNotFound, []byte(`{"$id":"1","innerException":null,"message":"TF200016: The following project does not exist: Fabrikam-Fiber-Git.","typeName":"Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistException","typeKey":"ProjectDoesNotExistException","errorCode":0,"eventId":3000}`))
	})
	c := newClient(t, f, &sleeps{})
	_, err := c.Fetch(t.Context(), []string{"1"})
	se, ok := errors.AsType[*tracker.StatusError](err)
	if !ok || se.Status != http.StatusNotFound {
		t.Fatalf("err = %v, want StatusError 404", err)
	}
	if errors.Is(err, tracker.ErrNotFound) {
		t.Errorf("a missing project must not read as a deleted issue: %v", err)
	}
}

func TestFetchBadAnswer(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":  `<<secret-looking junk>>`,
		"no value":  `{"count":0}`,
		"truncated": `{"count":1,"value":[{"id":1,"fields":{"System.Title":"x`,
		"wrong":     `{"value":{"id":1}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ call, _ int) { writeJSON(w, http.StatusOK, []byte(body)) })
			c := newClient(t, f, &sleeps{})
			res, err := c.Fetch(t.Context(), []string{"1"})
			if err == nil || res != nil {
				t.Fatalf("Fetch = %v, %v; want an error", res, err)
			}
			if strings.Contains(err.Error(), "secret-looking") {
				t.Errorf("error %q quotes the answer", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     azure.Config
		wantErr bool
	}{
		{"dev.azure.com", azure.Config{OrganizationURL: "https://dev.azure.com/org", Project: "P", PAT: "p"}, false},
		{"visualstudio.com", azure.Config{OrganizationURL: "https://org.visualstudio.com/", Project: "P", PAT: "p"}, false},
		{"server collection", azure.Config{OrganizationURL: "http://tfs.local:8080/tfs/DefaultCollection", Project: "My Project", PAT: "p"}, false},
		{"no project", azure.Config{OrganizationURL: "https://dev.azure.com/org", PAT: "p"}, false},
		{"no PAT", azure.Config{OrganizationURL: "https://dev.azure.com/org", Project: "P"}, true},
		{"no URL", azure.Config{Project: "P", PAT: "p"}, true},
		{"relative URL", azure.Config{OrganizationURL: "dev.azure.com/org", Project: "P", PAT: "p"}, true},
		{"ftp URL", azure.Config{OrganizationURL: "ftp://dev.azure.com/org", Project: "P", PAT: "p"}, true},
		{"URL with user", azure.Config{OrganizationURL: "https://me:pw@dev.azure.com/org", Project: "P", PAT: "p"}, true},
		{"URL with query", azure.Config{OrganizationURL: "https://dev.azure.com/org?x=1", Project: "P", PAT: "p"}, true},
		{"project with slash", azure.Config{OrganizationURL: "https://dev.azure.com/org", Project: "a/b", PAT: "p"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := azure.New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New = %v, %v; wantErr %v", c, err, tc.wantErr)
			}
			if err != nil && tc.cfg.PAT != "" && strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
}

// TestProjectPathEscaped: a project name with spaces reaches the server as
// one escaped path segment, and the fallback link uses it too.
func TestProjectPathEscaped(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, c call, _ int) {
		writeJSON(w, http.StatusOK, []byte(`{"count":1,"value":[{"id":5,"fields":{"System.Title":"t"}}]}`))
	})
	c, err := azure.New(azure.Config{OrganizationURL: f.orgURL(), Project: "My Project", PAT: "p",
		HTTP: &tracker.HTTP{Client: f.srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Fetch(t.Context(), []string{"5"})
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Calls()[0].Path; p != "/fabrikam/My%20Project/_apis/wit/workitemsbatch" {
		t.Errorf("path %q", p)
	}
	if u := res[0].Issue.URL; u != f.orgURL()+"/My%20Project/_workitems/edit/5" {
		t.Errorf("URL %q", u)
	}
}

func TestFetchContextCanceled(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ call, _ int) { w.WriteHeader(http.StatusServiceUnavailable) })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c := newClient(t, f, &sleeps{})
	if _, err := c.Fetch(ctx, []string{"1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Guard against a body reader that would leak request bodies across
// retries: each attempt sends the whole body.
func TestRetrySendsWholeBody(t *testing.T) {
	t.Parallel()
	ok := itemsFor(t)
	var bodies [][]int
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, c call, n int) {
		mu.Lock()
		bodies = append(bodies, c.Body.IDs)
		mu.Unlock()
		if n == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		ok(w, c, n)
	})
	c := newClient(t, f, &sleeps{})
	if _, err := c.Fetch(t.Context(), []string{"3", "4"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || !slices.Equal(bodies[0], []int{3, 4}) || !slices.Equal(bodies[1], []int{3, 4}) {
		t.Fatalf("bodies %v", bodies)
	}
}
