package testenv

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// esCall sends req with the real client and returns the status and the
// decoded body.
func esCall(t *testing.T, es *elasticsearch.Client, req interface {
	Do(context.Context, esapi.Transport) (*esapi.Response, error)
}) (int, map[string]any) {
	t.Helper()
	res, err := req.Do(context.Background(), es)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%T: answer is not JSON: %s", req, b)
		}
	}
	return res.StatusCode, m
}

func newESClient(t *testing.T, s *Elasticsearch) *elasticsearch.Client {
	t.Helper()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{s.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func errType(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

const strictBody = `{"settings":{"number_of_shards":1,"number_of_replicas":0},
	"mappings":{"dynamic":"strict","properties":{"id":{"type":"integer"},"projectId":{"type":"integer"},"name":{"type":"text"},
	"tags":{"type":"nested","properties":{"id":{"type":"integer"},"name":{"type":"keyword"}}}}}}`

// TestElasticsearchServesTheRealClient: the v8 client accepts the server
// (product header), and indices, bulk items with their errors and refresh
// visibility behave as Elasticsearch documents them.
func TestElasticsearchServesTheRealClient(t *testing.T) {
	s := StartElasticsearch(t)
	es := newESClient(t, s)
	if st, info := esCall(t, es, esapi.InfoRequest{}); st != 200 || info["version"].(map[string]any)["number"] != ESVersion {
		t.Fatalf("info: %d %v", st, info)
	}
	if st, _ := esCall(t, es, esapi.IndicesCreateRequest{Index: "cases-1", Body: strings.NewReader(strictBody)}); st != 200 {
		t.Fatalf("create: %d", st)
	}
	if st, m := esCall(t, es, esapi.IndicesCreateRequest{Index: "cases-1", Body: strings.NewReader(strictBody)}); st != 400 || errType(m) != "resource_already_exists_exception" {
		t.Errorf("second create: %d %v", st, m)
	}
	if st, m := esCall(t, es, esapi.IndicesCreateRequest{Index: "Cases"}); st != 400 || errType(m) != "invalid_index_name_exception" {
		t.Errorf("uppercase name: %d %v", st, m)
	}
	if st, _ := esCall(t, es, esapi.IndicesExistsRequest{Index: []string{"cases-1"}}); st != 200 {
		t.Errorf("exists: %d", st)
	}
	if st, _ := esCall(t, es, esapi.IndicesExistsRequest{Index: []string{"nope"}}); st != 404 {
		t.Errorf("exists of a missing index: %d", st)
	}
	if st, _ := esCall(t, es, esapi.IndicesPutSettingsRequest{Index: []string{"cases-1"},
		Body: strings.NewReader(`{"index":{"refresh_interval":"-1"}}`)}); st != 200 {
		t.Fatalf("settings: %d", st)
	}
	bulk := `{"index":{"_index":"cases-1","_id":"1"}}
{"id":1,"projectId":7,"name":"login","tags":[{"id":1,"name":"smoke"}]}
{"index":{"_index":"cases-1","_id":"2"}}
{"id":2,"projectId":7,"name":"pay","colour":"red"}
{"index":{"_index":"cases-1","_id":"3"}}
{"id":"three","projectId":8,"name":"cart"}
{"delete":{"_index":"cases-1","_id":"42"}}
{"create":{"_index":"cases-1","_id":"1"}}
{"id":1,"projectId":7,"name":"again"}
`
	st, m := esCall(t, es, esapi.BulkRequest{Body: strings.NewReader(bulk)})
	if st != 200 || m["errors"] != true {
		t.Fatalf("bulk: %d %v", st, m)
	}
	want := []struct {
		status int
		err    string
	}{{201, ""}, {400, "strict_dynamic_mapping_exception"}, {400, "document_parsing_exception"}, {404, ""}, {409, "version_conflict_engine_exception"}}
	items := m["items"].([]any)
	for i, w := range want {
		var res map[string]any
		for _, v := range items[i].(map[string]any) {
			res = v.(map[string]any)
		}
		e, _ := res["error"].(map[string]any)
		if int(res["status"].(float64)) != w.status || (w.err != "" && (e == nil || e["type"] != w.err)) {
			t.Errorf("item %d: %v, want %d %s", i, res, w.status, w.err)
		}
	}
	// Refresh off: the count sees nothing until the refresh.
	if _, c := esCall(t, es, esapi.CountRequest{Index: []string{"cases-1"}}); c["count"].(float64) != 0 {
		t.Errorf("count before the refresh: %v", c)
	}
	esCall(t, es, esapi.IndicesRefreshRequest{Index: []string{"cases-1"}})
	if _, c := esCall(t, es, esapi.CountRequest{Index: []string{"cases-1"}}); c["count"].(float64) != 1 {
		t.Errorf("count after the refresh: %v", c)
	}
	// A missing index is auto-created by a write, and said so.
	esCall(t, es, esapi.IndexRequest{Index: "auto", DocumentID: "1", Body: strings.NewReader(`{"x":1}`)})
	// require_alias refuses it.
	st, m = esCall(t, es, esapi.BulkRequest{Body: strings.NewReader(`{"index":{"_index":"other","_id":"1","require_alias":true}}` + "\n{}\n")})
	item := m["items"].([]any)[0].(map[string]any)["index"].(map[string]any)
	if st != 200 || int(item["status"].(float64)) != 404 {
		t.Errorf("require_alias: %d %v", st, item)
	}
	for _, ix := range s.Indices() {
		if ix.AutoCreated != (ix.Name == "auto") || ix.Name == "other" {
			t.Errorf("index %s auto-created %v", ix.Name, ix.AutoCreated)
		}
	}
	if n := len(s.BulkRequestSizes()); n != 2 {
		t.Errorf("bulk requests recorded: %d", n)
	}
}

// TestElasticsearchAliasActionsAreAtomic: POST /_aliases applies all of its
// actions or none; a must_exist remove of an alias that moved fails the
// whole request; remove_index replaces a concrete index by an alias.
func TestElasticsearchAliasActionsAreAtomic(t *testing.T) {
	s := StartElasticsearch(t)
	es := newESClient(t, s)
	for _, name := range []string{"a", "b", "c", "legacy"} {
		esCall(t, es, esapi.IndicesCreateRequest{Index: name})
	}
	aliases := func(body string) (int, map[string]any) {
		return esCall(t, es, esapi.IndicesUpdateAliasesRequest{Body: strings.NewReader(body)})
	}
	if st, m := aliases(`{"actions":[{"add":{"index":"a","alias":"x"}}]}`); st != 200 || m["acknowledged"] != true {
		t.Fatalf("add: %d %v", st, m)
	}
	if st, _ := aliases(`{"actions":[{"remove":{"index":"a","alias":"x","must_exist":true}},{"add":{"index":"b","alias":"x"}}]}`); st != 200 {
		t.Fatalf("swap: %d", st)
	}
	// a no longer holds x: a must_exist remove fails everything.
	if st, m := aliases(`{"actions":[{"remove":{"index":"a","alias":"x","must_exist":true}},{"add":{"index":"c","alias":"x"}}]}`); st != 404 || errType(m) != "aliases_not_found_exception" {
		t.Errorf("stale swap: %d %v", st, m)
	}
	if got := s.AliasTargets("x"); len(got) != 1 || got[0] != "b" {
		t.Errorf("x after a failed swap: %v", got)
	}
	// Without must_exist the missing remove is skipped and reported.
	if st, m := aliases(`{"actions":[{"remove":{"index":"a","alias":"x"}},{"add":{"index":"c","alias":"y"}}]}`); st != 200 || m["errors"] != true {
		t.Errorf("partial: %d %v", st, m)
	}
	if st, m := aliases(`{"actions":[{"add":{"index":"c","alias":"legacy"}}]}`); st != 400 || errType(m) != "invalid_alias_name_exception" {
		t.Errorf("alias named like an index: %d %v", st, m)
	}
	if st, m := aliases(`{"actions":[{"remove_index":{"index":"legacy"}},{"add":{"index":"c","alias":"legacy"}}]}`); st != 200 {
		t.Fatalf("migration: %d %v", st, m)
	}
	if st, m := esCall(t, es, esapi.IndicesGetAliasRequest{Index: []string{"legacy"}}); st != 200 || m["c"] == nil {
		t.Errorf("GET /legacy/_alias: %d %v", st, m)
	}
	if st, m := esCall(t, es, esapi.IndicesGetAliasRequest{Name: []string{"nope"}}); st != 404 {
		t.Errorf("GET /_alias/nope: %d %v", st, m)
	}
	if st, m := esCall(t, es, esapi.IndicesDeleteRequest{Index: []string{"legacy"}}); st != 400 {
		t.Errorf("DELETE of an alias: %d %v", st, m)
	}
	if n := len(s.AliasRequests()); n != 6 {
		t.Errorf("alias requests recorded: %d", n)
	}
}

// TestElasticsearchQueriesScrollsAndFaults: term, ids and bool queries,
// scrolls, delete-by-query, and the fault hooks.
func TestElasticsearchQueriesScrollsAndFaults(t *testing.T) {
	s := StartElasticsearch(t)
	es := newESClient(t, s)
	var bulk strings.Builder
	for i := 1; i <= 25; i++ {
		p := 1 + i%2
		bulk.WriteString(`{"index":{"_index":"docs","_id":"` + strconv.Itoa(i) + `"}}` + "\n")
		bulk.WriteString(`{"id":` + strconv.Itoa(i) + `,"projectId":` + strconv.Itoa(p) + `}` + "\n")
	}
	esCall(t, es, esapi.BulkRequest{Body: strings.NewReader(bulk.String()), Refresh: "true"})
	count := func(q string) float64 {
		_, m := esCall(t, es, esapi.CountRequest{Index: []string{"docs"}, Body: strings.NewReader(q)})
		return m["count"].(float64)
	}
	if n := count(`{"query":{"term":{"projectId":2}}}`); n != 13 {
		t.Errorf("term: %v", n)
	}
	if n := count(`{"query":{"bool":{"filter":{"term":{"projectId":2}},"must_not":{"ids":{"values":["1","3"]}}}}}`); n != 11 {
		t.Errorf("bool: %v", n)
	}
	// A scroll reads every id once, in pages.
	st, m := esCall(t, es, esapi.SearchRequest{Index: []string{"docs"}, Scroll: time.Minute,
		Body: strings.NewReader(`{"size":10,"_source":false,"query":{"match_all":{}}}`)})
	seen := map[string]bool{}
	for st == 200 {
		hits := m["hits"].(map[string]any)["hits"].([]any)
		if len(hits) == 0 {
			break
		}
		for _, h := range hits {
			hm := h.(map[string]any)
			if _, has := hm["_source"]; has {
				t.Fatal("_source false still returns sources")
			}
			seen[hm["_id"].(string)] = true
		}
		st, m = esCall(t, es, esapi.ScrollRequest{ScrollID: m["_scroll_id"].(string), Scroll: time.Minute})
	}
	if len(seen) != 25 {
		t.Errorf("scroll saw %d ids (status %d)", len(seen), st)
	}
	st, m = esCall(t, es, esapi.DeleteByQueryRequest{Index: []string{"docs"},
		Body: strings.NewReader(`{"query":{"bool":{"filter":{"term":{"projectId":1}},"must_not":{"ids":{"values":["2"]}}}}}`)})
	if st != 200 || m["deleted"].(float64) != 11 || count(`{}`) != 14 {
		t.Errorf("delete by query: %d %v, %v left", st, m, count(`{}`))
	}

	s.FailBulkItem(2)
	_, m = esCall(t, es, esapi.BulkRequest{Body: strings.NewReader(`{"index":{"_index":"docs","_id":"a"}}` + "\n{}\n" +
		`{"index":{"_index":"docs","_id":"b"}}` + "\n{}\n")})
	items := m["items"].([]any)
	if b := items[1].(map[string]any)["index"].(map[string]any); errType(b) != "mapper_parsing_exception" || m["errors"] != true {
		t.Errorf("injected failure: %v", m)
	}
	s.Unavailable(200 * time.Millisecond)
	if st, _ := esCall(t, es, esapi.PingRequest{}); st != 503 {
		t.Errorf("ping while unavailable: %d", st)
	}
	Eventually(t, 5*time.Second, func() bool {
		st, _ := esCall(t, es, esapi.PingRequest{})
		return st == 200
	}, "the node answers again")
}
