package issuesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/testplanit/tpi-workers/internal/tracker"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

var syncedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// TestSyncWritesIssuesAsTheOriginal: every column the original's
// updateExistingIssue writes, including what it leaves alone when the
// provider omits a field; lastSyncAt; the result; the cache entry.
func TestSyncWritesIssuesAsTheOriginal(t *testing.T) {
	f := newFixture(t)
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, `{"baseUrl":"https://acme.atlassian.net"}`)
	full := f.issue(in, f.projects[0], "10001", "PROJ-1")
	bare := f.issue(in, f.projects[1], "10002", "PROJ-2")
	f.exec(`UPDATE "Issue" SET "externalUrl" = 'https://old/url', "issueTypeName" = 'Story', status = 'Open' WHERE id = $1`, bare)
	gone := f.issue(in, f.projects[1], "10003", "PROJ-3")

	created := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	cl := &fakeClient{batch: 50, issues: map[string]*tracker.Issue{
		"10001": {ID: "10001", Key: "PROJ-1", Title: "Login fails", Description: "Steps", Status: "In Progress",
			Priority: "High", Type: &tracker.IssueType{ID: "1", Name: "Bug", IconURL: "https://icons/bug.png"},
			Assignee: &tracker.Person{ID: "u1", Name: "Ann", Email: "ann@example.com"}, Labels: []string{"ui"},
			CustomFields: map[string]any{"customfield_1": "x"}, CreatedAt: created, UpdatedAt: created,
			URL: "https://acme.atlassian.net/browse/PROJ-1"},
		// No key, URL, type, priority, description or status: the
		// original leaves key, URL and type as stored.
		"10002": {ID: "10002", Title: "Bare"},
	}}
	cache := NewCache(f.rdb, false)
	h := &Handler{Clients: fakeSource{cl}, Cache: cache, Clock: fixedClock(syncedAt)}
	rw := collect(h)
	ctx := f.ctx()
	if err := h.SyncIssues(ctx, task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
		t.Fatal(err)
	}

	want := issueCols{Name: "PROJ-1", Title: "Login fails", Description: "Steps", Status: "In Progress", Priority: "High",
		ExternalID: ptr("10001"), ExternalKey: ptr("PROJ-1"), ExternalURL: ptr("https://acme.atlassian.net/browse/PROJ-1"),
		ExternalStatus: ptr("In Progress"), ExternalData: `{"customfield_1": "x"}`,
		IssueTypeID: ptr("1"), IssueTypeName: ptr("Bug"), IssueTypeIconURL: ptr("https://icons/bug.png"), LastSyncedAt: &syncedAt}
	if diff := cmp.Diff(want, f.row(full)); diff != "" {
		t.Errorf("full issue (-want +got):\n%s", diff)
	}
	want = issueCols{Name: "10002", Title: "Bare", Description: "", Status: "Open", Priority: "medium",
		ExternalID: ptr("10002"), ExternalKey: ptr("PROJ-2"), ExternalURL: ptr("https://old/url"), ExternalData: `{}`,
		IssueTypeName: ptr("Story"), LastSyncedAt: &syncedAt}
	if diff := cmp.Diff(want, f.row(bare)); diff != "" {
		t.Errorf("bare issue (-want +got):\n%s", diff)
	}
	if got := f.row(gone); got.LastSyncedAt != nil || got.Title != "old title" {
		t.Errorf("the issue deleted at the provider was written: %+v", got)
	}
	if at := f.lastSyncAt(in); at == nil || !at.Equal(syncedAt) {
		t.Errorf("lastSyncAt %v, want %v", at, syncedAt)
	}

	var res Result
	if err := json.Unmarshal([]byte(rw.last()), &res); err != nil {
		t.Fatalf("result %q: %v", rw.last(), err)
	}
	wantRes := Result{Total: 3, Synced: 2, NotFound: 1, Projects: []int{f.projects[0], f.projects[1]},
		Errors: []IssueError{{IssueID: gone, ExternalID: "10003", Error: res.Errors[0].Error}}}
	if diff := cmp.Diff(wantRes, res); diff != "" || !strings.Contains(res.Errors[0].Error, "not found") {
		t.Errorf("result (-want +got):\n%s\n%s", diff, rw.last())
	}
	// Progress in the original's shape came before the result.
	var prog Progress
	if err := json.Unmarshal([]byte(rw.writes[len(rw.writes)-2]), &prog); err != nil || prog.Current != 3 || prog.Total != 3 ||
		prog.Percentage != 100 || prog.Message != "Syncing issue 3 of 3" || prog.Synced != 2 || prog.NotFound != 1 {
		t.Errorf("last progress %s (%v)", rw.writes[len(rw.writes)-2], err)
	}

	// The cache: the original's key and TTL, its JSON.
	key := fmt.Sprintf("issue:%d:10001", in)
	ttl, err := f.rdb.TTL(context.Background(), key).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL of %s: %v %v", key, ttl, err)
	}
	raw, err := f.rdb.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := fmt.Sprintf(`{"id":"10001","key":"PROJ-1","title":"Login fails","description":"Steps","status":"In Progress",`+
		`"priority":"High","issueType":{"id":"1","name":"Bug","iconUrl":"https://icons/bug.png"},`+
		`"assignee":{"id":"u1","name":"Ann","email":"ann@example.com"},"labels":["ui"],"customFields":{"customfield_1":"x"},`+
		`"createdAt":"2025-01-02T03:04:05.678Z","updatedAt":"2025-01-02T03:04:05.678Z",`+
		`"url":"https://acme.atlassian.net/browse/PROJ-1","integrationId":%d,"cachedAt":"2026-03-04T05:06:07.000Z"}`, in)
	if raw != wantJSON {
		t.Errorf("cached\n%s\nwant\n%s", raw, wantJSON)
	}
	if n, _ := f.rdb.Exists(context.Background(), fmt.Sprintf("issue:%d:10003", in)).Result(); n != 0 {
		t.Error("the deleted issue was cached")
	}
}

