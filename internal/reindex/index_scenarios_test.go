package reindex

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// The scenarios of the indexing, each a function of an Elasticsearch node's
// address, run by two suites: against the in-process server
// (TestScenariosInProcess, index_test.go: what CI runs) and against a real
// cluster (TestScenariosRealCluster, integration_test.go, when
// ELASTICSEARCH_TEST_NODE is set). They read Elasticsearch through its HTTP
// API only, on indices of their own (a random prefix, deleted at the end),
// so they can run on a shared cluster.

// scenario is one behaviour, checked against the node at node.
type scenario struct {
	name string
	run  func(t *testing.T, node string)
}

func scenarios() []scenario {
	return []scenario{
		{"RebuildWhileSearching", scenarioRebuildWhileSearching},
		{"DeletedRowsDisappear", scenarioDeletedRowsDisappear},
		{"ProjectReindex", scenarioProjectReindex},
		{"BulkItemErrorKeepsTheOldIndex", scenarioBulkItemErrorKeepsTheOldIndex},
		{"MigratesAConcreteIndex", scenarioMigratesAConcreteIndex},
		{"TenantPrefix", scenarioTenantPrefix},
		{"SettingsDuringAndAfter", scenarioSettingsDuringAndAfter},
	}
}

// harness runs the handler for one tenant on one node and reads the node.
type harness struct {
	t      *testing.T
	node   string
	db     *pgxpool.Pool
	tn     *tenant.Tenant
	h      *Handler
	client *http.Client

	mu     sync.Mutex
	writes [][]byte
}

// newHarness returns a harness whose indices are named after a random
// prefix ("tpitest-<hex>"), or with tenantID after the original's tenant
// names ("testplanit-<tenantID>"); they are deleted when the test ends.
func newHarness(t *testing.T, node string, db *pgxpool.Pool, tenantID string) *harness {
	t.Helper()
	prefix := ""
	if tenantID == "" {
		prefix = "tpitest-" + randomHex(4)
	}
	hs := &harness{t: t, node: node, db: db, client: &http.Client{Timeout: 30 * time.Second},
		tn: &tenant.Tenant{ID: tenantID, DB: db, ElasticsearchNode: node, ElasticsearchIndex: prefix}}
	// Small bulk requests, so that even the fixture takes several.
	cfg := Config{BulkBytes: 16 << 10, BulkWorkers: 2, FlushInterval: time.Second}
	hs.h = &Handler{Clients: NewClients(cfg, node), Config: cfg}
	hs.h.results = func(context.Context) io.Writer { return writerFunc(hs.record) }
	t.Cleanup(hs.cleanup)
	return hs
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (hs *harness) record(b []byte) (int, error) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.writes = append(hs.writes, bytes.Clone(b))
	return len(b), nil
}

func (hs *harness) prefix() string      { return IndexPrefix(hs.tn.ID, hs.tn.ElasticsearchIndex) }
func (hs *harness) alias(k Kind) string { return AliasName(hs.prefix(), k) }

// ctx is a task's context: the tenant, and a logger that keeps the test's
// output quiet.
func (hs *harness) ctx() context.Context {
	ctx := worker.WithLogger(context.Background(), slog.New(slog.DiscardHandler))
	return worker.WithTenant(ctx, hs.tn)
}

// run handles one task and returns the result it left.
func (hs *harness) run(p task.Reindex) (Result, error) {
	hs.t.Helper()
	hs.mu.Lock()
	hs.writes = nil
	hs.mu.Unlock()
	err := hs.h.Reindex(hs.ctx(), p)
	var r Result
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if n := len(hs.writes); n > 0 {
		if jerr := json.Unmarshal(hs.writes[n-1], &r); jerr != nil {
			hs.t.Fatalf("the last result is not a Result: %s", hs.writes[n-1])
		}
	}
	return r, err
}

