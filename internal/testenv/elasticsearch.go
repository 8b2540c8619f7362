package testenv

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ESVersion is the version the in-process Elasticsearch reports: the one
// docker-compose.yml runs.
const ESVersion = "8.15.3"

// Elasticsearch is an in-process stand-in for an Elasticsearch 8 node, for
// tests that drive the real go-elasticsearch client: no Elasticsearch can
// run on the CI machines (see the README's "Search reindex"). It answers the
// endpoints the reindex worker calls, with Elasticsearch's documented request
// and response shapes, and the X-Elastic-Product header without which the v8
// client refuses a server:
//
//   - GET and HEAD / (info, ping), GET /_cluster/health;
//   - PUT, DELETE, HEAD and GET /<index> (create with settings, mappings and
//     aliases; resource_already_exists_exception; an alias name is refused);
//   - GET /_alias/<name>, GET /<index>/_alias[/<name>], POST /_aliases with
//     add, remove (must_exist) and remove_index actions applied atomically;
//   - GET and PUT /<index>/_settings, GET /<index>/_mapping,
//     POST /<index>/_refresh;
//   - POST /_bulk and /<index>/_bulk: NDJSON index, create, update and
//     delete actions with per-item results and errors, require_alias, write
//     index resolution through aliases, auto-creation of a missing index
//     with a dynamic mapping (as Elasticsearch does, recorded so a test can
//     refuse it), and a mapping check: a field unknown to a "dynamic":
//     "strict" mapping is a strict_dynamic_mapping_exception, a value of the
//     wrong type a document_parsing_exception;
//   - GET, PUT, DELETE /<index>/_doc/<id>;
//   - GET and POST /<index>/_count, /<index>/_search (query, size, from,
//     _source, scroll), POST and DELETE /_search/scroll,
//     POST /<index>/_delete_by_query. Queries: match_all, match_none, term,
//     terms, ids, exists, range, match (substring) and bool (must, filter,
//     should, must_not).
//
// Index expressions may be comma lists, aliases and wildcards. Visibility
// follows refresh: while an index's refresh_interval is "-1", searches and
// counts see it as of its last refresh; otherwise writes are visible at
// once. Fault hooks: [Elasticsearch.FailBulkItem], [Elasticsearch.SetItemFault]
// and [Elasticsearch.Unavailable]. It is safe for concurrent use.
type Elasticsearch struct {
	// URL is the node's address, http://127.0.0.1:<port>.
	URL string
	srv *httptest.Server

	mu        sync.Mutex
	indices   map[string]*esIndex
	scrolls   map[string]*esScroll
	itemSeq   int // bulk items seen since the last FailBulkItem
	failNth   map[int]ESItemError
	itemFault func(ESBulkItem) *ESItemError
	downUntil time.Time
	bulkSizes []int
	aliasReqs []json.RawMessage
	requests  map[string]int
	// skipChecks turns the mapping check of indexed documents off.
	skipChecks bool
}

// ESBulkItem is one bulk action as the fault hook sees it.
type ESBulkItem struct {
	// N counts the items since the hook was set, from 1.
	N      int
	Action string // index, create, update, delete
	Index  string // the concrete index it resolved to
	ID     string
	Source json.RawMessage
}

// ESItemError is a per-item bulk error: its status, type and reason.
type ESItemError struct {
	Status int
	Type   string
	Reason string
}

// ESIndex describes one concrete index, for assertions.
type ESIndex struct {
	Name string
	// Aliases held by the index, sorted.
	Aliases []string
	// Docs is the number of documents, refreshed or not.
	Docs int
	// Settings are the index settings, flat ("index.refresh_interval").
	Settings map[string]any
	// Mappings is the mapping the index was created with.
	Mappings map[string]any
	// AutoCreated is true when a write created the index (Elasticsearch's
	// auto-creation with a dynamic mapping) rather than a create request.
	AutoCreated bool
}

// StartElasticsearch starts an in-process Elasticsearch node, closed when the
// test ends.
func StartElasticsearch(t testing.TB) *Elasticsearch {
	t.Helper()
	s := NewElasticsearch()
	t.Cleanup(s.Close)
	return s
}