// collect makes h write its progress and result into a new resultWriter.
func collect(h *Handler) *resultWriter {
	rw := &resultWriter{}
	h.results = func(context.Context) io.Writer { return rw }
	return rw
}

// TestSyncPagesByKeyAndFetchesInBatches: 1,234 issues, pages of 100, the
// client's batches of 50: every issue fetched once, 25 requests, none
// larger than the batch; a project sync only sees its project.
func TestSyncPagesByKeyAndFetchesInBatches(t *testing.T) {
	f := newFixture(t)
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, "")
	f.issues(in, f.projects[0], 1234, "A")
	f.issues(in, f.projects[1], 7, "B")
	cl := &fakeClient{batch: 50, issues: map[string]*tracker.Issue{}}
	for i := 1; i <= 1234; i++ {
		id := fmt.Sprintf("A%d", i)
		cl.issues[id] = &tracker.Issue{ID: id, Key: fmt.Sprintf("K-%d", i), Title: "new"}
	}
	h := &Handler{Clients: fakeSource{cl}, PageSize: 100, Clock: fixedClock(syncedAt)}
	rw := collect(h)
	err := h.SyncProjectIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in, ProjectID: fmt.Sprint(f.projects[0])})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, call := range cl.calls {
		if len(call) > 50 {
			t.Errorf("a request for %d issues", len(call))
		}
		for _, r := range call {
			seen[r]++
		}
	}
	if len(cl.calls) != 25 || len(seen) != 1234 {
		t.Errorf("%d requests for %d distinct issues; want 25 for 1234", len(cl.calls), len(seen))
	}
	for r, n := range seen {
		if n != 1 || !strings.HasPrefix(r, "A") {
			t.Errorf("%s fetched %d times", r, n)
		}
	}
	var synced int
	if err := f.db.QueryRow(context.Background(), `SELECT count(*) FROM "Issue" WHERE title = 'new' AND "lastSyncedAt" IS NOT NULL`).Scan(&synced); err != nil || synced != 1234 {
		t.Errorf("written %d %v", synced, err)
	}
	if !strings.Contains(rw.last(), `"synced":1234`) || !strings.Contains(rw.last(), fmt.Sprintf(`"projects":[%d]`, f.projects[0])) {
		t.Errorf("result %s", rw.last())
	}
}