// mustRun handles a task that must succeed.
func (hs *harness) mustRun(p task.Reindex) Result {
	hs.t.Helper()
	r, err := hs.run(p)
	if err != nil || !r.Success {
		hs.t.Fatalf("reindex %+v: %v (result %+v)", p, err, r)
	}
	return r
}

// progress returns the progress documents of the last run.
func (hs *harness) progress() []Progress {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []Progress
	for _, w := range hs.writes {
		var p Progress
		if json.Unmarshal(w, &p) == nil && p.Phase != "" {
			out = append(out, p)
		}
	}
	return out
}

// call sends one request to the node and decodes the answer.
func (hs *harness) call(method, path string, body any) (int, map[string]any) {
	hs.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			hs.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, strings.TrimRight(hs.node, "/")+path, rd)
	if err != nil {
		hs.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hs.client.Do(req)
	if err != nil {
		hs.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &m) != nil {
		hs.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return res.StatusCode, m
}

// count returns the status and count of GET /<name>/_count.
func (hs *harness) count(name string, query any) (int, int64) {
	hs.t.Helper()
	var body any
	if query != nil {
		body = map[string]any{"query": query}
	}
	st, m := hs.call(http.MethodPost, "/"+name+"/_count", body)
	n, _ := m["count"].(float64)
	return st, int64(n)
}

// tryCount is count for another goroutine than the test's: it returns
// its errors.
func (hs *harness) tryCount(name string) (int, int64, error) {
	res, err := hs.client.Post(strings.TrimRight(hs.node, "/")+"/"+name+"/_count", "application/json", nil)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	var m struct {
		Count int64 `json:"count"`
	}
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		return res.StatusCode, 0, err
	}
	return res.StatusCode, m.Count, nil
}

// targets returns the indices holding alias, sorted (none: nil).
func (hs *harness) targets(alias string) []string {
	hs.t.Helper()
	st, m := hs.call(http.MethodGet, "/_alias/"+alias, nil)
	if st == 404 {
		return nil
	}
	if st != 200 {
		hs.t.Fatalf("GET /_alias/%s: %d %v", alias, st, m)
	}
	return slices.Sorted(maps.Keys(m))
}

// concretes returns the indices named "<alias>-*", sorted.
func (hs *harness) concretes(alias string) []string {
	hs.t.Helper()
	st, m := hs.call(http.MethodGet, "/"+alias+"-*/_alias", nil)
	if st != 200 {
		hs.t.Fatalf("GET /%s-*/_alias: %d %v", alias, st, m)
	}
	return slices.Sorted(maps.Keys(m))
}

// source returns a document's _source, nil when it does not exist.
func (hs *harness) source(alias, id string) map[string]any {
	hs.t.Helper()
	st, m := hs.call(http.MethodGet, "/"+alias+"/_doc/"+id, nil)
	if st == 404 {
		return nil
	}
	if st != 200 {
		hs.t.Fatalf("GET /%s/_doc/%s: %d %v", alias, id, st, m)
	}
	src, _ := m["_source"].(map[string]any)
	return src
}

// settings returns an index's settings, flat ("index.refresh_interval").
func (hs *harness) settings(index string) map[string]any {
	hs.t.Helper()
	st, m := hs.call(http.MethodGet, "/"+index+"/_settings?flat_settings=true", nil)
	if st != 200 {
		hs.t.Fatalf("GET /%s/_settings: %d %v", index, st, m)
	}
	ix, _ := m[index].(map[string]any)
	s, _ := ix["settings"].(map[string]any)
	return s
}

// want returns the number of documents PostgreSQL yields.
func (hs *harness) want(k Kind, projectID int) int64 {
	hs.t.Helper()
	n, err := NewSource(hs.db, 0).Count(context.Background(), k, projectID)
	if err != nil {
		hs.t.Fatal(err)
	}
	return n
}

func (hs *harness) exec(sql string, args ...any) {
	hs.t.Helper()
	if _, err := hs.db.Exec(context.Background(), sql, args...); err != nil {
		hs.t.Fatalf("%s: %v", sql, err)
	}
}

