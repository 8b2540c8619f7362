package issuesync

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is an answer a fake gives instead of serving an API request.
type scripted struct {
	status int
	header map[string]string
	body   string
}

// hit is one API request a fake received.
type hit struct {
	at           time.Time
	method, path string
	auth         string
	body         string
}

// fakeAPI is the part every provider fake shares: an httptest server that
// records API requests, checks their Authorization header, waits latency,
// and gives scripted answers first. serve answers the rest.
type fakeAPI struct {
	t       testing.TB
	srv     *httptest.Server
	latency time.Duration
	// auth, when set, lists the Authorization headers accepted (401
	// otherwise).
	auth []string
	// api reports whether a request is an API request (the rest, e.g. an
	// OAuth token endpoint, is served without auth, script or latency).
	api   func(r *http.Request) bool
	serve func(w http.ResponseWriter, r *http.Request, body []byte)

	mu     sync.Mutex
	script []scripted
	hits   []hit
}

func newFakeAPI(t testing.TB, serve func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeAPI {
	f := &fakeAPI{t: t, serve: serve, api: func(*http.Request) bool { return true }}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !f.api(r) {
		f.serve(w, r, body)
		return
	}
	f.mu.Lock()
	f.hits = append(f.hits, hit{at: time.Now(), method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), body: string(body)})
	var s *scripted
	if len(f.script) > 0 {
		s = &f.script[0]
		f.script = f.script[1:]
	}
	auth := f.auth
	f.mu.Unlock()
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	if s != nil {
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		io.WriteString(w, s.body)
		return
	}
	if len(auth) > 0 && !slices.Contains(auth, r.Header.Get("Authorization")) {
		answer(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials"})
		return
	}
	f.serve(w, r, body)
}

func (f *fakeAPI) queue(s ...scripted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, s...)
}

func (f *fakeAPI) requests() []hit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hits)
}

func (f *fakeAPI) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits = nil
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ---- Jira (REST v3 Cloud, v2 Server, OAuth 2.0 through api.atlassian.com)

// fakeJira serves Jira's documented answers: the enhanced JQL search
// (POST /rest/api/3/search/jql), Server's search (POST /rest/api/2/search),
// GET /rest/api/{2,3}/issue/{idOrKey}, Atlassian's token endpoint
// (POST /oauth/token) and the OAuth API under /ex/jira/{cloudId}. A JQL
// `key in (...)` naming a missing issue is refused with 400, as Jira does.
type fakeJira struct {
	*fakeAPI
	mu     sync.Mutex
	issues map[string]map[string]any // by id and by key
	// token endpoint
	tokens      []url.Values // refresh requests received
	tokenAnswer map[string]any
	// liveRefresh, when set, makes the token endpoint rotate as
	// Atlassian's does: only the newest refresh token is accepted (a spent
	// one gets invalid_grant), and refresh N answers access-N and
	// refresh-N, access-N then authenticating API requests.
	liveRefresh string
	issued      int
}

var (
	jqlIDs  = regexp.MustCompile(`id in \(([^)]*)\)`)
	jqlKeys = regexp.MustCompile(`key in \(([^)]*)\)`)
)

func newFakeJira(t testing.TB) *fakeJira {
	j := &fakeJira{issues: map[string]map[string]any{}}
	j.fakeAPI = newFakeAPI(t, j.serveJira)
	j.api = func(r *http.Request) bool { return r.URL.Path != "/oauth/token" }
	return j
}

// add makes issue id/key with summary title.
func (j *fakeJira) add(id, key, title string) {
	is := map[string]any{
		"id": id, "key": key, "self": j.srv.URL + "/rest/api/3/issue/" + id,
		"fields": map[string]any{
			"summary": title, "description": nil,
			"status":    map[string]any{"name": "In Progress", "id": "3"},
			"priority":  map[string]any{"name": "High", "id": "2"},
			"issuetype": map[string]any{"id": "10001", "name": "Bug", "iconUrl": j.srv.URL + "/bug.png"},
			"assignee":  nil, "reporter": nil, "labels": []string{"backend"},
			"created": "2024-02-10T08:00:00.000+0000", "updated": "2024-02-11T09:30:00.000+0000",
		},
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.issues[id], j.issues[key] = is, is
}

// addN adds issues 1..n: id 10000+i, key PROJ-i.
func (j *fakeJira) addN(n int) {
	for i := 1; i <= n; i++ {
		j.add(strconv.Itoa(10000+i), fmt.Sprintf("PROJ-%d", i), fmt.Sprintf("Remote %d", i))
	}
}

func (j *fakeJira) remove(id, key string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.issues, id)
	delete(j.issues, key)
}