// TestSyncReportsIssueFailures: a refused issue, a deleted one, a row
// conflict and an issue without identifier are counted and listed (the
// list bounded), the others written, and the task succeeds.
func TestSyncReportsIssueFailures(t *testing.T) {
	f := newFixture(t)
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, "")
	ok := f.issue(in, f.projects[0], "1", "P-1")
	refused := f.issue(in, f.projects[0], "2", "P-2")
	f.issue(in, f.projects[0], "3", "P-3") // deleted at the provider
	conflict := f.issue(in, f.projects[0], "P-4", "")
	f.issue(in, f.projects[0], "4", "P-4b") // holds the id the conflict row would take
	f.exec(`INSERT INTO "Issue"(name, title, "createdById", "integrationId") VALUES ('', 'nameless', $1, $2)`, f.user, in)
	cl := &fakeClient{batch: 10, issues: map[string]*tracker.Issue{
		"1":   {ID: "1", Key: "P-1", Title: "one"},
		"P-4": {ID: "4", Key: "P-4", Title: "four"},
		"4":   {ID: "4", Key: "P-4b", Title: "four b"},
	}, errs: map[string]error{"2": &tracker.StatusError{Provider: "jira", Status: 403, Body: "no permission"}}}
	h := &Handler{Clients: fakeSource{cl}, Clock: fixedClock(syncedAt), MaxErrors: 3}
	rw := collect(h)
	if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in}); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal([]byte(rw.last()), &res); err != nil {
		t.Fatal(err)
	}
	if res.Synced != 2 || res.Failed != 3 || res.NotFound != 1 || len(res.Errors) != 3 || res.ErrorsOmitted != 1 {
		t.Errorf("result %s", rw.last())
	}
	if f.row(ok).LastSyncedAt == nil || f.row(refused).LastSyncedAt != nil || f.row(conflict).LastSyncedAt != nil {
		t.Errorf("written rows wrong: ok %v refused %v conflict %v", f.row(ok).LastSyncedAt, f.row(refused).LastSyncedAt, f.row(conflict).LastSyncedAt)
	}
	if !strings.Contains(rw.last(), "403") {
		t.Errorf("the refusal is not in the result: %s", rw.last())
	}
}

// TestSyncFailsOnABrokenIntegration: refused credentials fail the task
// (transient: retried, shown failed) before anything is written; a rate
// limit becomes worker.RateLimited with the provider's delay.
func TestSyncFailsOnABrokenIntegration(t *testing.T) {
	f := newFixture(t)
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, "")
	f.issues(in, f.projects[0], 5, "X")
	before := f.snapshot()
	cl := &fakeClient{batch: 50, fail: fmt.Errorf("%w (jira: HTTP 401)", tracker.ErrUnauthorized)}
	h := &Handler{Clients: fakeSource{cl}}
	err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	if err == nil || worker.IsPermanent(err) || worker.Class(err) != "transient" || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("401: %v (class %s)", err, worker.Class(err))
	}
	if f.snapshot() != before || f.lastSyncAt(in) != nil {
		t.Error("a row changed on 401")
	}

	cl.fail = &tracker.RateLimitError{Provider: "jira", RetryAfter: 42 * time.Second, Err: errors.New("HTTP 429")}
	err = h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in})
	rl, ok := errors.AsType[*worker.RateLimitError](err)
	if !ok || rl.RetryAfter != 42*time.Second {
		t.Fatalf("429: %v", err)
	}
	if f.snapshot() != before {
		t.Error("a row changed on 429")
	}
}