// NewElasticsearch starts an in-process Elasticsearch node; Close it.
func NewElasticsearch() *Elasticsearch {
	s := &Elasticsearch{
		indices:  map[string]*esIndex{},
		scrolls:  map[string]*esScroll{},
		requests: map[string]int{},
	}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Elasticsearch) Close() { s.srv.Close() }

// FailBulkItem makes the nth bulk item from now (counted from 1 across
// requests) fail with a mapper_parsing_exception (status 400). Each call
// adds one failure and restarts the count.
func (s *Elasticsearch) FailBulkItem(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNth == nil {
		s.failNth = map[int]ESItemError{}
	}
	s.itemSeq = 0
	s.failNth[n] = ESItemError{Status: 400, Type: "mapper_parsing_exception",
		Reason: "failed to parse (injected by the test)"}
}

// SetItemFault installs f, called for every bulk item (N counted from 1
// from now); a non-nil result fails the item with that error. Nil removes
// the hook.
func (s *Elasticsearch) SetItemFault(f func(ESBulkItem) *ESItemError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemSeq = 0
	s.itemFault = f
}

// CheckMappings turns the check of indexed documents against their index's
// mapping on (the default) or off. Off, an index request stores the document
// without parsing it: for benchmarks of the client's side.
func (s *Elasticsearch) CheckMappings(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipChecks = !on
}

// Unavailable makes every request, ping included, answer 503 for d (as a
// node whose cluster has no master does).
func (s *Elasticsearch) Unavailable(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downUntil = time.Now().Add(d)
}

// Indices returns the concrete indices, sorted by name.
func (s *Elasticsearch) Indices() []ESIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ESIndex, 0, len(s.indices))
	for _, name := range slices.Sorted(maps.Keys(s.indices)) {
		ix := s.indices[name]
		out = append(out, ESIndex{Name: name, Aliases: slices.Sorted(maps.Keys(ix.aliases)), Docs: len(ix.live),
			Settings: maps.Clone(ix.settings), Mappings: ix.mappings, AutoCreated: ix.autoCreated})
	}
	return out
}

// AliasTargets returns the indices holding alias, sorted.
func (s *Elasticsearch) AliasTargets(alias string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, ix := range s.indices {
		if _, ok := ix.aliases[alias]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Sources returns the documents of an index or alias by id (refreshed or
// not), nil when it does not exist.
func (s *Elasticsearch) Sources(name string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, err := s.resolve(name, false)
	if err != nil {
		return nil
	}
	out := map[string]json.RawMessage{}
	for _, ix := range ixs {
		for id, d := range ix.live {
			out[id] = d.source
		}
	}
	return out
}

// BulkRequestSizes returns the body size in bytes of every bulk request so
// far.
func (s *Elasticsearch) BulkRequestSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bulkSizes)
}

// AliasRequests returns the body of every POST /_aliases request so far.
func (s *Elasticsearch) AliasRequests() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.aliasReqs)
}

// Requests returns how many requests each endpoint answered, keyed like
// "POST _bulk", "PUT <index>", "POST <index>/_count", "GET _alias/<name>".
func (s *Elasticsearch) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// esIndex is one concrete index.
type esIndex struct {
	name        string
	uuid        string
	created     time.Time
	settings    map[string]any // flat: "index.number_of_replicas" -> "0"
	mappings    map[string]any
	aliases     map[string]esAlias
	autoCreated bool
	seqNo       int64
	live        map[string]*esDoc
	// snap is what searches see while refresh is off (refresh_interval
	// -1): the documents as of the last refresh. Nil when refresh is on.
	snap map[string]*esDoc
}

type esAlias struct {
	IsWriteIndex *bool `json:"is_write_index,omitempty"`
}

// esDoc is immutable once stored.
type esDoc struct {
	source  json.RawMessage
	version int64
	seqNo   int64
}

// searchable returns the documents searches and counts see.
func (ix *esIndex) searchable() map[string]*esDoc {
	if ix.snap != nil {
		return ix.snap
	}
	return ix.live
}

func (ix *esIndex) refresh() {
	if ix.snap != nil {
		ix.snap = maps.Clone(ix.live)
	}
}