func (hs *harness) id(sql string, args ...any) int {
	hs.t.Helper()
	var id int
	if err := hs.db.QueryRow(context.Background(), sql, args...).Scan(&id); err != nil {
		hs.t.Fatalf("%s: %v", sql, err)
	}
	return id
}

// cleanup deletes the indices of the harness's prefix, as far as the node
// answers.
func (hs *harness) cleanup() {
	base := strings.TrimRight(hs.node, "/")
	res, err := hs.client.Get(base + "/" + hs.prefix() + "-*/_alias")
	if err != nil {
		return
	}
	var m map[string]json.RawMessage
	err = json.NewDecoder(res.Body).Decode(&m)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		return
	}
	for name := range m {
		req, _ := http.NewRequest(http.MethodDelete, base+"/"+name, nil)
		if res, err := hs.client.Do(req); err == nil {
			res.Body.Close()
		}
	}
}

// checkAliasOnOneIndex checks that alias points to exactly one index and
// that no other index of it remains.
func (hs *harness) checkAliasOnOneIndex(alias string) string {
	hs.t.Helper()
	tg, cs := hs.targets(alias), hs.concretes(alias)
	if len(tg) != 1 || !slices.Equal(tg, cs) {
		hs.t.Fatalf("alias %s on %v, indices %v: want one index, the alias's", alias, tg, cs)
	}
	return tg[0]
}

// addCase inserts a case of project projectID with an explicit id, copying
// the project's first case's references.
func (hs *harness) addCase(id, projectID int, name string) {
	hs.t.Helper()
	hs.exec(`INSERT INTO "RepositoryCases" (id, "projectId", "repositoryId", "folderId", "templateId", name, source, "stateId", "order", "creatorId")
		SELECT $1, "projectId", "repositoryId", "folderId", "templateId", $3, 'MANUAL', "stateId", 99, "creatorId"
		FROM "RepositoryCases" WHERE "projectId" = $2 ORDER BY id LIMIT 1`, id, projectID, name)
}

func entity(k Kind) task.Reindex { return task.Reindex{EntityType: string(k)} }

func projectTask(k string, projectID int) task.Reindex {
	return task.Reindex{EntityType: k, ProjectID: &projectID}
}

// scenarioRebuildWhileSearching: a reader hammers _count on the alias while
// the cases index is rebuilt three times over changing data. It never gets
// a 404 nor a count that is not a complete index's (never 0, never a
// half-filled new index), and each rebuild leaves one index.
func scenarioRebuildWhileSearching(t *testing.T, node string) {
	ctx := context.Background()
	db, _ := testenv.Postgres(t)
	base, err := writeGenBase(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	project, err := genProject(ctx, db, base, "Searched", 300, 11)
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, node, db, "")
	alias := hs.alias(KindRepositoryCases)
	hs.mustRun(entity(KindRepositoryCases))
	complete := map[int64]bool{hs.want(KindRepositoryCases, 0): true}

	var (
		mu    sync.Mutex
		reads int
		bad   []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, n, err := hs.tryCount(alias)
			mu.Lock()
			reads++
			if err != nil || st != 200 || !complete[n] {
				bad = append(bad, fmt.Sprintf("status %d count %d error %v", st, n, err))
			}
			mu.Unlock()
		}
	}()
	changes := []func(){
		func() {
			if _, err := genProject(ctx, db, base, "Added", 40, 12); err != nil {
				t.Error(err)
			}
		},
		func() {
			hs.exec(`DELETE FROM "RepositoryCases" WHERE id IN (SELECT id FROM "RepositoryCases" WHERE "projectId" = $1 ORDER BY id LIMIT 25)`, project)
		},
		func() {
			hs.exec(`UPDATE "RepositoryCases" SET "isArchived" = true WHERE "projectId" = $1 AND id % 10 = 0`, project)
		},
	}
	for _, change := range changes {
		change()
		n := hs.want(KindRepositoryCases, 0)
		mu.Lock()
		complete[n] = true // the reader may see it once the alias moved
		mu.Unlock()
		r := hs.mustRun(entity(KindRepositoryCases))
		if r.Results[KindRepositoryCases] != n {
			t.Errorf("indexed %d, PostgreSQL has %d", r.Results[KindRepositoryCases], n)
		}
		hs.checkAliasOnOneIndex(alias)
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if reads < 20 || len(bad) > 0 {
		t.Errorf("%d reads, %d bad (complete counts %v); first: %v", reads, len(bad), slices.Sorted(maps.Keys(complete)), bad[:min(len(bad), 5)])
	}
	if st, n := hs.count(alias, nil); st != 200 || n != hs.want(KindRepositoryCases, 0) {
		t.Errorf("after the rebuilds: %d %d", st, n)
	}
}