// TestSyncRefusesWhatCannotBeSynced: a missing, inactive or deleted
// integration, OAuth without the user's auth row, SIMPLE_URL: permanent.
func TestSyncRefusesWhatCannotBeSynced(t *testing.T) {
	f := newFixture(t)
	h := &Handler{Clients: fakeSource{&fakeClient{batch: 1}}}
	inactive := f.integration(ProviderJira, AuthAPIKey, `{"apiToken":"t"}`, "")
	f.exec(`UPDATE "Integration" SET status = 'INACTIVE' WHERE id = $1`, inactive)
	deleted := f.integration(ProviderGitHub, AuthPersonalAccessToken, `{"personalAccessToken":"t"}`, "")
	f.exec(`UPDATE "Integration" SET "isDeleted" = true WHERE id = $1`, deleted)
	oauth := f.integration(ProviderJira, AuthOAuth2, `{}`, "")
	simple := f.integration(ProviderSimpleURL, AuthNone, `{}`, `{"baseUrl":"https://x/{issueId}"}`)
	nocred := f.integration(ProviderAzureDevOps, AuthPersonalAccessToken, `{}`, "")
	for _, tc := range []struct {
		id   int
		want string
	}{
		{999999, "integration not found"}, {inactive, "not active"}, {deleted, "deleted"},
		{oauth, "not authenticated"}, {simple, "does not support"}, {nocred, "missing credentials"},
	} {
		err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: tc.id})
		if !worker.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("integration %d: %v, want permanent %q", tc.id, err, tc.want)
		}
	}
}

// TestRefreshIssue: one issue by id or key; the original's messages and
// error classes.
func TestRefreshIssue(t *testing.T) {
	f := newFixture(t)
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, "")
	row := f.issue(in, f.projects[0], "10001", "PROJ-1")
	cl := &fakeClient{batch: 50, issues: map[string]*tracker.Issue{
		"PROJ-1":  {ID: "10001", Key: "PROJ-1", Title: "refreshed", Status: "Done"},
		"PROJ-9":  {ID: "10009", Key: "PROJ-9", Title: "not in TestPlanIt"},
		"PROJ-50": {ID: "10050", Key: "PROJ-50", Title: "x"},
	}, errs: map[string]error{
		"PROJ-7": &tracker.StatusError{Provider: "jira", Status: 400, Body: "bad"},
		"PROJ-8": errors.New("jira: GET https://x: connection refused"),
	}}
	h := &Handler{Clients: fakeSource{cl}, Clock: fixedClock(syncedAt)}
	rw := collect(h)
	if err := h.RefreshIssue(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in, IssueID: "PROJ-1"}); err != nil {
		t.Fatal(err)
	}
	if got := f.row(row); got.Title != "refreshed" || got.LastSyncedAt == nil || *got.ExternalStatus != "Done" {
		t.Errorf("row %+v", got)
	}
	if want := fmt.Sprintf(`{"success":true,"issueId":%d,"externalId":"10001","projects":[%d]}`, row, f.projects[0]); rw.last() != want {
		t.Errorf("result %s, want %s", rw.last(), want)
	}
	if f.lastSyncAt(in) != nil {
		t.Error("a refresh set lastSyncAt")
	}
	for _, tc := range []struct {
		ref, class, want string
	}{
		{"PROJ-9", "permanent", "Issues must be created through the UI before they can be synced"},
		{"PROJ-6", "permanent", "not found"},
		{"PROJ-7", "permanent", "HTTP 400"},
		{"PROJ-8", "transient", "connection refused"},
	} {
		err := h.RefreshIssue(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in, IssueID: tc.ref})
		if worker.Class(err) != tc.class || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (class %s), want %s %q", tc.ref, err, worker.Class(err), tc.class, tc.want)
		}
	}
}

