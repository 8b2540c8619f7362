package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// TestScenariosInProcess runs every scenario (index_scenarios_test.go)
// against the in-process Elasticsearch, each on a server of its own, and
// checks that none of them let Elasticsearch auto-create an index (every
// index has our explicit mapping).
func TestScenariosInProcess(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			es := testenv.StartElasticsearch(t)
			sc.run(t, es.URL)
			for _, ix := range es.Indices() {
				if ix.AutoCreated {
					t.Errorf("index %s was auto-created by a write", ix.Name)
				}
			}
		})
	}
}

// aliasActions decodes the actions of an _aliases request as "type index"
// strings ("remove a must_exist", "add b").
func aliasActions(t *testing.T, body json.RawMessage) []string {
	t.Helper()
	var req struct {
		Actions []map[string]map[string]any `json:"actions"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range req.Actions {
		for typ, args := range a {
			s := typ + " " + fmt.Sprint(args["index"])
			if args["must_exist"] == true {
				s += " must_exist"
			}
			out = append(out, s)
		}
	}
	return out
}

// TestAliasMovesInOneRequest: a rebuild moves the alias with exactly one
// _aliases request: add (first build), remove with must_exist plus add
// (rebuild), remove_index plus add (migration of the original's concrete
// index).
func TestAliasMovesInOneRequest(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	alias := hs.alias(KindMilestones)
	first := hs.mustRun(entity(KindMilestones)).Entities[0].Index
	second := hs.mustRun(entity(KindMilestones)).Entities[0].Index
	reqs := es.AliasRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d alias requests, want 2", len(reqs))
	}
	if got := aliasActions(t, reqs[0]); !slices.Equal(got, []string{"add " + first}) {
		t.Errorf("first build: %v", got)
	}
	if got := aliasActions(t, reqs[1]); !slices.Equal(got, []string{"remove " + first + " must_exist", "add " + second}) {
		t.Errorf("rebuild: %v", got)
	}
	if got := es.AliasTargets(alias); !slices.Equal(got, []string{second}) {
		t.Errorf("alias on %v", got)
	}

	sessions := hs.alias(KindSessions)
	hs.call(http.MethodPut, "/"+sessions, nil)
	third := hs.mustRun(entity(KindSessions)).Entities[0].Index
	reqs = es.AliasRequests()
	if got := aliasActions(t, reqs[len(reqs)-1]); len(reqs) != 3 || !slices.Equal(got, []string{"remove_index " + sessions, "add " + third}) {
		t.Errorf("migration: %d requests, last %v", len(reqs), got)
	}
}

// TestBulkRequestsAreBoundedInBytes: the bulk indexer sends requests of at
// most ELASTICSEARCH_BULK_BYTES.
func TestBulkRequestsAreBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	es := testenv.StartElasticsearch(t)
	db, _ := testenv.Postgres(t)
	base, err := writeGenBase(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := genProject(ctx, db, base, "Bounded", 200, 3); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, es.URL, db, "")
	const limit = 12 << 10
	hs.h.Config = Config{BulkBytes: limit, BulkWorkers: 3}
	r := hs.mustRun(entity(KindRepositoryCases))
	sizes := es.BulkRequestSizes()
	if r.Results[KindRepositoryCases] != 200 || len(sizes) < 5 {
		t.Fatalf("%d documents in %d requests", r.Results[KindRepositoryCases], len(sizes))
	}
	for _, n := range sizes {
		if n > limit {
			t.Errorf("a bulk request of %d bytes, limit %d", n, limit)
		}
	}
}

// TestInjectedItemFailureFailsTheTask: one item refused among many (a
// mapper_parsing_exception injected by the server) fails the rebuild with
// its summary; the alias stays, the new index is deleted.
func TestInjectedItemFailureFailsTheTask(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	alias := hs.alias(KindRepositoryCases)
	old := hs.mustRun(entity(KindRepositoryCases)).Entities[0].Index
	es.FailBulkItem(2)
	_, err := hs.run(entity(KindRepositoryCases))
	if err == nil || !worker.IsPermanent(err) || !strings.Contains(err.Error(), "mapper_parsing_exception 1") {
		t.Fatalf("err %v", err)
	}
	if got := es.AliasTargets(alias); !slices.Equal(got, []string{old}) {
		t.Errorf("alias on %v, want %s", got, old)
	}
	for _, ix := range es.Indices() {
		if strings.HasPrefix(ix.Name, alias) && ix.Name != old {
			t.Errorf("the failed rebuild's index %s is left", ix.Name)
		}
	}
}

// TestRejectedItemsAreTransient: items Elasticsearch rejects for load (429)
// fail the task as transient: another run may pass.
func TestRejectedItemsAreTransient(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	es.SetItemFault(func(it testenv.ESBulkItem) *testenv.ESItemError {
		if it.N == 1 {
			return &testenv.ESItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution (queue capacity 200)"}
		}
		return nil
	})
	_, err := hs.run(entity(KindRepositoryCases))
	if err == nil || worker.IsPermanent(err) || !strings.Contains(err.Error(), "es_rejected_execution_exception 1") {
		t.Errorf("err %v: want a transient failure", err)
	}
}

// TestUnavailableElasticsearchIsTransient: while the node answers 503 the
// task fails as transient and the dependency's ping fails (so the runtime's
// gate holds the task without spending its attempt); once it answers, the
// ping passes and the rebuild runs.
func TestUnavailableElasticsearchIsTransient(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	es.Unavailable(time.Hour)
	_, err := hs.run(entity(KindProjects))
	if err == nil || worker.IsPermanent(err) {
		t.Fatalf("err %v: want a transient failure", err)
	}
	start := time.Now()
	if err := hs.h.Clients.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("ping during the outage: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a ping took %s: it must not retry", d)
	}
	es.Unavailable(0)
	if err := hs.h.Clients.Ping(context.Background()); err != nil {
		t.Errorf("ping once the node answers: %v", err)
	}
	hs.mustRun(entity(KindProjects))
}

// TestUnreachableTenantNodeIsPinged: a tenant's node that cannot be
// reached joins the dependency's ping until it answers.
func TestUnreachableTenantNodeIsPinged(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	dead := testenv.StartElasticsearch(t)
	deadURL := dead.URL
	dead.Close()
	hs := newHarness(t, es.URL, db, "")
	hs.h.Clients = NewClients(Config{}, es.URL)
	if err := hs.h.Clients.Ping(context.Background()); err != nil {
		t.Fatalf("ping of the default node: %v", err)
	}
	hs.tn.ElasticsearchNode = deadURL
	_, err := hs.run(entity(KindProjects))
	var te *TransportError
	if err == nil || worker.IsPermanent(err) || !errors.As(err, &te) {
		t.Fatalf("err %v: want a transient transport error", err)
	}
	if err := hs.h.Clients.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("ping after the tenant's node failed: %v", err)
	}
}

// TestOrphansOfInterruptedRebuildsAreRemoved: a rebuild deletes the
// indices of its alias that a killed process left more than a day ago, and
// leaves younger ones (another process may be filling them).
func TestOrphansOfInterruptedRebuildsAreRemoved(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	alias := hs.alias(KindTestRuns)
	old := fmt.Sprintf("%s-%d", alias, time.Now().Add(-25*time.Hour).UnixNano())
	young := fmt.Sprintf("%s-%d", alias, time.Now().Add(-time.Hour).UnixNano())
	for _, name := range []string{old, young} {
		if st, m := hs.call(http.MethodPut, "/"+name, nil); st != 200 {
			t.Fatalf("%s: %d %v", name, st, m)
		}
	}
	r := hs.mustRun(entity(KindTestRuns))
	got := hs.concretes(alias)
	if want := []string{young, r.Entities[0].Index}; !slices.Equal(got, want) {
		t.Errorf("indices %v, want %v", got, want)
	}
}

// TestConcurrentRebuildsLeaveOneIndex: two rebuilds of one index at once
// (concurrency 2) both succeed and leave the alias on one index, with no
// other left.
func TestConcurrentRebuildsLeaveOneIndex(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			errs[i] = hs.h.Reindex(hs.ctx(), entity(KindRepositoryCases))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	hs.checkAliasOnOneIndex(hs.alias(KindRepositoryCases))
}

// TestConcurrentFirstBuildsAcrossProcessesSettle: two processes (two
// handlers, no shared lock) creating the alias at once leave it on one
// index.
func TestConcurrentFirstBuildsAcrossProcessesSettle(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	other := &Handler{Clients: NewClients(Config{}, es.URL)}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range []*Handler{hs.h, other} {
		wg.Go(func() {
			errs[i] = h.Reindex(hs.ctx(), entity(KindIssues))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	hs.checkAliasOnOneIndex(hs.alias(KindIssues))
}

// TestProjectReindexCreatesAMissingIndex: a project reindex before any
// rebuild creates the index with its mapping (no auto-creation) behind the
// alias and indexes that project alone.
func TestProjectReindexCreatesAMissingIndex(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	hs := newHarness(t, es.URL, db, "")
	alias := hs.alias(KindRepositoryCases)
	r := hs.mustRun(projectTask(string(KindRepositoryCases), 2))
	hs.checkAliasOnOneIndex(alias)
	if _, n := hs.count(alias, nil); n != hs.want(KindRepositoryCases, 2) || n == 0 || r.Results[KindRepositoryCases] != n {
		t.Errorf("%d documents, project 2 has %d", n, hs.want(KindRepositoryCases, 2))
	}
	for _, ix := range es.Indices() {
		if ix.AutoCreated || ix.Mappings["dynamic"] != "strict" {
			t.Errorf("index %s: auto-created %v, mapping %v", ix.Name, ix.AutoCreated, ix.Mappings["dynamic"])
		}
	}
}

// TestTaskRefusals: what no retry cures is permanent, before anything is
// written.
func TestTaskRefusals(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	db, _ := fixturePool(t)
	for _, tc := range []struct {
		name  string
		setup func(hs *harness)
		want  string
	}{
		{"no node", func(hs *harness) { hs.tn.ElasticsearchNode = "" }, "no Elasticsearch node"},
		{"bad node", func(hs *harness) { hs.tn.ElasticsearchNode = "elastic:9200" }, "want http(s)://host:port"},
		{"bad prefix", func(hs *harness) { hs.tn.ElasticsearchIndex = "Acme" }, "must be lowercase"},
		{"bad replicas", func(hs *harness) {
			hs.exec(`INSERT INTO "AppConfig" (key, value) VALUES ('elasticsearch_replicas', '"many"') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
		}, "replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, es.URL, db, "")
			tc.setup(hs)
			_, err := hs.run(entity(KindProjects))
			if err == nil || !worker.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want a permanent %q", err, tc.want)
			}
			hs.exec(`DELETE FROM "AppConfig" WHERE key = 'elasticsearch_replicas'`)
		})
	}
	for _, ix := range es.Indices() {
		t.Errorf("index %s created by a refused task", ix.Name)
	}
}