// scenarioDeletedRowsDisappear: a full rebuild drops the documents of rows
// deleted in PostgreSQL, and of a project deleted since.
func scenarioDeletedRowsDisappear(t *testing.T, node string) {
	db, _ := fixturePool(t)
	hs := newHarness(t, node, db, "")
	hs.addCase(9001, 1, "Added then deleted")
	hs.mustRun(task.Reindex{EntityType: task.EntityAll})
	cases := hs.alias(KindRepositoryCases)
	if hs.source(cases, "9001") == nil {
		t.Fatal("case 9001 was not indexed")
	}
	if _, n := hs.count(cases, map[string]any{"term": map[string]any{"projectId": 2}}); n == 0 {
		t.Fatal("project 2 has no case document to lose")
	}
	hs.exec(`DELETE FROM "RepositoryCases" WHERE id = 9001`)
	hs.exec(`UPDATE "Projects" SET "isDeleted" = true WHERE id = 2`)
	r := hs.mustRun(task.Reindex{EntityType: task.EntityAll})
	if hs.source(cases, "9001") != nil {
		t.Error("the deleted case's document survived the rebuild")
	}
	if _, n := hs.count(cases, map[string]any{"term": map[string]any{"projectId": 2}}); n != 0 {
		t.Errorf("the deleted project still has %d case documents", n)
	}
	for _, k := range Kinds() {
		alias := hs.alias(k)
		hs.checkAliasOnOneIndex(alias)
		if st, n := hs.count(alias, nil); st != 200 || n != hs.want(k, 0) || r.Results[k] != n {
			t.Errorf("%s: %d documents (status %d, result %d), PostgreSQL yields %d", k, n, st, r.Results[k], hs.want(k, 0))
		}
	}
}