func (j *fakeJira) serveJira(w http.ResponseWriter, r *http.Request, body []byte) {
	path := r.URL.Path
	if path == "/oauth/token" {
		form, _ := url.ParseQuery(string(body))
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var m map[string]string
			_ = json.Unmarshal(body, &m)
			form = url.Values{}
			for k, v := range m {
				form.Set(k, v)
			}
		}
		j.mu.Lock()
		j.tokens = append(j.tokens, form)
		tok := j.tokenAnswer
		if j.liveRefresh != "" {
			tok = nil
			if form.Get("refresh_token") == j.liveRefresh {
				j.issued++
				j.liveRefresh = fmt.Sprintf("refresh-%d", j.issued)
				tok = map[string]any{"access_token": fmt.Sprintf("access-%d", j.issued), "refresh_token": j.liveRefresh,
					"expires_in": 3600, "token_type": "Bearer", "scope": "read:jira-work offline_access"}
				j.fakeAPI.mu.Lock()
				j.fakeAPI.auth = append(j.fakeAPI.auth, fmt.Sprintf("Bearer access-%d", j.issued))
				j.fakeAPI.mu.Unlock()
			}
		}
		j.mu.Unlock()
		if form.Get("grant_type") != "refresh_token" || tok == nil {
			answer(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
			return
		}
		answer(w, http.StatusOK, tok)
		return
	}
	if i := strings.Index(path, "/rest/api/"); i > 0 {
		path = path[i:] // /ex/jira/<cloudId>/rest/api/3/...
	}
	switch {
	case r.Method == http.MethodPost && (path == "/rest/api/3/search/jql" || path == "/rest/api/2/search"):
		var q struct {
			JQL string `json:"jql"`
		}
		_ = json.Unmarshal(body, &q)
		var found []any
		seen := map[string]bool{}
		j.mu.Lock()
		defer j.mu.Unlock()
		if m := jqlKeys.FindStringSubmatch(q.JQL); m != nil {
			for _, k := range strings.Split(m[1], ",") {
				k = strings.Trim(strings.TrimSpace(k), `"`)
				if j.issues[k] == nil {
					answer(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{
						fmt.Sprintf("An issue with key '%s' does not exist for field 'key'.", k)}, "errors": map[string]any{}})
					return
				}
				if is := j.issues[k]; !seen[is["id"].(string)] {
					seen[is["id"].(string)] = true
					found = append(found, is)
				}
			}
		}
		if m := jqlIDs.FindStringSubmatch(q.JQL); m != nil {
			for _, id := range strings.Split(m[1], ",") {
				if is := j.issues[strings.TrimSpace(id)]; is != nil && !seen[is["id"].(string)] {
					seen[is["id"].(string)] = true
					found = append(found, is)
				}
			}
		}
		if path == "/rest/api/2/search" {
			answer(w, http.StatusOK, map[string]any{"startAt": 0, "maxResults": len(found), "total": len(found), "issues": found})
			return
		}
		answer(w, http.StatusOK, map[string]any{"issues": found, "isLast": true})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/rest/api/"):
		ref := path[strings.LastIndex(path, "/")+1:]
		j.mu.Lock()
		is := j.issues[ref]
		j.mu.Unlock()
		if is == nil {
			answer(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]any{}})
			return
		}
		answer(w, http.StatusOK, is)
	default:
		answer(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"no such endpoint " + r.URL.Path}})
	}
}

// ---- GitHub (GraphQL, REST for what GraphQL cannot resolve)