// TestBulkErrorSummary: counts per type (most frequent first), the first
// ids and the first reason.
func TestBulkErrorSummary(t *testing.T) {
	e := &BulkError{Entity: KindSessions, Index: "testplanit-sessions-1", ByType: map[string]int{}}
	item := func(typ string, status int) esutil.BulkIndexerResponseItem {
		var r esutil.BulkIndexerResponseItem
		r.Status, r.Error.Type, r.Error.Reason = status, typ, "reason of "+typ
		return r
	}
	for i := 1; i <= 12; i++ {
		typ := "mapper_parsing_exception"
		if i%3 == 0 {
			typ = "strict_dynamic_mapping_exception"
		}
		e.add(strconv.Itoa(i), item(typ, 400), nil)
	}
	want := "reindex sessions: 12 documents failed in testplanit-sessions-1 (mapper_parsing_exception 8, strict_dynamic_mapping_exception 4); " +
		"first ids 1, 2, 3, 4, 5, 6, 7, 8, 9, 10; first error [1] mapper_parsing_exception: reason of mapper_parsing_exception"
	if e.Error() != want || e.Retriable() {
		t.Errorf("got  %s (retriable %v)\nwant %s", e.Error(), e.Retriable(), want)
	}
	r := &BulkError{ByType: map[string]int{}}
	r.add("1", item("es_rejected_execution_exception", 429), nil)
	r.add("2", esutil.BulkIndexerResponseItem{}, errors.New("flush: connection refused"))
	if !r.Retriable() || r.ByType[bulkRequestFailed] != 1 {
		t.Errorf("rejections and lost requests: retriable %v %v", r.Retriable(), r.ByType)
	}
}