// TestSyncEnqueuesOneReindexPerProject: after a sync, one issues reindex
// per project written, carrying the tenant; a second sync while they wait
// adds none.
func TestSyncEnqueuesOneReindexPerProject(t *testing.T) {
	f := newFixture(t)
	f.tenantID = "acme"
	in := f.integration(ProviderJira, AuthAPIKey, `{"email":"a@b.c","apiToken":"t"}`, "")
	f.issue(in, f.projects[0], "1", "P-1")
	f.issue(in, f.projects[1], "2", "P-2")
	f.issue(in, f.projects[1], "3", "P-3")
	cl := &fakeClient{batch: 50, issues: map[string]*tracker.Issue{
		"1": {ID: "1", Title: "a"}, "2": {ID: "2", Title: "b"}, "3": {ID: "3", Title: "c"}}}
	client := worker.NewClient(worker.Config{Redis: f.ropt})
	defer client.Close()
	h := &Handler{Clients: fakeSource{cl}, Enqueuer: client}
	for range 2 {
		if err := h.SyncIssues(f.ctx(), task.SyncJob{UserID: f.user, IntegrationID: in, TenantID: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	got := f.reindexTasks()
	projects := map[int]int{}
	for _, p := range got {
		if p.EntityType != task.EntityIssues || p.TenantID != "acme" || p.ProjectID == nil {
			t.Errorf("reindex %+v", p)
			continue
		}
		projects[*p.ProjectID]++
	}
	if len(got) != 2 || projects[f.projects[0]] != 1 || projects[f.projects[1]] != 1 {
		t.Errorf("reindex tasks %+v, want one per project", got)
	}
}

// TestClientsAreKeptPerTenantAndVersion: equal integration ids of two
// tenants get two clients; unchanged rows reuse theirs; changed credentials
// or tokens make a new one; the least recently used goes beyond Max.
func TestClientsAreKeptPerTenantAndVersion(t *testing.T) {
	builds := 0
	cs := NewClients(func(_ context.Context, tenantID string, in *Integration) (tracker.Client, error) {
		builds++
		return &fakeClient{batch: builds}, nil
	})
	cs.Max = 3
	ctx := context.Background()
	a := &Integration{ID: 1, Provider: ProviderJira, AuthType: AuthAPIKey, Credentials: []byte(`{"encrypted":"A"}`)}
	b := &Integration{ID: 1, Provider: ProviderJira, AuthType: AuthAPIKey, Credentials: []byte(`{"encrypted":"B"}`)}
	ca, _ := cs.Get(ctx, "acme", a)
	cb, _ := cs.Get(ctx, "globex", b)
	if ca == cb || builds != 2 {
		t.Fatalf("two tenants share a client (builds %d)", builds)
	}
	if again, _ := cs.Get(ctx, "acme", a); again != ca || builds != 2 {
		t.Error("an unchanged integration was rebuilt")
	}
	a2 := *a
	a2.Credentials = []byte(`{"encrypted":"A2"}`)
	if c, _ := cs.Get(ctx, "acme", &a2); c == ca || builds != 3 {
		t.Error("changed credentials kept the old client")
	}
	o := &Integration{ID: 2, Provider: ProviderJira, AuthType: AuthOAuth2, Credentials: []byte(`{}`),
		Auth: &UserAuth{ID: "auth1", AccessToken: "x"}}
	co, _ := cs.Get(ctx, "acme", o)
	o2 := *o
	o2.Auth = &UserAuth{ID: "auth1", AccessToken: "y"}
	if c, _ := cs.Get(ctx, "acme", &o2); c == co {
		t.Error("a new access token kept the old client")
	}
	cs.Get(ctx, "initech", a)
	if cs.Len() != 3 {
		t.Errorf("%d clients kept, Max 3", cs.Len())
	}
}