// applyRefreshInterval turns the snapshot on or off after a settings change.
func (ix *esIndex) applyRefreshInterval() {
	off := fmt.Sprint(ix.settings["index.refresh_interval"]) == "-1"
	switch {
	case off && ix.snap == nil:
		ix.snap = maps.Clone(ix.live)
	case !off && ix.snap != nil:
		ix.snap = nil // back on: everything written becomes visible
	}
}

func (ix *esIndex) replicas() int {
	n, _ := strconv.Atoi(fmt.Sprint(ix.settings["index.number_of_replicas"]))
	return n
}

// esErr is an Elasticsearch error answer.
type esErr struct {
	status int
	typ    string
	reason string
	extra  map[string]any
}

func (e *esErr) Error() string { return e.typ + ": " + e.reason }

// cause is the error object: type, reason and the extra fields.
func (e *esErr) cause() map[string]any {
	c := map[string]any{"type": e.typ, "reason": e.reason}
	maps.Copy(c, e.extra)
	return c
}

// body is the documented error answer: {"error": {root_cause, type,
// reason, ...}, "status": n}.
func (e *esErr) body() map[string]any {
	c := e.cause()
	c["root_cause"] = []any{e.cause()}
	return map[string]any{"error": c, "status": e.status}
}

func indexNotFound(name string) *esErr {
	return &esErr{status: 404, typ: "index_not_found_exception", reason: "no such index [" + name + "]",
		extra: map[string]any{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name}}
}

func badRequest(typ, format string, args ...any) *esErr {
	return &esErr{status: 400, typ: typ, reason: fmt.Sprintf(format, args...)}
}

func parseErr(err error) *esErr {
	return badRequest("x_content_parse_exception", "failed to parse the request body: %v", err)
}

// ServeHTTP answers one request.
func (s *Elasticsearch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	body, err := readBody(r)
	if err != nil {
		writeJSON(w, r, 400, parseErr(err).body())
		return
	}
	parts := splitPath(r.URL.Path)
	s.mu.Lock()
	down := time.Now().Before(s.downUntil)
	s.requests[endpoint(r.Method, parts)]++
	s.mu.Unlock()
	if down {
		writeJSON(w, r, 503, (&esErr{status: 503, typ: "cluster_block_exception",
			reason: "blocked by: [SERVICE_UNAVAILABLE/2/no master];"}).body())
		return
	}
	status, resp := s.route(r.Method, parts, r.URL.Query(), body)
	writeJSON(w, r, status, resp)
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	return io.ReadAll(rd)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if r.Method == http.MethodHead || v == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"error":"encoding the answer","status":500}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			if u, err := url.PathUnescape(s); err == nil {
				s = u
			}
			out = append(out, s)
		}
	}
	return out
}

// endpoint names a request for [Elasticsearch.Requests]: the index part
// becomes <index>.
func endpoint(method string, parts []string) string {
	var p []string
	for i, s := range parts {
		if i == 0 && !strings.HasPrefix(s, "_") {
			s = "<index>"
		}
		if i > 0 && !strings.HasPrefix(s, "_") && s != "scroll" && s != "health" {
			s = "<name>"
		}
		p = append(p, s)
	}
	return strings.TrimSpace(method + " " + strings.Join(p, "/"))
}

