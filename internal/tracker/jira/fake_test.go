package jira_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

// wantFields is the field list every search and GET must ask for.
func wantFields() []string {
	return []string{"summary", "description", "status", "priority", "issuetype", "assignee", "reporter", "labels", "created", "updated"}
}

// fixture reads testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorded is one request the fake saw.
type recorded struct {
	Method, Path, RawQuery, Auth string
	Body                         map[string]any
}

// scripted is an answer the fake gives instead of serving a request.
type scripted struct {
	status int
	header map[string]string
	body   string
}

// fakeJira serves the parts of Jira's REST API the client uses, over a set
// of issues built from testdata/issue_cloud_minimal.json, with Atlassian's
// documented behaviours: the enhanced search pages with nextPageToken (and
// no token on the last page), Server's search with startAt/total, a JQL
// `key in (...)` naming a missing issue is refused with 400, GET of a
// missing issue is 404.
type fakeJira struct {
	t   *testing.T
	srv *httptest.Server

	// prefix is "" (site) or "/ex/jira/<cloudId>" (OAuth).
	prefix string
	// pageCap is the most issues per search page.
	pageCap int
	// silentMissing makes the search leave missing issues out instead of
	// refusing the query.
	silentMissing bool
	// localized makes the 400 not quote the missing keys.
	localized bool
	// auth, when set, decides which Authorization headers are accepted on
	// API requests (401 otherwise).
	auth func(string) bool

	mu       sync.Mutex
	issues   map[string]map[string]any // by id and by upper-case key
	moved    map[string]string         // old key → current key
	script   []scripted                // consumed by API requests first
	requests []recorded
	// token endpoint and accessible resources
	tokenAnswers []scripted
	resources    string
}

func newFakeJira(t *testing.T, n int) *fakeJira {
	t.Helper()
	f := &fakeJira{t: t, pageCap: 100, issues: map[string]map[string]any{}, moved: map[string]string{}}
	for i := 1; i <= n; i++ {
		f.add(strconv.Itoa(20000+i), "PROJ-"+strconv.Itoa(i))
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add adds an issue built from the minimal fixture.
func (f *fakeJira) add(id, key string) {
	var is map[string]any
	if err := json.Unmarshal(fixture(f.t, "issue_cloud_minimal.json"), &is); err != nil {
		f.t.Fatal(err)
	}
	is["id"], is["key"] = id, key
	is["self"] = "https://your-domain.atlassian.net/rest/api/3/issue/" + id
	is["fields"].(map[string]any)["summary"] = "Summary of " + key
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues[id], f.issues[strings.ToUpper(key)] = is, is
}

func (f *fakeJira) remove(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is := f.issues[key]
	delete(f.issues, key)
	delete(f.issues, is["id"].(string))
}

func (f *fakeJira) fail(s ...scripted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, s...)
}

// calls returns the recorded requests whose path ends with suffix.
func (f *fakeJira) calls(suffix string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if strings.HasSuffix(r.Path, suffix) || (strings.HasSuffix(suffix, "/") && strings.Contains(r.Path, suffix)) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeJira) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	switch v := v.(type) {
	case []byte:
		w.Write(v)
	case string:
		io.WriteString(w, v)
	default:
		json.NewEncoder(w).Encode(v)
	}
}

func (f *fakeJira) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Auth: r.Header.Get("Authorization")}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &rec.Body); err != nil {
			f.t.Errorf("%s %s: body is not a JSON object: %v", r.Method, r.URL.Path, err)
		}
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	f.mu.Unlock()

	switch {
	case r.URL.Path == "/oauth/token":
		f.serveToken(w, rec)
		return
	case r.URL.Path == "/oauth/token/accessible-resources":
		if f.auth != nil && !f.auth(rec.Auth) {
			writeJSON(w, 401, `{"code":401,"message":"Unauthorized"}`)
			return
		}
		writeJSON(w, 200, f.resources)
		return
	}
	if f.auth != nil && !f.auth(rec.Auth) {
		writeJSON(w, 401, `{"code":401,"message":"Client must be authenticated to access this resource."}`)
		return
	}
	f.mu.Lock()
	var s *scripted
	if len(f.script) > 0 {
		s = &f.script[0]
		f.script = f.script[1:]
	}
	f.mu.Unlock()
	if s != nil {
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		writeJSON(w, s.status, s.body)
		return
	}

	path, ok := strings.CutPrefix(r.URL.Path, f.prefix)
	if !ok {
		writeJSON(w, 404, `{"errorMessages":["no such path"]}`)
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "/rest/api/3/search/jql":
		f.searchCloud(w, rec.Body)
	case r.Method == http.MethodPost && path == "/rest/api/2/search":
		f.searchServer(w, rec.Body)
	case r.Method == http.MethodGet && (strings.HasPrefix(path, "/rest/api/3/issue/") || strings.HasPrefix(path, "/rest/api/2/issue/")):
		if got := r.URL.Query().Get("fields"); got != strings.Join(wantFields(), ",") {
			f.t.Errorf("GET issue fields = %q", got)
		}
		ref := strings.ToUpper(path[len("/rest/api/3/issue/"):])
		f.mu.Lock()
		if to, ok := f.moved[ref]; ok {
			ref = to
		}
		is, ok := f.issues[ref]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, 404, fixture(f.t, "issue_not_found.json"))
			return
		}
		writeJSON(w, 200, is)
	default:
		writeJSON(w, 404, `{"errorMessages":["no such path"]}`)
	}
}