var (
	ghRepoAlias  = regexp.MustCompile(`(r\d+): repository\(owner: \$(o\d+), name: \$(n\d+)\) \{`)
	ghIssueAlias = regexp.MustCompile(`(i\d+): issueOrPullRequest\(number: (\d+)\)`)
)

// fakeGitHub serves GitHub's GraphQL API (/api/graphql, the Enterprise
// path of a base URL without /api/v3) and the REST issue endpoint.
type fakeGitHub struct {
	*fakeAPI
	mu     sync.Mutex
	issues map[string]map[string]any // "owner/repo#n"
}

func newFakeGitHub(t testing.TB) *fakeGitHub {
	g := &fakeGitHub{issues: map[string]map[string]any{}}
	g.fakeAPI = newFakeAPI(t, g.serveGitHub)
	return g
}

func (g *fakeGitHub) add(owner, repo string, n int, title string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.issues[fmt.Sprintf("%s/%s#%d", owner, repo, n)] = map[string]any{
		"__typename": "Issue", "id": fmt.Sprintf("I_%s_%d", repo, n), "number": n, "title": title,
		"body": "Body of " + title, "state": "OPEN", "url": fmt.Sprintf("https://github.com/%s/%s/issues/%d", owner, repo, n),
		"createdAt": "2024-04-22T13:33:48Z", "updatedAt": "2024-04-23T09:00:00Z",
		"repository": map[string]any{"name": repo, "owner": map[string]any{"login": owner}},
		"labels":     map[string]any{"nodes": []any{map[string]any{"name": "bug"}}},
		"assignees":  map[string]any{"nodes": []any{}}, "author": map[string]any{"login": "hubot"},
		"stateReason": nil, "issueType": nil,
	}
}

func (g *fakeGitHub) serveGitHub(w http.ResponseWriter, r *http.Request, body []byte) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/graphql":
		var q struct {
			Query     string            `json:"query"`
			Variables map[string]string `json:"variables"`
		}
		_ = json.Unmarshal(body, &q)
		data := map[string]any{}
		var errs []any
		g.mu.Lock()
		defer g.mu.Unlock()
		blocks := strings.Split(q.Query, "\n  r")
		for _, b := range blocks[1:] {
			m := ghRepoAlias.FindStringSubmatch("r" + b)
			if m == nil {
				continue
			}
			owner, repo := q.Variables[m[2]], q.Variables[m[3]]
			items := map[string]any{}
			for _, im := range ghIssueAlias.FindAllStringSubmatch(b, -1) {
				n, _ := strconv.Atoi(im[2])
				if is := g.issues[fmt.Sprintf("%s/%s#%d", owner, repo, n)]; is != nil {
					items[im[1]] = is
				} else {
					items[im[1]] = nil
					errs = append(errs, map[string]any{"type": "NOT_FOUND", "path": []string{m[1], im[1]},
						"message": fmt.Sprintf("Could not resolve to an issue or pull request with the number of %d.", n)})
				}
			}
			data[m[1]] = items
		}
		ans := map[string]any{"data": data}
		if len(errs) > 0 {
			ans["errors"] = errs
		}
		answer(w, http.StatusOK, ans)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v3/repos/"):
		// /api/v3/repos/{owner}/{repo}/issues/{n}
		p := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v3/repos/"), "/")
		g.mu.Lock()
		var is map[string]any
		if len(p) == 4 {
			is = g.issues[p[0]+"/"+p[1]+"#"+p[3]]
		}
		g.mu.Unlock()
		if is == nil {
			answer(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
			return
		}
		answer(w, http.StatusOK, map[string]any{"number": is["number"], "title": is["title"], "state": "open",
			"html_url": is["url"], "body": is["body"], "created_at": is["createdAt"], "updated_at": is["updatedAt"]})
	default:
		answer(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
	}
}

// ---- Azure DevOps (Work Items - Get Work Items Batch)

type fakeAzure struct {
	*fakeAPI
	mu    sync.Mutex
	items map[int]map[string]any
}