// route dispatches a request and returns its status and JSON answer.
func (s *Elasticsearch) route(method string, parts []string, q url.Values, body []byte) (int, any) {
	if len(parts) == 0 {
		switch method {
		case http.MethodGet, http.MethodHead:
			return 200, s.info()
		}
		return methodNotAllowed(method, "/")
	}
	var st int
	var resp any
	var err *esErr
	api, target := parts[0], ""
	rest := parts[1:]
	if !strings.HasPrefix(api, "_") {
		target = api
		api = ""
		if len(rest) > 0 {
			api, rest = rest[0], rest[1:]
		}
	}
	switch {
	case api == "" && len(rest) == 0:
		st, resp, err = s.indexAPI(method, target, q, body)
	case api == "_bulk" && (method == http.MethodPost || method == http.MethodPut):
		st, resp, err = s.bulk(target, q, body)
	case api == "_aliases" && method == http.MethodPost && target == "":
		st, resp, err = s.updateAliases(body)
	case api == "_alias" || api == "_aliases":
		if method != http.MethodGet && method != http.MethodHead {
			return methodNotAllowed(method, strings.Join(parts, "/"))
		}
		name := ""
		if len(rest) > 0 {
			name = rest[0]
		}
		st, resp, err = s.getAliases(target, name)
	case api == "_settings":
		st, resp, err = s.settingsAPI(method, target, q, body)
	case api == "_mapping" && method == http.MethodGet:
		st, resp, err = s.getMapping(target)
	case api == "_refresh" && (method == http.MethodPost || method == http.MethodGet):
		st, resp, err = s.refreshAPI(target)
	case api == "_count" && (method == http.MethodPost || method == http.MethodGet):
		st, resp, err = s.count(target, body)
	case api == "_search" && len(rest) > 0 && rest[0] == "scroll":
		st, resp, err = s.scrollAPI(method, rest[1:], q, body)
	case api == "_search" && (method == http.MethodPost || method == http.MethodGet):
		st, resp, err = s.search(target, q, body)
	case api == "_delete_by_query" && method == http.MethodPost && target != "":
		st, resp, err = s.deleteByQuery(target, q, body)
	case api == "_doc" && target != "" && len(rest) == 1:
		st, resp, err = s.docAPI(method, target, rest[0], q, body)
	case api == "_cluster" && len(rest) > 0 && rest[0] == "health" && method == http.MethodGet:
		st, resp = 200, map[string]any{"cluster_name": "tpi-test", "status": "green", "timed_out": false,
			"number_of_nodes": 1, "number_of_data_nodes": 1}
	default:
		return 400, badRequest("illegal_argument_exception", "request [%s /%s] is not supported by the in-process Elasticsearch",
			method, strings.Join(parts, "/")).body()
	}
	if err != nil {
		return err.status, err.body()
	}
	return st, resp
}

func methodNotAllowed(method, p string) (int, any) {
	return 405, map[string]any{"error": fmt.Sprintf("Incorrect HTTP method for uri [/%s] and method [%s]", strings.TrimPrefix(p, "/"), method), "status": 405}
}

func (s *Elasticsearch) info() map[string]any {
	return map[string]any{
		"name": "tpi-test-node", "cluster_name": "tpi-test", "cluster_uuid": "tpi-test-cluster-uuid",
		"version": map[string]any{
			"number": ESVersion, "build_flavor": "default", "build_type": "docker",
			"build_hash": "f19d41b5e3f8d4c8b7a0b4c3a1b2c3d4e5f6a7b8", "build_date": "2024-10-09T22:08:00.328917561Z",
			"build_snapshot": false, "lucene_version": "9.11.1",
			"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	}
}

// validIndexName applies Elasticsearch's index (and alias) naming rules.
func validIndexName(name string) *esErr {
	bad := func(why string) *esErr {
		return &esErr{status: 400, typ: "invalid_index_name_exception", reason: "Invalid index name [" + name + "], " + why,
			extra: map[string]any{"index_uuid": "_na_", "index": name}}
	}
	switch {
	case name == "" || name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case strings.ToLower(name) != name:
		return bad("must be lowercase")
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return bad(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, :, #]`)
	case strings.HasPrefix(name, "-") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "+"):
		return bad("must not start with '_', '-', or '+'")
	case len(name) > 255:
		return bad("index name is too long")
	}
	return nil
}

// aliasHolders returns the indices holding alias, sorted. s.mu is held.
func (s *Elasticsearch) aliasHolders(alias string) []*esIndex {
	var out []*esIndex
	for _, name := range slices.Sorted(maps.Keys(s.indices)) {
		if _, ok := s.indices[name].aliases[alias]; ok {
			out = append(out, s.indices[name])
		}
	}
	return out
}

// resolve expands an index expression (comma list of indices, aliases and
// wildcards; "_all" or "" for every index) to concrete indices, sorted.
// A missing name is index_not_found_exception unless ignoreMissing; a
// wildcard matching nothing is no error. s.mu is held.
func (s *Elasticsearch) resolve(expr string, ignoreMissing bool) ([]*esIndex, *esErr) {
	seen := map[string]*esIndex{}
	if expr == "" || expr == "_all" || expr == "*" {
		maps.Copy(seen, s.indices)
	} else {
		for _, part := range strings.Split(expr, ",") {
			switch {
			case strings.Contains(part, "*"):
				for name, ix := range s.indices {
					if ok, _ := path.Match(part, name); ok {
						seen[name] = ix
					}
					for a := range ix.aliases {
						if ok, _ := path.Match(part, a); ok {
							seen[name] = ix
						}
					}
				}
			case s.indices[part] != nil:
				seen[part] = s.indices[part]
			default:
				holders := s.aliasHolders(part)
				if len(holders) == 0 && !ignoreMissing {
					return nil, indexNotFound(part)
				}
				for _, ix := range holders {
					seen[ix.name] = ix
				}
			}
		}
	}
	out := make([]*esIndex, 0, len(seen))
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, seen[name])
	}
	return out, nil
}