// scenarioProjectReindex: a project reindex upserts the project's documents
// in place and removes its stale ones; other projects are untouched, and
// the alias stays on its index.
func scenarioProjectReindex(t *testing.T, node string) {
	db, _ := fixturePool(t)
	hs := newHarness(t, node, db, "")
	hs.addCase(9003, 1, "Deleted before the project reindex")
	hs.mustRun(task.Reindex{EntityType: task.EntityAll})
	cases := hs.alias(KindRepositoryCases)
	before := map[Kind][]string{}
	for _, k := range Kinds() {
		before[k] = hs.targets(hs.alias(k))
	}
	a1 := hs.id(`SELECT id FROM "RepositoryCases" WHERE "projectId" = 1 AND NOT "isArchived" AND id <> 9003 ORDER BY id LIMIT 1`)
	b1 := hs.id(`SELECT id FROM "RepositoryCases" WHERE "projectId" = 2 AND NOT "isArchived" ORDER BY id LIMIT 1`)
	oldB1 := hs.source(cases, fmt.Sprint(b1))["name"]
	hs.exec(`UPDATE "RepositoryCases" SET name = 'Renamed in project 1' WHERE id = $1`, a1)
	hs.exec(`UPDATE "RepositoryCases" SET name = 'Renamed in project 2' WHERE id = $1`, b1)
	hs.exec(`DELETE FROM "RepositoryCases" WHERE id = 9003`)
	hs.addCase(9002, 1, "Added before the project reindex")
	// Documents no row backs, one per project (as an index left stale by
	// hard deletes would hold).
	for id, from := range map[int]int{99000001: a1, 99000002: b1} {
		src := hs.source(cases, fmt.Sprint(from))
		src["id"] = id
		if st, m := hs.call(http.MethodPut, fmt.Sprintf("/%s/_doc/%d?refresh=true", cases, id), src); st != 201 {
			t.Fatalf("stale document %d: %d %v", id, st, m)
		}
	}

	r := hs.mustRun(projectTask(string(KindRepositoryCases), 1))
	e := r.Entities[0]
	if e.Mode != "project" || e.Indexed != hs.want(KindRepositoryCases, 1) || e.Deleted != 2 || r.ProjectID != 1 {
		t.Errorf("result %+v, want %d indexed and 2 deleted", e, hs.want(KindRepositoryCases, 1))
	}
	if got := hs.source(cases, fmt.Sprint(a1))["name"]; got != "Renamed in project 1" {
		t.Errorf("case %d: name %v, want the new one", a1, got)
	}
	if hs.source(cases, "9002") == nil {
		t.Error("the new case was not indexed")
	}
	for _, id := range []string{"9003", "99000001"} {
		if hs.source(cases, id) != nil {
			t.Errorf("project 1's stale document %s survived", id)
		}
	}
	if got := hs.source(cases, fmt.Sprint(b1))["name"]; got != oldB1 {
		t.Errorf("project 2's case %d changed: %v, want %v", b1, got, oldB1)
	}
	if hs.source(cases, "99000002") == nil {
		t.Error("project 2's document was deleted by project 1's reindex")
	}
	if _, n := hs.count(cases, map[string]any{"term": map[string]any{"projectId": 1}}); n != hs.want(KindRepositoryCases, 1) {
		t.Errorf("project 1: %d case documents, want %d", n, hs.want(KindRepositoryCases, 1))
	}

	// Every entity of the project: in place, every alias on its index.
	r = hs.mustRun(projectTask(task.EntityAll, 1))
	if len(r.Entities) != len(Kinds()) {
		t.Errorf("entities %+v", r.Entities)
	}
	for _, k := range Kinds() {
		if got := hs.targets(hs.alias(k)); !slices.Equal(got, before[k]) {
			t.Errorf("%s: alias moved from %v to %v", k, before[k], got)
		}
		if r.Results[k] != hs.want(k, 1) {
			t.Errorf("%s: %d indexed, project 1 has %d", k, r.Results[k], hs.want(k, 1))
		}
	}
	if hs.source(hs.alias(KindProjects), "1") == nil || hs.source(hs.alias(KindProjects), "2") == nil {
		t.Error("a project document is missing")
	}
}

// corrupting adds a field no mapping knows to one document.
type corrupting struct {
	DocSource
	id string
}

func (c corrupting) Docs(ctx context.Context, k Kind, projectID int, emit func(Doc) error) error {
	return c.DocSource.Docs(ctx, k, projectID, func(d Doc) error {
		if d.ID == c.id {
			d.Body = append([]byte(`{"notInTheMapping":true,`), d.Body[1:]...)
		}
		return emit(d)
	})
}