func TestIndexNames(t *testing.T) {
	for _, tc := range []struct{ tenant, index, want string }{
		{"", "", "testplanit-repository-cases"},
		{"acme", "", "testplanit-acme-repository-cases"},
		{"acme", "globex-search", "globex-search-repository-cases"},
	} {
		if got := AliasName(IndexPrefix(tc.tenant, tc.index), KindRepositoryCases); got != tc.want {
			t.Errorf("%q %q: %s, want %s", tc.tenant, tc.index, got, tc.want)
		}
	}
	for name, ok := range map[string]bool{"testplanit-acme": true, "Acme": false, "_x": false, "a b": false, "a,b": false, "": false} {
		if err := CheckIndexName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := dir + "/ca.txt"
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := LoadConfig(config.NewEnv(func(string) string { return "" }))
	if c.BulkBytes != DefaultBulkBytes || c.BulkWorkers != DefaultBulkWorkers || c.FlushInterval != DefaultFlushInterval || c.BatchSize != DefaultBatchSize {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ELASTICSEARCH_BULK_BYTES": "10"}, "config: ELASTICSEARCH_BULK_BYTES"},
		{map[string]string{"ELASTICSEARCH_BULK_BYTES": "1G"}, "config: ELASTICSEARCH_BULK_BYTES"},
		{map[string]string{"ELASTICSEARCH_BULK_WORKERS": "0"}, "config: ELASTICSEARCH_BULK_WORKERS"},
		{map[string]string{"ELASTICSEARCH_PASSWORD": "secret"}, "config: ELASTICSEARCH_PASSWORD"},
		{map[string]string{"ELASTICSEARCH_CA_CERT": dir + "/missing.pem"}, "config: ELASTICSEARCH_CA_CERT"},
		{map[string]string{"ELASTICSEARCH_CA_CERT": notPEM}, "config: ELASTICSEARCH_CA_CERT"},
		{map[string]string{"ELASTICSEARCH_BULK_FLUSH_INTERVAL": "soon"}, "config: ELASTICSEARCH_BULK_FLUSH_INTERVAL"},
	} {
		env := config.NewEnv(func(k string) string { return tc.env[k] })
		LoadConfig(env)
		if err := env.Err(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %s", tc.env, err, tc.want)
		}
	}
	env := config.NewEnv(func(k string) string {
		return map[string]string{"ELASTICSEARCH_BULK_BYTES": "512K", "ELASTICSEARCH_BULK_WORKERS": "4", "ELASTICSEARCH_API_KEY": "a2V5"}[k]
	})
	if c := LoadConfig(env); env.Err() != nil || c.BulkBytes != 512<<10 || c.BulkWorkers != 4 || c.APIKey != "a2V5" {
		t.Errorf("%+v %v", c, env.Err())
	}
}

func TestRedact(t *testing.T) {
	got := Redact("https://elastic:s3cret@es1:9200,http://es2:9200")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "elastic:xxxxx@es1:9200") || !strings.Contains(got, "http://es2:9200") {
		t.Errorf("%s", got)
	}
}