// indexAPI: PUT (create), DELETE, HEAD (exists), GET (get index).
func (s *Elasticsearch) indexAPI(method, name string, q url.Values, body []byte) (int, any, *esErr) {
	switch method {
	case http.MethodPut, http.MethodPost:
		return s.createIndex(name, body)
	case http.MethodDelete:
		return s.deleteIndex(name)
	case http.MethodHead:
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.resolve(name, false); err != nil {
			return 404, nil, nil
		}
		return 200, nil, nil
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		ixs, err := s.resolve(name, false)
		if err != nil {
			return 0, nil, err
		}
		out := map[string]any{}
		for _, ix := range ixs {
			out[ix.name] = map[string]any{"aliases": ix.aliasMap(), "mappings": ix.mappings,
				"settings": unflatten(ix.allSettings())}
		}
		return 200, out, nil
	}
	return 405, nil, badRequest("illegal_argument_exception", "method %s not allowed on an index", method)
}

func (ix *esIndex) aliasMap() map[string]any {
	out := map[string]any{}
	for a, m := range ix.aliases {
		out[a] = m
	}
	return out
}

// allSettings adds the settings Elasticsearch fills itself.
func (ix *esIndex) allSettings() map[string]any {
	out := maps.Clone(ix.settings)
	out["index.uuid"] = ix.uuid
	out["index.provided_name"] = ix.name
	out["index.creation_date"] = strconv.FormatInt(ix.created.UnixMilli(), 10)
	out["index.version.created"] = "8512000"
	return out
}