func (f *fakeJira) serveToken(w http.ResponseWriter, rec recorded) {
	f.mu.Lock()
	var s scripted
	if len(f.tokenAnswers) > 0 {
		s = f.tokenAnswers[0]
		if len(f.tokenAnswers) > 1 {
			f.tokenAnswers = f.tokenAnswers[1:]
		}
	}
	f.mu.Unlock()
	if s.status == 0 {
		writeJSON(w, 500, `{"error":"no token answer scripted"}`)
		return
	}
	writeJSON(w, s.status, s.body)
}

// match resolves the refs of one of the client's JQL queries
// (`id in (1, 2) OR key in ("A-1")`): the issues found, and the refs
// missing.
func (f *fakeJira) match(jql string) (found []map[string]any, missing []string, fields map[string][]string) {
	fields = map[string][]string{}
	for _, clause := range strings.Split(jql, " OR ") {
		name, list, ok := strings.Cut(clause, " in (")
		if !ok || !strings.HasSuffix(list, ")") || (name != "id" && name != "key") {
			f.t.Errorf("unexpected JQL clause %q in %q", clause, jql)
			continue
		}
		for _, ref := range strings.Split(strings.TrimSuffix(list, ")"), ", ") {
			if name == "key" {
				if !strings.HasPrefix(ref, `"`) || !strings.HasSuffix(ref, `"`) {
					f.t.Errorf("key %s not quoted in %q", ref, jql)
				}
				ref = strings.Trim(ref, `"`)
			}
			fields[name] = append(fields[name], ref)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	for name, refs := range fields {
		for _, ref := range refs {
			lookup := strings.ToUpper(ref)
			if to, ok := f.moved[lookup]; ok && name == "key" {
				lookup = to
			}
			is, ok := f.issues[lookup]
			if !ok {
				missing = append(missing, name+":"+ref)
				continue
			}
			if id := is["id"].(string); !seen[id] {
				seen[id] = true
				found = append(found, is)
			}
		}
	}
	slices.SortFunc(found, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	return found, missing, fields
}

// refuse answers Jira's 400 for missing issues, or reports false.
func (f *fakeJira) refuse(w http.ResponseWriter, missing []string) bool {
	if len(missing) == 0 || f.silentMissing {
		return false
	}
	var msgs []string
	for _, m := range missing {
		field, ref, _ := strings.Cut(m, ":")
		if f.localized {
			msgs = append(msgs, "Der Vorgang existiert nicht.")
			continue
		}
		msgs = append(msgs, fmt.Sprintf("An issue with key '%s' does not exist for field '%s'.", ref, field))
	}
	writeJSON(w, 400, map[string]any{"errorMessages": msgs, "warningMessages": []string{}})
	return true
}

func (f *fakeJira) checkFields(body map[string]any) {
	var got []string
	list, _ := body["fields"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		got = append(got, s)
	}
	if !slices.Equal(got, wantFields()) {
		f.t.Errorf("search fields = %v, want %v", got, wantFields())
	}
}

func (f *fakeJira) searchCloud(w http.ResponseWriter, body map[string]any) {
	for k := range body {
		if !slices.Contains([]string{"jql", "fields", "maxResults", "nextPageToken"}, k) {
			// The enhanced search refuses unknown members.
			writeJSON(w, 400, `{"errorMessages":["Invalid request payload. Refer to the REST API documentation and try again."]}`)
			return
		}
	}
	f.checkFields(body)
	jql, _ := body["jql"].(string)
	found, missing, _ := f.match(jql)
	if f.refuse(w, missing) {
		return
	}
	size := f.pageCap
	if m, ok := body["maxResults"].(float64); ok && int(m) < size {
		size = int(m)
	}
	start := 0
	if tok, ok := body["nextPageToken"].(string); ok {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "tok-"))
		if err != nil {
			writeJSON(w, 400, `{"errorMessages":["The provided next page token is invalid or expired."]}`)
			return
		}
		start = n
	}
	end := min(start+size, len(found))
	page := map[string]any{"issues": found[start:end], "isLast": end == len(found)}
	if end < len(found) {
		page["nextPageToken"] = "tok-" + strconv.Itoa(end)
	}
	writeJSON(w, 200, page)
}

func (f *fakeJira) searchServer(w http.ResponseWriter, body map[string]any) {
	f.checkFields(body)
	jql, _ := body["jql"].(string)
	found, missing, _ := f.match(jql)
	if f.refuse(w, missing) {
		return
	}
	size := f.pageCap
	if m, ok := body["maxResults"].(float64); ok && int(m) < size {
		size = int(m)
	}
	start := 0
	if s, ok := body["startAt"].(float64); ok {
		start = int(s)
	}
	start = min(start, len(found))
	end := min(start+size, len(found))
	writeJSON(w, 200, map[string]any{"expand": "names,schema", "startAt": start, "maxResults": size, "total": len(found), "issues": found[start:end]})
}

// sleeps records the waits of tracker.HTTP instead of sleeping.
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

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// httpFor is a tracker.HTTP that records its waits in sl.
func httpFor(sl *sleeps) *tracker.HTTP {
	return &tracker.HTTP{Sleep: sl.sleep, BaseDelay: 10 * time.Millisecond}
}
