package linear_test

import (
	"context"
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
	"github.com/testplanit/tpi-workers/internal/tracker/linear"
)

const (
	testAPIKey = "lin_api_Xk2vT9secretKey0123456789"
	testToken  = "lin_oauth_9f8e7d6c5b4a-secret-token"

	idENG12 = "9cfb482a-81e3-4154-b5b9-2c805e70a726"
	idENG13 = "0e6c3a53-2b8e-4f67-9d1a-6b5e4c3d2a10"
	idOPS7  = "7d0f1e2a-3b4c-4d5e-8f60-718293a4b5c6"
	idGone  = "11111111-2222-4333-8444-555555555555"
)

// gqlRequest is a request the fake received.
type gqlRequest struct {
	Header        http.Header
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// fakeLinear is Linear's GraphQL endpoint behind httptest. By default it
// answers as Linear does: byId from the issues connection, each alias kN
// from issue(id:), and, since issue(id:) is non-null, data null with one
// "Entity not found: Issue" error per missing alias. respond, when set,
// answers instead (n counts requests from 0); returning false falls back
// to the default.
type fakeLinear struct {
	t       *testing.T
	srv     *httptest.Server
	lookup  func(ref string) map[string]any
	respond func(w http.ResponseWriter, r gqlRequest, n int) bool

	mu   sync.Mutex
	reqs []gqlRequest
}

func newFake(t *testing.T) *fakeLinear {
	t.Helper()
	var nodes []map[string]any
	b, err := os.ReadFile("testdata/issues.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &nodes); err != nil {
		t.Fatal(err)
	}
	f := &fakeLinear{t: t}
	f.lookup = func(ref string) map[string]any {
		for _, n := range nodes {
			if n["id"] == ref || strings.EqualFold(n["identifier"].(string), ref) {
				return n
			}
		}
		return nil
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLinear) serve(w http.ResponseWriter, r *http.Request) {
	var req gqlRequest
	b, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || json.Unmarshal(b, &req) != nil {
		f.t.Errorf("bad request %s %q", r.Method, b)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	req.Header = r.Header.Clone()
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.respond != nil && f.respond(w, req, n) {
		return
	}
	f.answer(w, req)
}

// answer emulates Linear's execution of the query the client writes.
func (f *fakeLinear) answer(w http.ResponseWriter, req gqlRequest) {
	data := map[string]any{}
	var errs []any
	if raw, ok := req.Variables["ids"]; ok {
		ids, _ := raw.([]any)
		want := fmt.Sprintf("byId: issues(filter: {id: {in: $ids}}, first: %d, includeArchived: true) { nodes { ...TpiIssue } }", len(ids))
		if !strings.Contains(req.Query, want) || !strings.Contains(req.Query, "$ids: [ID!]!") {
			f.t.Errorf("query lacks %q:\n%s", want, req.Query)
		}
		nodes := []any{}
		for _, id := range ids {
			if n := f.lookup(id.(string)); n != nil {
				nodes = append(nodes, n)
			}
		}
		data["byId"] = map[string]any{"nodes": nodes}
	}
	for name, v := range req.Variables {
		if name == "ids" {
			continue
		}
		if !strings.Contains(req.Query, name+": issue(id: $"+name+") { ...TpiIssue }") || !strings.Contains(req.Query, "$"+name+": String!") {
			f.t.Errorf("query lacks alias %s:\n%s", name, req.Query)
		}
		if n := f.lookup(v.(string)); n != nil {
			data[name] = n
			continue
		}
		errs = append(errs, map[string]any{
			"message":   "Entity not found: Issue",
			"locations": []any{map[string]any{"line": 3, "column": 3}},
			"path":      []any{name},
			"extensions": map[string]any{
				"type": "invalid input", "code": "INPUT_ERROR", "userError": true,
				"userPresentableMessage": "Could not find referenced Issue.",
			},
		})
	}
	resp := map[string]any{"data": data}
	if len(errs) > 0 {
		resp = map[string]any{"errors": errs, "data": nil}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (f *fakeLinear) requests() []gqlRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, ok := v.([]byte)
	if !ok {
		b, _ = json.Marshal(v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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

func newClient(t *testing.T, f *fakeLinear, s *sleeps, cfg linear.Config) *linear.Client {
	t.Helper()
	cfg.APIURL = f.srv.URL + "/graphql"
	if cfg.APIKey == "" && cfg.OAuthToken == "" {
		cfg.APIKey = testAPIKey
	}
	cfg.HTTP = &tracker.HTTP{Client: f.srv.Client(), BaseDelay: time.Millisecond, Sleep: s.sleep}
	c, err := linear.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFetchIDsAndIdentifiers(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeps{}, linear.Config{})
	refs := []string{idENG12, "ENG-12", idGone, "ENG-404", "eng-13", "not a ref", strings.ToUpper(idENG12), idOPS7}
	res, err := c.Fetch(t.Context(), refs)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(res) != len(refs) {
		t.Fatalf("%d results, want %d", len(res), len(refs))
	}
	for i, r := range res {
		if r.Ref != refs[i] {
			t.Errorf("result %d ref %q, want %q", i, r.Ref, refs[i])
		}
	}

	want := &tracker.Issue{
		ID:          idENG12,
		Key:         "ENG-12",
		Title:       "Sign-in page rejects valid SSO users",
		Description: "Users with an **Okta** account see _Invalid credentials_.\n\n- [ ] reproduce\n- [ ] fix\n\nSee [the log](https://example.com/log).",
		Status:      "In Progress",
		Priority:    "High",
		Assignee:    &tracker.Person{ID: "3b1e4c8f-7a64-4d1b-9a7e-1f0a2b3c4d5e", Name: "Ada Lovelace", Email: "ada@acme.test"},
		Reporter:    &tracker.Person{ID: "5c2d9e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6", Name: "Grace Hopper", Email: "grace@acme.test"},
		Labels:      []string{"Bug", "Auth"},
		CustomFields: map[string]any{
			"teamKey":  "ENG",
			"priority": float64(2),
		},
		CreatedAt: time.Date(2024, 5, 2, 9, 12, 44, 120e6, time.UTC),
		UpdatedAt: time.Date(2024, 5, 6, 17, 1, 2, 3e6, time.UTC),
		URL:       "https://linear.app/acme/issue/ENG-12/sign-in-page-rejects-valid-sso-users",
	}
	for _, i := range []int{0, 1, 6} { // by UUID, by identifier, by upper-case UUID
		if res[i].Err != nil {
			t.Fatalf("%s: %v", refs[i], res[i].Err)
		}
		if diff := cmp.Diff(want, res[i].Issue); diff != "" {
			t.Errorf("%s (-want +got):\n%s", refs[i], diff)
		}
	}
	for _, i := range []int{2, 3, 7} { // unknown UUID, unknown identifier, trashed
		if !errors.Is(res[i].Err, tracker.ErrNotFound) || res[i].Issue != nil {
			t.Errorf("%s: %+v, %v; want ErrNotFound", refs[i], res[i].Issue, res[i].Err)
		}
	}
	archived := res[4].Issue
	if res[4].Err != nil || archived == nil || archived.Key != "ENG-13" || archived.ID != idENG13 {
		t.Fatalf("eng-13: %+v, %v", archived, res[4].Err)
	}
	if archived.Assignee != nil || archived.Description != "" || archived.Priority != "No priority" ||
		archived.CustomFields["archivedAt"] != "2024-06-01T00:00:00.000Z" || len(archived.Labels) != 0 || archived.Labels == nil {
		t.Errorf("archived issue %+v", archived)
	}
	if !errors.Is(res[5].Err, linear.ErrInvalidRef) {
		t.Errorf("invalid ref: %v", res[5].Err)
	}

	// ENG-404 nulls the first answer's data (issue(id:) is non-null):
	// the others are asked again, without it.
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	first, second := reqs[0].Variables, reqs[1].Variables
	if fmt.Sprint(first["ids"]) != fmt.Sprint([]string{idENG12, idGone, idOPS7}) {
		t.Errorf("first request ids %v", first["ids"])
	}
	var idents1, idents2 []string
	for k, v := range first {
		if k != "ids" {
			idents1 = append(idents1, v.(string))
		}
	}
	for k, v := range second {
		if k != "ids" {
			idents2 = append(idents2, v.(string))
		}
	}
	slices.Sort(idents1)
	slices.Sort(idents2)
	if !slices.Equal(idents1, []string{"ENG-12", "ENG-13", "ENG-404"}) || !slices.Equal(idents2, []string{"ENG-12", "ENG-13"}) {
		t.Errorf("identifiers asked: %v then %v", idents1, idents2)
	}
	for _, r := range reqs {
		if r.OperationName != "TpiSyncIssues" {
			t.Errorf("operationName %q", r.OperationName)
		}
		// References travel as variables, never in the query text.
		if strings.Contains(r.Query, "ENG-") || strings.Contains(r.Query, idENG12) {
			t.Errorf("query text holds a reference:\n%s", r.Query)
		}
	}
}

func TestFetchBatchesOf50(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	uuid := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	f.lookup = func(ref string) map[string]any {
		var n int
		if _, err := fmt.Sscanf(ref, "00000000-0000-4000-8000-%012d", &n); err != nil || n == 77 {
			return nil
		}
		return map[string]any{
			"id": ref, "identifier": "ENG-" + strconv.Itoa(n), "title": "Issue " + strconv.Itoa(n),
			"url": "https://linear.app/acme/issue/ENG-" + strconv.Itoa(n), "priority": 3, "priorityLabel": "Medium",
			"createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z",
			"state": map[string]any{"name": "Todo"}, "team": map[string]any{"key": "ENG"},
			"labels": map[string]any{"nodes": []any{}},
		}
	}
	c := newClient(t, f, &sleeps{}, linear.Config{})
	if c.BatchSize() != 50 {
		t.Fatalf("BatchSize = %d, want 50", c.BatchSize())
	}
	refs := make([]string, 120)
	for i := range refs {
		refs[i] = uuid(i + 1)
	}
	res, err := c.Fetch(t.Context(), refs)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, want := range []int{50, 50, 20} {
		if ids, _ := reqs[i].Variables["ids"].([]any); len(ids) != want {
			t.Errorf("request %d asked %d ids, want %d", i, len(ids), want)
		}
	}
	for i, r := range res {
		n := i + 1
		if n == 77 {
			if !errors.Is(r.Err, tracker.ErrNotFound) {
				t.Errorf("missing issue 77: %v", r.Err)
			}
			continue
		}
		if r.Err != nil || r.Issue == nil || r.Issue.Key != "ENG-"+strconv.Itoa(n) || r.Issue.Status != "Todo" {
			t.Errorf("issue %d: %+v, %v", n, r.Issue, r.Err)
		}
	}
}

func TestAuthHeaders(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg  linear.Config
		want string
	}{
		"API key without Bearer":  {linear.Config{APIKey: testAPIKey}, testAPIKey},
		"OAuth token with Bearer": {linear.Config{OAuthToken: testToken}, "Bearer " + testToken},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			c := newClient(t, f, &sleeps{}, tc.cfg)
			if _, err := c.Fetch(t.Context(), []string{idENG12}); err != nil {
				t.Fatal(err)
			}
			h := f.requests()[0].Header
			if got := h.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestFetch429RetryAfterThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, _ gqlRequest, n int) bool {
		if n > 0 {
			return false
		}
		w.Header().Set("Retry-After", "3")
		writeJSON(w, http.StatusTooManyRequests, fixture(t, "ratelimited.json"))
		return true
	}
	s := &sleeps{}
	c := newClient(t, f, s, linear.Config{})
	res, err := c.Fetch(t.Context(), []string{"ENG-12"})
	if err != nil || res[0].Issue == nil {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	if got := s.got(); !slices.Equal(got, []time.Duration{3 * time.Second}) {
		t.Errorf("waits %v, want [3s]", got)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// Linear reports its rate limit as a GraphQL error with code RATELIMITED,
// under HTTP 400 or 200, with the reset in X-RateLimit-*-Reset (Unix ms).
func TestFetchGraphQLRateLimited(t *testing.T) {
	t.Parallel()
	t.Run("reset beyond MaxWait", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		reset := time.Now().Add(2 * time.Hour)
		f.respond = func(w http.ResponseWriter, _ gqlRequest, _ int) bool {
			w.Header().Set("X-RateLimit-Requests-Limit", "5000")
			w.Header().Set("X-RateLimit-Requests-Remaining", "0")
			w.Header().Set("X-RateLimit-Requests-Reset", strconv.FormatInt(reset.UnixMilli(), 10))
			writeJSON(w, http.StatusBadRequest, fixture(t, "ratelimited.json"))
			return true
		}
		s := &sleeps{}
		c := newClient(t, f, s, linear.Config{})
		res, err := c.Fetch(t.Context(), []string{idENG12, "ENG-13"})
		rl, ok := errors.AsType[*tracker.RateLimitError](err)
		if !ok || res != nil {
			t.Fatalf("Fetch = %v, %v; want RateLimitError", res, err)
		}
		if rl.RetryAfter < 2*time.Hour-time.Minute || rl.RetryAfter > 2*time.Hour {
			t.Errorf("RetryAfter %v, want about 2h (the reset header)", rl.RetryAfter)
		}
		if n := len(f.requests()); n != 1 || len(s.got()) != 0 {
			t.Errorf("%d requests and waits %v, want 1 and none", n, s.got())
		}
	})
	for name, status := range map[string]int{"HTTP 400": http.StatusBadRequest, "HTTP 200": http.StatusOK} {
		t.Run("short reset under "+name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.respond = func(w http.ResponseWriter, _ gqlRequest, n int) bool {
				if n > 0 {
					return false
				}
				w.Header().Set("X-RateLimit-Complexity-Limit", "3000000")
				w.Header().Set("X-RateLimit-Complexity-Remaining", "0")
				w.Header().Set("X-RateLimit-Complexity-Reset", strconv.FormatInt(time.Now().Add(4*time.Second).UnixMilli(), 10))
				writeJSON(w, status, fixture(t, "ratelimited.json"))
				return true
			}
			s := &sleeps{}
			c := newClient(t, f, s, linear.Config{})
			res, err := c.Fetch(t.Context(), []string{"ENG-12"})
			if err != nil || res[0].Issue == nil {
				t.Fatalf("Fetch = %+v, %v", res, err)
			}
			got := s.got()
			if len(got) != 1 || got[0] < 2*time.Second || got[0] > 4*time.Second {
				t.Errorf("waits %v, want one of about 4s (the complexity reset)", got)
			}
		})
	}
	t.Run("persisting without headers", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.respond = func(w http.ResponseWriter, _ gqlRequest, _ int) bool {
			writeJSON(w, http.StatusBadRequest, fixture(t, "ratelimited.json"))
			return true
		}
		s := &sleeps{}
		c := newClient(t, f, s, linear.Config{})
		_, err := c.Fetch(t.Context(), []string{"ENG-12"})
		if _, ok := errors.AsType[*tracker.RateLimitError](err); !ok {
			t.Fatalf("err = %v, want RateLimitError", err)
		}
		if n := len(f.requests()); n != tracker.DefaultAttempts {
			t.Errorf("%d requests, want %d", n, tracker.DefaultAttempts)
		}
	})
}

func TestFetch5xxThenSuccess(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, _ gqlRequest, n int) bool {
		if n > 0 {
			return false
		}
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>502 Bad Gateway</html>")
		return true
	}
	s := &sleeps{}
	c := newClient(t, f, s, linear.Config{})
	res, err := c.Fetch(t.Context(), []string{idENG12})
	if err != nil || res[0].Issue == nil {
		t.Fatalf("Fetch = %+v, %v", res, err)
	}
	if n := len(f.requests()); n != 2 || len(s.got()) != 1 {
		t.Errorf("%d requests, waits %v; want 2 and one backoff", n, s.got())
	}
}

func TestFetchCredentialsRefused(t *testing.T) {
	t.Parallel()
	for name, status := range map[string]int{"HTTP 401": http.StatusUnauthorized, "HTTP 400": http.StatusBadRequest, "HTTP 200": http.StatusOK} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.respond = func(w http.ResponseWriter, _ gqlRequest, _ int) bool {
				writeJSON(w, status, fixture(t, "authentication-error.json"))
				return true
			}
			c := newClient(t, f, &sleeps{}, linear.Config{OAuthToken: testToken})
			res, err := c.Fetch(t.Context(), []string{idENG12, "ENG-12"})
			if !errors.Is(err, tracker.ErrUnauthorized) || res != nil {
				t.Fatalf("Fetch = %v, %v; want ErrUnauthorized", res, err)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the token", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// Linear may answer a missing alias with HTTP 400 too: only that issue
// fails.
func TestFetchNotFoundUnder400(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, r gqlRequest, n int) bool {
		if n == 0 {
			if r.Variables["k0"] != "ENG-999" {
				t.Errorf("k0 = %v", r.Variables["k0"])
			}
			writeJSON(w, http.StatusBadRequest, fixture(t, "entity-not-found.json"))
			return true
		}
		return false
	}
	c := newClient(t, f, &sleeps{}, linear.Config{})
	res, err := c.Fetch(t.Context(), []string{"ENG-999", "ENG-12"})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, tracker.ErrNotFound) {
		t.Errorf("ENG-999: %v, want ErrNotFound", res[0].Err)
	}
	if res[1].Err != nil || res[1].Issue == nil || res[1].Issue.ID != idENG12 {
		t.Errorf("ENG-12: %+v, %v", res[1].Issue, res[1].Err)
	}
}

// A refusal of one issue (not a missing one) fails that issue alone, with a
// StatusError.
func TestFetchForbiddenIssue(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, r gqlRequest, n int) bool {
		if n > 0 {
			return false
		}
		var alias string
		for k, v := range r.Variables {
			if v == "OPS-1" {
				alias = k
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []any{map[string]any{
			"message": "Forbidden", "path": []any{alias},
			"extensions": map[string]any{"code": "FORBIDDEN", "type": "forbidden", "userPresentableMessage": "You don't have access to this team."},
		}}})
		return true
	}
	c := newClient(t, f, &sleeps{}, linear.Config{})
	res, err := c.Fetch(t.Context(), []string{"OPS-1", "ENG-12", idENG13})
	if err != nil {
		t.Fatal(err)
	}
	se, ok := errors.AsType[*tracker.StatusError](res[0].Err)
	if !ok || se.Status != http.StatusForbidden || !strings.Contains(se.Body, "access to this team") || errors.Is(res[0].Err, tracker.ErrNotFound) {
		t.Errorf("OPS-1: %v, want StatusError 403", res[0].Err)
	}
	if res[1].Issue == nil || res[2].Issue == nil {
		t.Errorf("others: %+v", res[1:])
	}
}

func TestFetchQueryRejected(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.respond = func(w http.ResponseWriter, _ gqlRequest, _ int) bool {
		writeJSON(w, http.StatusBadRequest, fixture(t, "validation-error.json"))
		return true
	}
	c := newClient(t, f, &sleeps{}, linear.Config{})
	_, err := c.Fetch(t.Context(), []string{"ENG-12"})
	se, ok := errors.AsType[*tracker.StatusError](err)
	if !ok || se.Status != http.StatusBadRequest || !strings.Contains(se.Body, "Cannot query field") {
		t.Fatalf("err = %v, want StatusError 400 naming the problem", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (a rejected query is not retried)", n)
	}
}

func TestFetchBadAnswers(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":               `<html>secret-looking proxy page</html>`,
		"empty object":           `{}`,
		"data not object":        `{"data":[1,2]}`,
		"null data no errors":    `{"data":null}`,
		"byId missing":           `{"data":{"k0":null}}`,
		"wrong types":            `{"data":{"byId":{"nodes":[{"id":5}]}}}`,
		"global error with data": `{"data":{"byId":{"nodes":[]}},"errors":[{"message":"Internal error"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.respond = func(w http.ResponseWriter, _ gqlRequest, _ int) bool {
				writeJSON(w, http.StatusOK, []byte(body))
				return true
			}
			c := newClient(t, f, &sleeps{}, linear.Config{})
			res, err := c.Fetch(t.Context(), []string{idENG12})
			if err == nil || res != nil {
				t.Fatalf("Fetch = %+v, %v; want an error", res, err)
			}
			if strings.Contains(err.Error(), "secret-looking") {
				t.Errorf("error %q quotes the answer", err)
			}
		})
	}
}

func TestFetchRefs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := newClient(t, f, &sleeps{}, linear.Config{})
	bad := []string{"", "ENG", "ENG-", "-12", "ENG-0", "ENG-012", "EN G-1", "1ENG-2", `ENG-1") { id } x: issue(id: "`,
		"9cfb482a-81e3-4154-b5b9-2c805e70a72", "9cfb482a81e34154b5b92c805e70a726", "VERYLONGKEY1-1"}
	res, err := c.Fetch(t.Context(), bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, linear.ErrInvalidRef) || r.Issue != nil {
			t.Errorf("ref %q: %+v, %v; want ErrInvalidRef", bad[i], r.Issue, r.Err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for invalid refs, want 0", n)
	}
	// Accepted shapes.
	res, err = c.Fetch(t.Context(), []string{" ENG-12 ", "eng-12", "A_1-5"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Issue == nil || res[1].Issue == nil || !errors.Is(res[2].Err, tracker.ErrNotFound) {
		t.Errorf("results %+v", res)
	}
	if reqs := f.requests(); len(reqs) != 2 || len(reqs[0].Variables) != 2 {
		t.Errorf("requests %+v, want ENG-12 asked once", reqs)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     linear.Config
		wantErr bool
	}{
		{"API key", linear.Config{APIKey: "k"}, false},
		{"OAuth", linear.Config{OAuthToken: "t"}, false},
		{"custom URL", linear.Config{APIKey: "k", APIURL: "http://localhost:8080/graphql"}, false},
		{"none", linear.Config{}, true},
		{"both", linear.Config{APIKey: "k", OAuthToken: "t"}, true},
		{"blank key", linear.Config{APIKey: "  "}, true},
		{"relative URL", linear.Config{APIKey: "k", APIURL: "api.linear.app/graphql"}, true},
		{"URL with user", linear.Config{APIKey: "k", APIURL: "https://u:p@api.linear.app/graphql"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := linear.New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New = %v, %v; wantErr %v", c, err, tc.wantErr)
			}
		})
	}
}

// The caller's tracker.HTTP is not changed by New (it gets its own copy
// with the GraphQL-aware transport).
func TestNewKeepsCallerHTTP(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: time.Second}
	h := &tracker.HTTP{Client: hc}
	if _, err := linear.New(linear.Config{APIKey: "k", HTTP: h}); err != nil {
		t.Fatal(err)
	}
	if h.Client != hc || hc.Transport != nil || h.Provider != "" {
		t.Errorf("New changed the caller's HTTP: %+v, transport %v", h, hc.Transport)
	}
}