func (s *Elasticsearch) createIndex(name string, body []byte) (int, any, *esErr) {
	if err := validIndexName(name); err != nil {
		return 0, nil, err
	}
	var req struct {
		Settings map[string]any            `json:"settings"`
		Mappings map[string]any            `json:"mappings"`
		Aliases  map[string]map[string]any `json:"aliases"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return 0, nil, parseErr(err)
		}
	}
	settings, err := normalizeSettings(req.Settings)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := settings["index.number_of_shards"]; !ok {
		settings["index.number_of_shards"] = "1"
	}
	if _, ok := settings["index.number_of_replicas"]; !ok {
		settings["index.number_of_replicas"] = "1"
	}
	if req.Mappings == nil {
		req.Mappings = map[string]any{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		return 0, nil, &esErr{status: 400, typ: "resource_already_exists_exception",
			reason: fmt.Sprintf("index [%s/%s] already exists", name, ix.uuid),
			extra:  map[string]any{"index_uuid": ix.uuid, "index": name}}
	}
	if len(s.aliasHolders(name)) > 0 {
		return 0, nil, &esErr{status: 400, typ: "invalid_index_name_exception",
			reason: "Invalid index name [" + name + "], already exists as alias", extra: map[string]any{"index_uuid": "_na_", "index": name}}
	}
	ix := s.newIndex(name, settings, req.Mappings)
	for a, meta := range req.Aliases {
		if err := validIndexName(a); err != nil {
			return 0, nil, err
		}
		if s.indices[a] != nil {
			return 0, nil, badRequest("invalid_alias_name_exception", "Invalid alias name [%s]: an index or data stream exists with the same name as the alias", a)
		}
		ix.aliases[a] = aliasMeta(meta)
	}
	s.indices[name] = ix
	return 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name}, nil
}

func aliasMeta(m map[string]any) esAlias {
	var a esAlias
	if b, ok := m["is_write_index"].(bool); ok {
		a.IsWriteIndex = &b
	}
	return a
}

// newIndex builds an index; the caller stores it. s.mu is held.
func (s *Elasticsearch) newIndex(name string, settings, mappings map[string]any) *esIndex {
	ix := &esIndex{name: name, uuid: randomID(11), created: time.Now(), settings: settings, mappings: mappings,
		aliases: map[string]esAlias{}, live: map[string]*esDoc{}}
	ix.applyRefreshInterval()
	return ix
}

func (s *Elasticsearch) deleteIndex(expr string) (int, any, *esErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var del []string
	for _, part := range strings.Split(expr, ",") {
		if strings.Contains(part, "*") || part == "_all" {
			return 0, nil, badRequest("illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
		}
		if s.indices[part] == nil {
			if len(s.aliasHolders(part)) > 0 {
				return 0, nil, badRequest("illegal_argument_exception",
					"The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.", part)
			}
			return 0, nil, indexNotFound(part)
		}
		del = append(del, part)
	}
	for _, name := range del {
		delete(s.indices, name)
	}
	return 200, map[string]any{"acknowledged": true}, nil
}

// getAliases answers GET /_alias/<name> and GET /<index>/_alias[/<name>].
func (s *Elasticsearch) getAliases(target, name string) (int, any, *esErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, err := s.resolve(target, false)
	if err != nil {
		return 0, nil, err
	}
	match := func(a string) bool {
		if name == "" || name == "*" || name == "_all" {
			return true
		}
		for _, p := range strings.Split(name, ",") {
			if ok, _ := path.Match(p, a); ok {
				return true
			}
		}
		return false
	}
	out := map[string]any{}
	found := false
	for _, ix := range ixs {
		m := map[string]any{}
		for a, meta := range ix.aliases {
			if match(a) {
				m[a] = meta
				found = true
			}
		}
		if name == "" || len(m) > 0 {
			out[ix.name] = map[string]any{"aliases": m}
		}
	}
	if name != "" && !found && !strings.Contains(name, "*") {
		return 404, map[string]any{"error": "alias [" + name + "] missing", "status": 404}, nil
	}
	return 200, out, nil
}

// updateAliases applies POST /_aliases atomically: every action is checked
// against the state the earlier ones leave, and nothing changes unless all
// pass. As in Elasticsearch 8.14+, a remove of an alias the index does not
// hold fails the whole request (404 aliases_not_found_exception) only with
// "must_exist": true; without it the action is skipped and reported in
// action_results with "errors": true, and a request that changes nothing at
// all is a 404.
func (s *Elasticsearch) updateAliases(body []byte) (int, any, *esErr) {
	var req struct {
		Actions []map[string]map[string]any `json:"actions"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, parseErr(err)
	}
	if len(req.Actions) == 0 {
		return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: no actions;")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aliasReqs = append(s.aliasReqs, json.RawMessage(slices.Clone(body)))
	// The working copy: index -> aliases, and the indices removed.
	work := map[string]map[string]esAlias{}
	for name, ix := range s.indices {
		work[name] = maps.Clone(ix.aliases)
	}
	removed := map[string]bool{}
	var results []map[string]any // one per action, as Elasticsearch 8.14+ reports a partial success
	changed := false
	names := func(m map[string]any, one, many string) []string {
		var out []string
		if v, ok := m[one].(string); ok {
			out = append(out, v)
		}
		if vs, ok := m[many].([]any); ok {
			for _, v := range vs {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	expand := func(expr string) ([]string, *esErr) {
		if !strings.Contains(expr, "*") {
			if _, ok := work[expr]; !ok {
				return nil, indexNotFound(expr)
			}
			return []string{expr}, nil
		}
		var out []string
		for name := range work {
			if ok, _ := path.Match(expr, name); ok {
				out = append(out, name)
			}
		}
		return out, nil
	}
	for _, action := range req.Actions {
		if len(action) != 1 {
			return 0, nil, badRequest("parsing_exception", "an alias action has exactly one type")
		}
		for typ, args := range action {
			indices := names(args, "index", "indices")
			aliases := names(args, "alias", "aliases")
			switch typ {
			case "add":
				if len(indices) == 0 || len(aliases) == 0 {
					return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index and alias are required for [add];")
				}
				for _, a := range aliases {
					if err := validIndexName(a); err != nil {
						return 0, nil, err
					}
					if _, isIndex := work[a]; isIndex {
						return 0, nil, badRequest("invalid_alias_name_exception",
							"Invalid alias name [%s]: an index or data stream exists with the same name as the alias", a)
					}
				}
				for _, expr := range indices {
					targets, err := expand(expr)
					if err != nil {
						return 0, nil, err
					}
					for _, ix := range targets {
						for _, a := range aliases {
							work[ix][a] = aliasMeta(args)
							changed = true
						}
					}
					results = append(results, aliasResult("add", targets, aliases, nil))
				}
			case "remove":
				if len(indices) == 0 || len(aliases) == 0 {
					return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index and alias are required for [remove];")
				}
				mustExist, _ := args["must_exist"].(bool)
				var resolved []string
				removedAny := false
				for _, expr := range indices {
					targets, err := expand(expr)
					if err != nil {
						return 0, nil, err
					}
					resolved = append(resolved, targets...)
					for _, ix := range targets {
						hit := false
						for _, a := range aliases {
							if _, ok := work[ix][a]; ok {
								delete(work[ix], a)
								hit, removedAny = true, true
							}
						}
						if !hit && mustExist {
							return 0, nil, aliasesMissing(aliases)
						}
					}
				}
				if removedAny {
					results = append(results, aliasResult("remove", resolved, aliases, nil))
				} else {
					results = append(results, aliasResult("remove", resolved, aliases, aliasesMissing(aliases)))
				}
				continue
			case "remove_index":
				if len(indices) == 0 {
					return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index is required for [remove_index];")
				}
				for _, expr := range indices {
					if _, ok := work[expr]; !ok && !strings.Contains(expr, "*") {
						for _, as := range work {
							if _, isAlias := as[expr]; isAlias {
								return 0, nil, badRequest("illegal_argument_exception",
									"The provided expression [%s] matches an alias, specify the corresponding concrete indices instead.", expr)
							}
						}
					}
					targets, err := expand(expr)
					if err != nil {
						return 0, nil, err
					}
					for _, ix := range targets {
						delete(work, ix)
						removed[ix] = true
						changed = true
					}
					results = append(results, aliasResult("remove_index", targets, nil, nil))
				}
			default:
				return 0, nil, badRequest("parsing_exception", "unknown alias action [%s]", typ)
			}
		}
	}
	// An alias name may not equal an index that remains.
	for _, as := range work {
		for a := range as {
			if _, isIndex := work[a]; isIndex {
				return 0, nil, badRequest("invalid_alias_name_exception",
					"Invalid alias name [%s]: an index or data stream exists with the same name as the alias", a)
			}
		}
	}
	errors := false
	for _, r := range results {
		if r["status"] != 200 {
			errors = true
		}
		if r["status"] == 200 && r["action"].(map[string]any)["type"] == "remove" {
			changed = true
		}
	}
	if !changed {
		// Nothing to do at all: every action was the removal of a missing
		// alias.
		var all []string
		for _, r := range results {
			all = append(all, r["action"].(map[string]any)["aliases"].([]string)...)
		}
		return 0, nil, aliasesMissing(all)
	}
	for name := range removed {
		delete(s.indices, name)
	}
	for name, as := range work {
		s.indices[name].aliases = as
	}
	resp := map[string]any{"acknowledged": true, "errors": errors}
	if errors {
		resp["action_results"] = results
	}
	return 200, resp, nil
}

func aliasesMissing(aliases []string) *esErr {
	return &esErr{status: 404, typ: "aliases_not_found_exception", reason: "aliases [" + strings.Join(aliases, ",") + "] missing",
		extra: map[string]any{"resource.type": "aliases", "resource.id": strings.Join(aliases, ",")}}
}

// aliasResult is one entry of action_results.
func aliasResult(typ string, indices, aliases []string, err *esErr) map[string]any {
	r := map[string]any{"action": map[string]any{"type": typ, "indices": slices.Sorted(slices.Values(indices)), "aliases": aliases}, "status": 200}
	if err != nil {
		r["status"] = err.status
		r["error"] = err.cause()
	}
	return r
}

// settingsAPI answers GET and PUT /<index>/_settings.
func (s *Elasticsearch) settingsAPI(method, target string, q url.Values, body []byte) (int, any, *esErr) {
	switch method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		ixs, err := s.resolve(target, false)
		if err != nil {
			return 0, nil, err
		}
		out := map[string]any{}
		for _, ix := range ixs {
			all := ix.allSettings()
			if q.Get("flat_settings") == "true" {
				out[ix.name] = map[string]any{"settings": all}
			} else {
				out[ix.name] = map[string]any{"settings": unflatten(all)}
			}
		}
		return 200, out, nil
	case http.MethodPut:
		var raw map[string]any
		if err := decodeJSON(body, &raw); err != nil {
			return 0, nil, parseErr(err)
		}
		if inner, ok := raw["settings"].(map[string]any); ok && len(raw) == 1 {
			raw = inner
		}
		upd, err := normalizeSettings(raw)
		if err != nil {
			return 0, nil, err
		}
		for k := range upd {
			if k == "index.number_of_shards" || strings.HasPrefix(k, "index.analysis.") {
				return 0, nil, badRequest("illegal_argument_exception", "Can't update non dynamic settings [[%s]] for open indices", k)
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ixs, rerr := s.resolve(target, false)
		if rerr != nil {
			return 0, nil, rerr
		}
		for _, ix := range ixs {
			for k, v := range upd {
				if v == nil {
					delete(ix.settings, k)
					if k == "index.number_of_replicas" {
						ix.settings[k] = "1"
					}
				} else {
					ix.settings[k] = v
				}
			}
			ix.applyRefreshInterval()
		}
		return 200, map[string]any{"acknowledged": true}, nil
	}
	return 405, nil, badRequest("illegal_argument_exception", "method %s not allowed on _settings", method)
}

func (s *Elasticsearch) getMapping(target string) (int, any, *esErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, err := s.resolve(target, false)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"mappings": ix.mappings}
	}
	return 200, out, nil
}

func (s *Elasticsearch) refreshAPI(target string) (int, any, *esErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, err := s.resolve(target, false)
	if err != nil {
		return 0, nil, err
	}
	for _, ix := range ixs {
		ix.refresh()
	}
	return 200, map[string]any{"_shards": shards(len(ixs))}, nil
}

func shards(n int) map[string]any {
	return map[string]any{"total": n, "successful": n, "failed": 0}
}

// normalizeSettings flattens settings given nested ({"index": {...}}),
// flat ({"refresh_interval": ...}) or dotted ({"index.refresh_interval":
// ...}) to "index."-prefixed keys with string values, as Elasticsearch
// stores them; null stays nil (reset to the default).
func normalizeSettings(in map[string]any) (map[string]any, *esErr) {
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, sub := range m {
				walk(prefix+k+".", sub)
			}
			return
		}
		key := strings.TrimSuffix(prefix, ".")
		if !strings.HasPrefix(key, "index.") {
			key = "index." + key
		}
		out[key] = settingValue(v)
	}
	for k, v := range in {
		walk(k+".", v)
	}
	return out, nil
}

func settingValue(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = settingValue(e)
		}
		return out
	}
	return fmt.Sprint(v)
}

// unflatten nests "a.b.c" keys as Elasticsearch answers settings.
func unflatten(flat map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(flat)) {
		cur := out
		keys := strings.Split(k, ".")
		for i, p := range keys {
			if i == len(keys)-1 {
				cur[p] = flat[k]
				break
			}
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
	}
	return out
}

// decodeJSON decodes with numbers kept as json.Number.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
