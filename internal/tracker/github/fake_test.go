package github_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testplanit/tpi-workers/internal/tracker"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type recorded struct {
	Method, URL, Path, Auth, Accept, APIVersion string
	Query                                       string
	Variables                                   map[string]any
}

type scripted struct {
	status int
	header map[string]string
	body   string
}

// fakeGitHub serves GitHub's GraphQL endpoint (answering the client's
// aliased queries from a set of issues, with data null plus a NOT_FOUND
// error for what it cannot resolve, as GitHub does) and the REST issue
// endpoint (404 for unknown, 410 for deleted, 301 for transferred issues).
type fakeGitHub struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // "" (api.github.com) or "/api/v3" (GHE)
	gql    string // "/graphql" or "/api/graphql"
	token  string
	// oldGHE refuses the fields older servers lack.
	oldGHE bool

	mu          sync.Mutex
	issues      map[string]map[string]any // "owner/repo#n" (lower case) → GraphQL node
	repos       map[string]bool
	deleted     map[string]bool
	transferred map[string]string // old key → new key
	script      []scripted
	requests    []recorded
}

func newFakeGitHub(t *testing.T, ghe bool) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{t: t, gql: "/graphql", token: "ghp_test123", issues: map[string]map[string]any{},
		repos: map[string]bool{}, deleted: map[string]bool{}, transferred: map[string]string{}}
	if ghe {
		f.prefix, f.gql = "/api/v3", "/api/graphql"
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// add adds issues 1..n of owner/repo, built from the fixture's first issue.
func (f *fakeGitHub) add(owner, repo string, numbers ...int) {
	var doc struct {
		Data map[string]map[string]map[string]any `json:"data"`
	}
	if err := json.Unmarshal(fixture(f.t, "graphql_batch.json"), &doc); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repos[strings.ToLower(owner+"/"+repo)] = true
	for _, n := range numbers {
		var node map[string]any
		b, _ := json.Marshal(doc.Data["r0"]["i0"])
		json.Unmarshal(b, &node)
		node["number"] = n
		node["title"] = fmt.Sprintf("Issue %d of %s", n, repo)
		node["url"] = fmt.Sprintf("https://github.com/%s/%s/issues/%d", owner, repo, n)
		node["repository"] = map[string]any{"name": repo, "owner": map[string]any{"login": owner}}
		f.issues[strings.ToLower(fmt.Sprintf("%s/%s#%d", owner, repo, n))] = node
	}
}

func (f *fakeGitHub) fail(s ...scripted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, s...)
}

func (f *fakeGitHub) calls(pathPrefix string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if strings.HasPrefix(r.Path, pathPrefix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeGitHub) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", "4999")
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

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Accept: r.Header.Get("Accept"), APIVersion: r.Header.Get("X-GitHub-Api-Version")}
	var gq struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if r.Method == http.MethodPost {
		if err := json.Unmarshal(body, &gq); err != nil {
			f.t.Errorf("GraphQL body: %v", err)
		}
		rec.Query, rec.Variables = gq.Query, gq.Variables
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	var s *scripted
	if len(f.script) > 0 {
		s = &f.script[0]
		f.script = f.script[1:]
	}
	f.mu.Unlock()

	if rec.Auth != "Bearer "+f.token {
		writeJSON(w, 401, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
		return
	}
	if s != nil {
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == f.gql:
		f.graphql(w, gq.Query, gq.Variables)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, f.prefix+"/repos/"):
		f.rest(w, r)
	default:
		writeJSON(w, 404, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
	}
}

func (f *fakeGitHub) graphql(w http.ResponseWriter, query string, vars map[string]any) {
	if f.oldGHE && strings.Contains(query, "issueType") {
		writeJSON(w, 200, fixture(f.t, "graphql_undefined_field.json"))
		return
	}
	for _, frag := range []string{"fragment issue on Issue", "fragment pull on PullRequest"} {
		if !strings.Contains(query, frag) {
			f.t.Errorf("query lacks %q", frag)
		}
	}
	repoRE := regexp.MustCompile(`^(r\d+): repository\(owner: \$(o\d+), name: \$(n\d+)\) \{$`)
	issueRE := regexp.MustCompile(`^(i\d+): issueOrPullRequest\(number: (\d+)\) \{ \.\.\.issue \.\.\.pull \}$`)
	data := map[string]any{}
	var errs []map[string]any
	var repo map[string]any
	var repoAlias, repoKey string
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, line := range strings.Split(query, "\n") {
		line = strings.TrimSpace(line)
		if m := repoRE.FindStringSubmatch(line); m != nil {
			owner, _ := vars[m[2]].(string)
			name, _ := vars[m[3]].(string)
			repoAlias, repoKey = m[1], strings.ToLower(owner+"/"+name)
			if !f.repos[repoKey] {
				data[repoAlias], repo = nil, nil
				errs = append(errs, map[string]any{"type": "NOT_FOUND", "path": []any{repoAlias},
					"message": fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, name)})
				continue
			}
			repo = map[string]any{}
			data[repoAlias] = repo
			continue
		}
		if m := issueRE.FindStringSubmatch(line); m != nil {
			if repo == nil {
				continue
			}
			key := repoKey + "#" + m[2]
			if node, ok := f.issues[key]; ok && !f.deleted[key] {
				repo[m[1]] = node
				continue
			}
			repo[m[1]] = nil
			errs = append(errs, map[string]any{"type": "NOT_FOUND", "path": []any{repoAlias, m[1]},
				"message": "Could not resolve to an issue or pull request with the number of " + m[2] + "."})
		}
	}
	answer := map[string]any{"data": data}
	if len(errs) > 0 {
		answer["errors"] = errs
	}
	writeJSON(w, 200, answer)
}

// rest serves GET /repos/{owner}/{repo}/issues/{n} from the GraphQL nodes,
// in REST's shape.
func (f *fakeGitHub) rest(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, f.prefix+"/repos/"), "/")
	if len(parts) != 4 || parts[2] != "issues" {
		writeJSON(w, 404, fixture(f.t, "rest_not_found.json"))
		return
	}
	key := strings.ToLower(parts[0] + "/" + parts[1] + "#" + parts[3])
	f.mu.Lock()
	defer f.mu.Unlock()
	if to, ok := f.transferred[key]; ok {
		repo, n, _ := strings.Cut(to, "#")
		http.Redirect(w, r, f.prefix+"/repos/"+repo+"/issues/"+n, http.StatusMovedPermanently)
		return
	}
	if f.deleted[key] {
		writeJSON(w, 410, fixture(f.t, "rest_issue_deleted.json"))
		return
	}
	node, ok := f.issues[key]
	if !ok {
		writeJSON(w, 404, fixture(f.t, "rest_not_found.json"))
		return
	}
	var is map[string]any
	json.Unmarshal(fixture(f.t, "rest_issue.json"), &is)
	repo := node["repository"].(map[string]any)
	owner := repo["owner"].(map[string]any)["login"].(string)
	is["number"] = node["number"]
	is["title"] = node["title"]
	is["html_url"] = node["url"]
	is["repository_url"] = "https://api.github.com/repos/" + owner + "/" + repo["name"].(string)
	writeJSON(w, 200, is)
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

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func httpFor(sl *sleeps) *tracker.HTTP {
	return &tracker.HTTP{Sleep: sl.sleep, BaseDelay: 10 * time.Millisecond}
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