// TestClientSendsCredentials: the API key or basic auth reaches the node;
// a node URL's own user:password wins (the original's only way, and a
// tenant node's own credentials).
func TestClientSendsCredentials(t *testing.T) {
	var mu sync.Mutex
	var last string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		cfg  Config
		node string
		want string
	}{
		{Config{APIKey: "a2V5"}, srv.URL, "APIKey a2V5"},
		{Config{Username: "u", Password: "p"}, srv.URL, "Basic dTpw"},
		{Config{APIKey: "a2V5"}, strings.Replace(srv.URL, "://", "://own:pw@", 1), "Basic b3duOnB3"},
	} {
		if err := NewClients(tc.cfg, tc.node).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if last != tc.want {
			t.Errorf("%+v %s: Authorization %q, want %q", tc.cfg, Redact(tc.node), last, tc.want)
		}
		mu.Unlock()
	}
}

// TestRefusedCredentialsArePermanent: a node that refuses the credentials
// (401) answers the ping (no outage to wait for) and fails the task
// permanently at the first entity, saying why.
func TestRefusedCredentialsArePermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]"}],` +
			`"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]"},"status":401}`))
	}))
	defer srv.Close()
	db, _ := fixturePool(t)
	hs := newHarness(t, srv.URL, db, "")
	hs.h.Clients = NewClients(Config{Username: "elastic", Password: "wrong"}, srv.URL)
	if err := hs.h.Clients.Ping(context.Background()); err != nil {
		t.Errorf("ping: %v, want an answer", err)
	}
	r, err := hs.run(task.Reindex{EntityType: task.EntityAll})
	if err == nil || !worker.IsPermanent(err) || !strings.Contains(err.Error(), "401 security_exception") || len(r.Errors) != 1 {
		t.Errorf("err %v, result errors %v", err, r.Errors)
	}
}

// TestLostAliasAnswer: when the answer to the alias move is lost after
// Elasticsearch applied it (the client sends the request again, which now
// fails), the rebuild sees its index holding the alias and succeeds; it
// never deletes the index search now uses.
func TestLostAliasAnswer(t *testing.T) {
	es := testenv.StartElasticsearch(t)
	target, err := url.Parse(es.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var drop atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/_aliases" && drop.CompareAndSwap(true, false) {
			res, err := http.Post(es.URL+"/_aliases", "application/json", r.Body)
			if err == nil {
				res.Body.Close()
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // applied, answer lost
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	db, _ := fixturePool(t)
	hs := newHarness(t, front.URL, db, "")
	alias := hs.alias(KindSessions)
	old := hs.mustRun(entity(KindSessions)).Entities[0].Index
	drop.Store(true)
	r := hs.mustRun(entity(KindSessions))
	if drop.Load() {
		t.Fatal("no alias answer was dropped")
	}
	e := r.Entities[0]
	if got := hs.checkAliasOnOneIndex(alias); got != e.Index || got == old || !slices.Equal(e.Replaced, []string{old}) {
		t.Errorf("alias on %s; result %+v; old %s", got, e, old)
	}
	if _, n := hs.count(alias, nil); n != hs.want(KindSessions, 0) {
		t.Errorf("count %d", n)
	}
}