// scenarioBulkItemErrorKeepsTheOldIndex: a document Elasticsearch refuses
// fails the task, permanently, with a summary (type, count, ids); the alias
// stays on the old index and the half-built one is deleted.
func scenarioBulkItemErrorKeepsTheOldIndex(t *testing.T, node string) {
	db, _ := fixturePool(t)
	hs := newHarness(t, node, db, "")
	alias := hs.alias(KindRepositoryCases)
	hs.mustRun(entity(KindRepositoryCases))
	old := hs.checkAliasOnOneIndex(alias)
	bad := fmt.Sprint(hs.id(`SELECT id FROM "RepositoryCases" WHERE "projectId" = 1 AND NOT "isArchived" ORDER BY id DESC LIMIT 1`))
	hs.h.source = func(db Querier, n int) DocSource { return corrupting{NewSource(db, n), bad} }

	r, err := hs.run(entity(KindRepositoryCases))
	if err == nil || !worker.IsPermanent(err) {
		t.Fatalf("err %v, want a permanent failure", err)
	}
	var be *BulkError
	if !errors.As(err, &be) || be.Failed != 1 || be.ByType["strict_dynamic_mapping_exception"] != 1 || !slices.Equal(be.IDs, []string{bad}) {
		t.Errorf("bulk error %+v", be)
	}
	for _, want := range []string{"strict_dynamic_mapping_exception 1", "first ids " + bad, "notInTheMapping"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if r.Success || len(r.Errors) != 1 {
		t.Errorf("result %+v", r)
	}
	if got := hs.checkAliasOnOneIndex(alias); got != old {
		t.Errorf("alias moved to %s after a failed rebuild, want %s", got, old)
	}
	if _, n := hs.count(alias, nil); n != hs.want(KindRepositoryCases, 0) {
		t.Errorf("count %d after a failed rebuild", n)
	}
	// A project reindex fails the same way and deletes nothing.
	hs.exec(`DELETE FROM "RepositoryCases" WHERE id = (SELECT min(id) FROM "RepositoryCases" WHERE "projectId" = 1 AND NOT "isArchived")`)
	if _, err := hs.run(projectTask(string(KindRepositoryCases), 1)); err == nil || !worker.IsPermanent(err) {
		t.Errorf("project reindex: %v", err)
	}
	if _, n := hs.count(alias, nil); n != hs.want(KindRepositoryCases, 0)+1 {
		t.Errorf("count %d: a failed project reindex deleted documents", n)
	}
}

// scenarioMigratesAConcreteIndex: where the original left a concrete index
// under the alias's name, the first rebuild replaces it by the alias in the
// same _aliases request.
func scenarioMigratesAConcreteIndex(t *testing.T, node string) {
	db, _ := fixturePool(t)
	hs := newHarness(t, node, db, "")
	alias := hs.alias(KindRepositoryCases)
	if st, m := hs.call(http.MethodPut, "/"+alias, `{"settings":{"number_of_shards":1,"number_of_replicas":0}}`); st != 200 {
		t.Fatalf("creating the original's index: %d %v", st, m)
	}
	if st, m := hs.call(http.MethodPut, "/"+alias+"/_doc/99000003?refresh=true", `{"id":99000003,"projectId":1,"name":"left by the original"}`); st != 201 {
		t.Fatalf("its document: %d %v", st, m)
	}
	r := hs.mustRun(entity(KindRepositoryCases))
	e := r.Entities[0]
	if !e.Migrated || !slices.Equal(e.Replaced, []string{alias}) || !strings.HasPrefix(e.Index, alias+"-") {
		t.Errorf("result %+v", e)
	}
	if got := hs.checkAliasOnOneIndex(alias); got != e.Index {
		t.Errorf("alias on %s, result says %s", got, e.Index)
	}
	if st, n := hs.count(alias, nil); st != 200 || n != hs.want(KindRepositoryCases, 0) {
		t.Errorf("count %d %d, want %d", st, n, hs.want(KindRepositoryCases, 0))
	}
	if hs.source(alias, "99000003") != nil {
		t.Error("the original index's stale document survived")
	}
	// The next rebuild is an ordinary alias move.
	r = hs.mustRun(entity(KindRepositoryCases))
	if e2 := r.Entities[0]; e2.Migrated || !slices.Equal(e2.Replaced, []string{e.Index}) {
		t.Errorf("second rebuild %+v", e2)
	}
}

// scenarioTenantPrefix: a tenant's indices are "testplanit-<tenant>-<kind>",
// every kind's documents pass its strict mapping, and the progress counts
// up to 100.
func scenarioTenantPrefix(t *testing.T, node string) {
	db, _ := fixturePool(t)
	tenantID := "t" + randomHex(4)
	hs := newHarness(t, node, db, tenantID)
	r := hs.mustRun(task.Reindex{EntityType: task.EntityAll, TenantID: tenantID})
	var total int64
	for _, k := range Kinds() {
		alias := "testplanit-" + tenantID + "-" + k.IndexSuffix()
		hs.checkAliasOnOneIndex(alias)
		want := hs.want(k, 0)
		if st, n := hs.count(alias, nil); st != 200 || n != want || r.Results[k] != want {
			t.Errorf("%s: count %d (status %d), result %d, want %d", alias, n, st, r.Results[k], want)
		}
		total += want
	}
	if r.TotalDocuments != total {
		t.Errorf("totalDocuments %d, want %d", r.TotalDocuments, total)
	}
	ps := hs.progress()
	if len(ps) < len(Kinds())+1 {
		t.Fatalf("%d progress documents", len(ps))
	}
	last := -1
	for _, p := range ps {
		if p.Percentage < last || p.Percentage > 100 || len(p.Entities) != len(Kinds()) {
			t.Errorf("progress %+v after %d%%", p, last)
		}
		last = p.Percentage
	}
	if end := ps[len(ps)-1]; end.Percentage != 100 || end.Phase != "done" {
		t.Errorf("last progress %+v", end)
	}
}

// spying records the settings of the index being built when the first
// document is emitted.
type spying struct {
	DocSource
	hs    *harness
	alias string
	mu    sync.Mutex
	seen  map[string]any
}

func (s *spying) Docs(ctx context.Context, k Kind, projectID int, emit func(Doc) error) error {
	return s.DocSource.Docs(ctx, k, projectID, func(d Doc) error {
		s.mu.Lock()
		if s.seen == nil {
			held := s.hs.targets(s.alias)
			for _, name := range s.hs.concretes(s.alias) {
				if !slices.Contains(held, name) {
					s.seen = s.hs.settings(name)
				}
			}
		}
		s.mu.Unlock()
		return emit(d)
	})
}

// scenarioSettingsDuringAndAfter: during a rebuild the new index has refresh
// off and no replicas; afterwards refresh is back to its default and the
// replicas are AppConfig's elasticsearch_replicas.
func scenarioSettingsDuringAndAfter(t *testing.T, node string) {
	db, _ := fixturePool(t)
	hs := newHarness(t, node, db, "")
	hs.exec(`INSERT INTO "AppConfig" (key, value) VALUES ('elasticsearch_replicas', '1')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`)
	alias := hs.alias(KindRepositoryCases)
	for round := 1; round <= 2; round++ { // a first build, then a rebuild beside the old index
		spy := &spying{hs: hs, alias: alias}
		hs.h.source = func(db Querier, n int) DocSource { spy.DocSource = NewSource(db, n); return spy }
		hs.mustRun(entity(KindRepositoryCases))
		if spy.seen == nil {
			t.Fatalf("round %d: the index being built was not seen", round)
		}
		if spy.seen["index.refresh_interval"] != "-1" || spy.seen["index.number_of_replicas"] != "0" {
			t.Errorf("round %d: during the rebuild refresh_interval %v, replicas %v; want -1 and 0", round,
				spy.seen["index.refresh_interval"], spy.seen["index.number_of_replicas"])
		}
		after := hs.settings(hs.checkAliasOnOneIndex(alias))
		if ri, set := after["index.refresh_interval"]; set && ri == "-1" || after["index.number_of_replicas"] != "1" {
			t.Errorf("round %d: after the rebuild refresh_interval %v, replicas %v; want the default and 1", round,
				after["index.refresh_interval"], after["index.number_of_replicas"])
		}
	}
}