func newFakeAzure(t testing.TB) *fakeAzure {
	a := &fakeAzure{items: map[int]map[string]any{}}
	a.fakeAPI = newFakeAPI(t, a.serveAzure)
	return a
}

func (a *fakeAzure) add(id int, title string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.items[id] = map[string]any{
		"id": id, "rev": 3, "url": fmt.Sprintf("%s/_apis/wit/workItems/%d", a.srv.URL, id),
		"fields": map[string]any{
			"System.Id": id, "System.Title": title, "System.State": "Active", "System.WorkItemType": "Bug",
			"System.Description": "<div>Repro <b>steps</b></div>", "Microsoft.VSTS.Common.Priority": 2,
			"System.Tags": "ui; login", "System.CreatedDate": "2024-03-01T10:00:00Z", "System.ChangedDate": "2024-03-02T11:00:00Z",
			"Custom.Team": "Core",
		},
		"_links": map[string]any{"html": map[string]any{"href": fmt.Sprintf("%s/Fabrikam/_workitems/edit/%d", a.srv.URL, id)}},
	}
}

func (a *fakeAzure) serveAzure(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_apis/wit/workitemsbatch") {
		answer(w, http.StatusNotFound, map[string]any{"message": "not found"})
		return
	}
	var q struct {
		IDs []int `json:"ids"`
	}
	_ = json.Unmarshal(body, &q)
	var out []any
	a.mu.Lock()
	for _, id := range q.IDs {
		if it := a.items[id]; it != nil {
			out = append(out, it)
		}
	}
	a.mu.Unlock()
	answer(w, http.StatusOK, map[string]any{"count": len(out), "value": out})
}

// ---- Linear (GraphQL)

var linearAlias = regexp.MustCompile(`(k\d+): issue\(id: \$(k\d+)\)`)

type fakeLinear struct {
	*fakeAPI
	mu     sync.Mutex
	issues map[string]map[string]any // by UUID and identifier
}

func newFakeLinear(t testing.TB) *fakeLinear {
	l := &fakeLinear{issues: map[string]map[string]any{}}
	l.fakeAPI = newFakeAPI(t, l.serveLinear)
	return l
}

func (l *fakeLinear) add(uuid, ident, title string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	is := map[string]any{
		"id": uuid, "identifier": ident, "title": title, "description": "Markdown **body**",
		"url": "https://linear.app/acme/issue/" + ident, "priority": 2, "priorityLabel": "High",
		"trashed": false, "archivedAt": nil, "createdAt": "2024-05-02T09:12:44.120Z", "updatedAt": "2024-05-06T17:01:02.003Z",
		"state": map[string]any{"name": "In Progress"}, "team": map[string]any{"key": "ENG"},
		"labels": map[string]any{"nodes": []any{map[string]any{"name": "Bug"}}}, "assignee": nil, "creator": nil,
	}
	l.issues[uuid], l.issues[ident] = is, is
}

func (l *fakeLinear) serveLinear(w http.ResponseWriter, r *http.Request, body []byte) {
	var q struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	_ = json.Unmarshal(body, &q)
	data := map[string]any{}
	var errs []any
	l.mu.Lock()
	defer l.mu.Unlock()
	if ids, ok := q.Variables["ids"].([]any); ok {
		var nodes []any
		for _, id := range ids {
			if is := l.issues[id.(string)]; is != nil {
				nodes = append(nodes, is)
			}
		}
		data["byId"] = map[string]any{"nodes": nodes}
	}
	for _, m := range linearAlias.FindAllStringSubmatch(q.Query, -1) {
		ident, _ := q.Variables[m[2]].(string)
		if is := l.issues[ident]; is != nil {
			data[m[1]] = is
			continue
		}
		data[m[1]] = nil
		errs = append(errs, map[string]any{"message": "Entity not found: Issue", "path": []string{m[1]},
			"extensions": map[string]any{"type": "invalid input", "code": "INPUT_ERROR", "userError": true}})
	}
	ans := map[string]any{"data": data}
	if len(errs) > 0 {
		ans["errors"] = errs
	}
	answer(w, http.StatusOK, ans)
}
