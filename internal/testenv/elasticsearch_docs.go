package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// bulkLine is one parsed bulk action.
type bulkLine struct {
	action string
	meta   map[string]any
	source []byte
}

// bulk answers POST /_bulk and /<index>/_bulk.
func (s *Elasticsearch) bulk(target string, q url.Values, body []byte) (int, any, *esErr) {
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return 0, nil, badRequest("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
	}
	lines, perr := parseBulk(body)
	if perr != nil {
		return 0, nil, perr
	}
	requireAlias := q.Get("require_alias") == "true"
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulkSizes = append(s.bulkSizes, len(body))
	items := make([]any, 0, len(lines))
	errors := false
	touched := map[string]*esIndex{}
	for _, l := range lines {
		res := s.bulkItem(target, requireAlias, l, touched)
		if _, failed := res["error"]; failed {
			errors = true
		}
		items = append(items, map[string]any{l.action: res})
	}
	if r := q.Get("refresh"); r == "true" || r == "" && q.Has("refresh") || r == "wait_for" {
		for _, ix := range touched {
			ix.refresh()
		}
	}
	return 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errors, "items": items}, nil
}

func parseBulk(body []byte) ([]bulkLine, *esErr) {
	var out []bulkLine
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 256<<20)
	lineNo := 0
	next := func() ([]byte, bool) {
		for sc.Scan() {
			lineNo++
			if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 {
				return slices.Clone(b), true
			}
		}
		return nil, false
	}
	for {
		head, ok := next()
		if !ok {
			break
		}
		var action map[string]map[string]any
		if err := decodeJSON(head, &action); err != nil || len(action) != 1 {
			return nil, badRequest("illegal_argument_exception", "Malformed action/metadata line [%d], expected a simple value for field [_index] but found [%s]", lineNo, head)
		}
		var l bulkLine
		for a, m := range action {
			l.action, l.meta = a, m
		}
		switch l.action {
		case "index", "create", "update":
			src, ok := next()
			if !ok {
				return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: no requests added;")
			}
			l.source = src
		case "delete":
		default:
			return nil, badRequest("illegal_argument_exception", "Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", lineNo, l.action)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, badRequest("illegal_argument_exception", "reading the bulk body: %v", err)
	}
	if len(out) == 0 {
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: no requests added;")
	}
	return out, nil
}

// bulkItem applies one action and returns its result object. s.mu is held.
func (s *Elasticsearch) bulkItem(target string, requireAlias bool, l bulkLine, touched map[string]*esIndex) map[string]any {
	name, _ := l.meta["_index"].(string)
	if name == "" {
		name = target
	}
	id, _ := l.meta["_id"].(string)
	if ra, ok := l.meta["require_alias"].(bool); ok {
		requireAlias = ra
	}
	fail := func(e *esErr) map[string]any {
		c := e.cause()
		return map[string]any{"_index": name, "_id": id, "status": e.status, "error": c}
	}
	if name == "" {
		return fail(badRequest("action_request_validation_exception", "Validation Failed: 1: index is missing;"))
	}
	if id == "" && l.action != "index" && l.action != "create" {
		return fail(badRequest("action_request_validation_exception", "Validation Failed: 1: id is missing;"))
	}
	ix, err := s.writeIndex(name, requireAlias, l.action)
	if err != nil {
		return fail(err)
	}
	if id == "" {
		id = randomID(10)
	}
	s.itemSeq++
	item := ESBulkItem{N: s.itemSeq, Action: l.action, Index: ix.name, ID: id, Source: l.source}
	if e, ok := s.failNth[s.itemSeq]; ok {
		delete(s.failNth, s.itemSeq)
		return s.itemError(ix, id, e)
	}
	if s.itemFault != nil {
		if e := s.itemFault(item); e != nil {
			return s.itemError(ix, id, *e)
		}
	}
	touched[ix.name] = ix
	ok := func(status int, result string, d *esDoc) map[string]any {
		return map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "result": result,
			"_shards": map[string]any{"total": 1 + ix.replicas(), "successful": 1, "failed": 0},
			"_seq_no": d.seqNo, "_primary_term": 1, "status": status}
	}
	old := ix.live[id]
	switch l.action {
	case "delete":
		if old == nil {
			ix.seqNo++
			return map[string]any{"_index": ix.name, "_id": id, "_version": 1, "result": "not_found",
				"_shards": map[string]any{"total": 1 + ix.replicas(), "successful": 1, "failed": 0},
				"_seq_no": ix.seqNo, "_primary_term": 1, "status": 404}
		}
		delete(ix.live, id)
		ix.seqNo++
		return ok(200, "deleted", &esDoc{version: old.version + 1, seqNo: ix.seqNo})
	case "create":
		if old != nil {
			return s.itemError(ix, id, ESItemError{Status: 409, Type: "version_conflict_engine_exception",
				Reason: fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, old.version)})
		}
		fallthrough
	case "index":
		if !s.skipChecks {
			if e := checkDocument(ix, id, l.source); e != nil {
				return fail(e)
			}
		}
		return s.store(ix, id, l.source, old, ok)
	case "update":
		var upd struct {
			Doc         json.RawMessage `json:"doc"`
			DocAsUpsert bool            `json:"doc_as_upsert"`
			Upsert      json.RawMessage `json:"upsert"`
			Script      json.RawMessage `json:"script"`
		}
		if err := decodeJSON(l.source, &upd); err != nil {
			return fail(parseErr(err))
		}
		if upd.Script != nil {
			return fail(badRequest("illegal_argument_exception", "scripted updates are not supported by the in-process Elasticsearch"))
		}
		var merged []byte
		switch {
		case old != nil:
			var base, patch map[string]any
			_ = decodeJSON(old.source, &base)
			if err := decodeJSON(upd.Doc, &patch); err != nil {
				return fail(parseErr(err))
			}
			merged, _ = json.Marshal(mergeDoc(base, patch))
		case upd.DocAsUpsert:
			merged = upd.Doc
		case upd.Upsert != nil:
			merged = upd.Upsert
		default:
			return s.itemError(ix, id, ESItemError{Status: 404, Type: "document_missing_exception", Reason: "[" + id + "]: document missing"})
		}
		if e := checkDocument(ix, id, merged); e != nil {
			return fail(e)
		}
		return s.store(ix, id, merged, old, ok)
	}
	return fail(badRequest("illegal_argument_exception", "unknown action [%s]", l.action))
}

func (s *Elasticsearch) store(ix *esIndex, id string, src []byte, old *esDoc, ok func(int, string, *esDoc) map[string]any) map[string]any {
	ix.seqNo++
	d := &esDoc{source: json.RawMessage(src), version: 1, seqNo: ix.seqNo}
	ix.live[id] = d
	if old != nil {
		d.version = old.version + 1
		return ok(200, "updated", d)
	}
	return ok(201, "created", d)
}

func (s *Elasticsearch) itemError(ix *esIndex, id string, e ESItemError) map[string]any {
	return map[string]any{"_index": ix.name, "_id": id, "status": e.Status,
		"error": map[string]any{"type": e.Type, "reason": e.Reason, "index_uuid": ix.uuid, "shard": "0", "index": ix.name}}
}

// mergeDoc merges patch into base recursively, as a partial update does.
func mergeDoc(base, patch map[string]any) map[string]any {
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = mergeDoc(bm, pm)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// writeIndex resolves a write target: a concrete index, an alias's write
// index, or (unless requireAlias) a new index auto-created with a dynamic
// mapping. s.mu is held.
func (s *Elasticsearch) writeIndex(name string, requireAlias bool, action string) (*esIndex, *esErr) {
	if ix := s.indices[name]; ix != nil {
		if requireAlias {
			return nil, requireAliasErr(name)
		}
		return ix, nil
	}
	if holders := s.aliasHolders(name); len(holders) > 0 {
		if len(holders) == 1 {
			if w := holders[0].aliases[name].IsWriteIndex; w == nil || *w {
				return holders[0], nil
			}
		}
		for _, ix := range holders {
			if w := ix.aliases[name].IsWriteIndex; w != nil && *w {
				return ix, nil
			}
		}
		return nil, badRequest("illegal_argument_exception",
			"no write index is defined for alias [%s]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index", name)
	}
	if requireAlias {
		return nil, requireAliasErr(name)
	}
	if action == "delete" || action == "update" {
		return nil, indexNotFound(name)
	}
	if err := validIndexName(name); err != nil {
		return nil, err
	}
	ix := s.newIndex(name, map[string]any{"index.number_of_shards": "1", "index.number_of_replicas": "1"}, map[string]any{})
	ix.autoCreated = true
	s.indices[name] = ix
	return ix, nil
}

func requireAliasErr(name string) *esErr {
	e := indexNotFound(name)
	e.reason = "no such index [" + name + "] and [require_alias] request flag is [true] and [" + name + "] is not an alias"
	return e
}

// docAPI answers GET, PUT/POST and DELETE /<index>/_doc/<id>.
func (s *Elasticsearch) docAPI(method, target, id string, q url.Values, body []byte) (int, any, *esErr) {
	refresh := q.Get("refresh") == "true" || q.Get("refresh") == "wait_for" || q.Has("refresh") && q.Get("refresh") == ""
	switch method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		ixs, err := s.resolve(target, false)
		if err != nil {
			return 0, nil, err
		}
		for _, ix := range ixs {
			if d := ix.live[id]; d != nil {
				return 200, map[string]any{"_index": ix.name, "_id": id, "_version": d.version, "_seq_no": d.seqNo,
					"_primary_term": 1, "found": true, "_source": d.source}, nil
			}
		}
		return 404, map[string]any{"_index": target, "_id": id, "found": false}, nil
	case http.MethodPut, http.MethodPost, http.MethodDelete:
		action := "index"
		if method == http.MethodDelete {
			action = "delete"
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		touched := map[string]*esIndex{}
		res := s.bulkItem(target, q.Get("require_alias") == "true", bulkLine{action: action, meta: map[string]any{"_index": target, "_id": id}, source: body}, touched)
		if refresh {
			for _, ix := range touched {
				ix.refresh()
			}
		}
		status, _ := res["status"].(int)
		if e, failed := res["error"].(map[string]any); failed {
			e["root_cause"] = []any{maps.Clone(e)}
			return status, map[string]any{"error": e, "status": status}, nil
		}
		delete(res, "status")
		return status, res, nil
	}
	return 405, nil, badRequest("illegal_argument_exception", "method %s not allowed on _doc", method)
}

// searchRequest is the part of a search body the fake understands.
type searchRequest struct {
	Query  map[string]any `json:"query"`
	Size   *int           `json:"size"`
	From   int            `json:"from"`
	Source any            `json:"_source"`
}

// hit is one search hit.
type hit struct {
	index string
	id    string
	doc   *esDoc
}

// matches runs a query over the searchable documents of target, in id order
// (numeric ids numerically). s.mu is held.
func (s *Elasticsearch) matches(target string, query map[string]any) ([]hit, int, *esErr) {
	ixs, err := s.resolve(target, false)
	if err != nil {
		return nil, 0, err
	}
	if query == nil {
		query = map[string]any{"match_all": map[string]any{}}
	}
	withSource := needsSource(query)
	var out []hit
	for _, ix := range ixs {
		docs := ix.searchable()
		for _, id := range sortedIDs(docs) {
			d := docs[id]
			var src map[string]any
			if withSource {
				if err := decodeJSON(d.source, &src); err != nil {
					continue
				}
			}
			ok, qerr := evalQuery(query, id, src)
			if qerr != nil {
				return nil, 0, qerr
			}
			if ok {
				out = append(out, hit{index: ix.name, id: id, doc: d})
			}
		}
	}
	return out, len(ixs), nil
}

func sortedIDs(docs map[string]*esDoc) []string {
	ids := slices.Collect(maps.Keys(docs))
	slices.SortFunc(ids, func(a, b string) int {
		ai, aerr := strconv.ParseInt(a, 10, 64)
		bi, berr := strconv.ParseInt(b, 10, 64)
		if aerr == nil && berr == nil {
			return int(min(max(ai-bi, -1), 1))
		}
		return strings.Compare(a, b)
	})
	return ids
}

func (s *Elasticsearch) count(target string, body []byte) (int, any, *esErr) {
	var req searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return 0, nil, parseErr(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var count, n int
	if _, all := req.Query["match_all"]; req.Query == nil || all && len(req.Query) == 1 {
		ixs, err := s.resolve(target, false)
		if err != nil {
			return 0, nil, err
		}
		for _, ix := range ixs {
			count += len(ix.searchable())
		}
		n = len(ixs)
	} else {
		hits, shards, err := s.matches(target, req.Query)
		if err != nil {
			return 0, nil, err
		}
		count, n = len(hits), shards
	}
	return 200, map[string]any{"count": count, "_shards": map[string]any{"total": n, "successful": n, "skipped": 0, "failed": 0}}, nil
}

// needsSource reports whether a query reads document fields (not only ids).
func needsSource(q map[string]any) bool {
	for typ, raw := range q {
		switch typ {
		case "match_all", "match_none", "ids":
		case "bool":
			args, _ := raw.(map[string]any)
			for _, key := range []string{"must", "filter", "should", "must_not"} {
				switch v := args[key].(type) {
				case map[string]any:
					if needsSource(v) {
						return true
					}
				case []any:
					for _, e := range v {
						if m, ok := e.(map[string]any); ok && needsSource(m) {
							return true
						}
					}
				}
			}
		default:
			return true
		}
	}
	return false
}

// esScroll is an open scroll: its hits, fixed when it opened.
type esScroll struct {
	hits    []hit
	pos     int
	size    int
	source  bool
	shards  int
	expires time.Time
}

func (s *Elasticsearch) search(target string, q url.Values, body []byte) (int, any, *esErr) {
	var req searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return 0, nil, parseErr(err)
		}
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	if v := q.Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if v := q.Get("from"); v != "" {
		req.From, _ = strconv.Atoi(v)
	}
	withSource := true
	if b, ok := req.Source.(bool); ok {
		withSource = b
	}
	if q.Get("_source") == "false" {
		withSource = false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hits, n, err := s.matches(target, req.Query)
	if err != nil {
		return 0, nil, err
	}
	if ttl := q.Get("scroll"); ttl != "" {
		d, perr := parseTimeValue(ttl)
		if perr != nil {
			return 0, nil, badRequest("illegal_argument_exception", "failed to parse setting [scroll] with value [%s]", ttl)
		}
		sc := &esScroll{hits: hits, size: size, source: withSource, shards: n, expires: time.Now().Add(d)}
		id := randomID(16)
		s.scrolls[id] = sc
		resp := s.page(sc, len(hits))
		resp["_scroll_id"] = id
		return 200, resp, nil
	}
	from := min(req.From, len(hits))
	end := min(from+max(size, 0), len(hits))
	resp := searchResponse(hits[from:end], len(hits), n, withSource)
	return 200, resp, nil
}

func (s *Elasticsearch) page(sc *esScroll, total int) map[string]any {
	end := min(sc.pos+sc.size, len(sc.hits))
	resp := searchResponse(sc.hits[sc.pos:end], total, sc.shards, sc.source)
	sc.pos = end
	return resp
}

func searchResponse(hits []hit, total, shards int, withSource bool) map[string]any {
	out := make([]any, 0, len(hits))
	for _, h := range hits {
		m := map[string]any{"_index": h.index, "_id": h.id, "_score": 1.0}
		if withSource {
			m["_source"] = h.doc.source
		}
		out = append(out, m)
	}
	var maxScore any
	if len(hits) > 0 {
		maxScore = 1.0
	}
	return map[string]any{"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": shards, "successful": shards, "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "max_score": maxScore, "hits": out}}
}

// scrollAPI answers POST/GET /_search/scroll[/<id>] and DELETE
// /_search/scroll[/<id>|_all].
func (s *Elasticsearch) scrollAPI(method string, rest []string, q url.Values, body []byte) (int, any, *esErr) {
	var req struct {
		ScrollID any `json:"scroll_id"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return 0, nil, parseErr(err)
		}
	}
	var ids []string
	switch v := req.ScrollID.(type) {
	case string:
		ids = append(ids, v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				ids = append(ids, s)
			}
		}
	}
	if len(rest) > 0 {
		ids = append(ids, strings.Split(rest[0], ",")...)
	}
	if v := q.Get("scroll_id"); v != "" {
		ids = append(ids, v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case http.MethodDelete:
		freed := 0
		for _, id := range ids {
			if id == "_all" {
				freed += len(s.scrolls)
				clear(s.scrolls)
				continue
			}
			if _, ok := s.scrolls[id]; ok {
				delete(s.scrolls, id)
				freed++
			}
		}
		return 200, map[string]any{"succeeded": true, "num_freed": freed}, nil
	case http.MethodGet, http.MethodPost:
		if len(ids) != 1 {
			return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: scrollId is missing;")
		}
		sc := s.scrolls[ids[0]]
		if sc == nil || time.Now().After(sc.expires) {
			delete(s.scrolls, ids[0])
			return 0, nil, &esErr{status: 404, typ: "search_context_missing_exception", reason: "No search context found for id [" + ids[0] + "]"}
		}
		resp := s.page(sc, len(sc.hits))
		resp["_scroll_id"] = ids[0]
		return 200, resp, nil
	}
	return 405, nil, badRequest("illegal_argument_exception", "method %s not allowed on _search/scroll", method)
}

func (s *Elasticsearch) deleteByQuery(target string, q url.Values, body []byte) (int, any, *esErr) {
	var req searchRequest
	if err := decodeJSON(body, &req); err != nil {
		return 0, nil, parseErr(err)
	}
	if req.Query == nil {
		return 0, nil, badRequest("action_request_validation_exception", "Validation Failed: 1: query is missing;")
	}
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	hits, _, err := s.matches(target, req.Query)
	if err != nil {
		return 0, nil, err
	}
	deleted := 0
	for _, h := range hits {
		ix := s.indices[h.index]
		if ix != nil && ix.live[h.id] == h.doc { // unchanged since the snapshot
			delete(ix.live, h.id)
			ix.seqNo++
			deleted++
		}
	}
	if q.Get("refresh") == "true" {
		ixs, _ := s.resolve(target, true)
		for _, ix := range ixs {
			ix.refresh()
		}
	}
	return 200, map[string]any{"took": time.Since(start).Milliseconds(), "timed_out": false, "total": len(hits),
		"deleted": deleted, "batches": 1, "version_conflicts": len(hits) - deleted, "noops": 0,
		"retries": map[string]any{"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0,
		"throttled_until_millis": 0, "failures": []any{}}, nil
}

// evalQuery evaluates the query DSL subset on one document.
func evalQuery(q map[string]any, id string, src map[string]any) (bool, *esErr) {
	if len(q) != 1 {
		return false, badRequest("parsing_exception", "[query] malformed query, expected exactly one query clause, got %d", len(q))
	}
	for typ, raw := range q {
		args, _ := raw.(map[string]any)
		switch typ {
		case "match_all":
			return true, nil
		case "match_none":
			return false, nil
		case "ids":
			vals, _ := args["values"].([]any)
			for _, v := range vals {
				if fmt.Sprint(v) == id {
					return true, nil
				}
			}
			return false, nil
		case "term", "terms", "match", "range", "exists":
			return evalField(typ, args, id, src)
		case "bool":
			return evalBool(args, id, src)
		default:
			return false, badRequest("parsing_exception", "unknown query [%s]", typ)
		}
	}
	return false, nil
}

func evalBool(args map[string]any, id string, src map[string]any) (bool, *esErr) {
	clauses := func(key string) []map[string]any {
		switch v := args[key].(type) {
		case map[string]any:
			return []map[string]any{v}
		case []any:
			var out []map[string]any
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					out = append(out, m)
				}
			}
			return out
		}
		return nil
	}
	for _, key := range []string{"must", "filter"} {
		for _, c := range clauses(key) {
			ok, err := evalQuery(c, id, src)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	for _, c := range clauses("must_not") {
		ok, err := evalQuery(c, id, src)
		if err != nil || ok {
			return false, err
		}
	}
	should := clauses("should")
	need := 0
	if len(should) > 0 && len(clauses("must")) == 0 && len(clauses("filter")) == 0 {
		need = 1
	}
	if v, ok := args["minimum_should_match"].(json.Number); ok {
		n, _ := v.Int64()
		need = int(n)
	}
	got := 0
	for _, c := range should {
		ok, err := evalQuery(c, id, src)
		if err != nil {
			return false, err
		}
		if ok {
			got++
		}
	}
	return got >= need, nil
}

func evalField(typ string, args map[string]any, id string, src map[string]any) (bool, *esErr) {
	if typ == "exists" {
		f, _ := args["field"].(string)
		return len(fieldValues(src, id, f)) > 0, nil
	}
	if len(args) != 1 {
		return false, badRequest("parsing_exception", "[%s] query doesn't support multiple fields", typ)
	}
	for field, spec := range args {
		vals := fieldValues(src, id, field)
		switch typ {
		case "term":
			want := spec
			if m, ok := spec.(map[string]any); ok {
				want = m["value"]
			}
			return containsValue(vals, want), nil
		case "terms":
			list, ok := spec.([]any)
			if !ok {
				return false, badRequest("parsing_exception", "[terms] query does not support [%s]", field)
			}
			for _, w := range list {
				if containsValue(vals, w) {
					return true, nil
				}
			}
			return false, nil
		case "match":
			text := spec
			if m, ok := spec.(map[string]any); ok {
				text = m["query"]
			}
			for _, tok := range strings.Fields(strings.ToLower(fmt.Sprint(text))) {
				for _, v := range vals {
					if strings.Contains(strings.ToLower(canonical(v)), tok) {
						return true, nil
					}
				}
			}
			return false, nil
		case "range":
			bounds, _ := spec.(map[string]any)
			for _, v := range vals {
				f, err := strconv.ParseFloat(canonical(v), 64)
				if err != nil {
					continue
				}
				if inRange(f, bounds) {
					return true, nil
				}
			}
			return false, nil
		}
	}
	return false, nil
}

func inRange(f float64, bounds map[string]any) bool {
	for op, b := range bounds {
		lim, err := strconv.ParseFloat(canonical(b), 64)
		if err != nil {
			continue
		}
		switch op {
		case "gt":
			if f <= lim {
				return false
			}
		case "gte":
			if f < lim {
				return false
			}
		case "lt":
			if f >= lim {
				return false
			}
		case "lte":
			if f > lim {
				return false
			}
		}
	}
	return true
}

// fieldValues returns the leaf values at a dotted path (arrays flattened).
func fieldValues(src map[string]any, id, field string) []any {
	if field == "_id" {
		return []any{id}
	}
	cur := []any{src}
	for _, p := range strings.Split(field, ".") {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			next = append(next, flattenArray(m[p])...)
		}
		cur = next
	}
	var out []any
	for _, v := range cur {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func flattenArray(v any) []any {
	a, ok := v.([]any)
	if !ok {
		return []any{v}
	}
	var out []any
	for _, e := range a {
		out = append(out, flattenArray(e)...)
	}
	return out
}

func containsValue(vals []any, want any) bool {
	w := canonical(want)
	for _, v := range vals {
		if canonical(v) == w {
			return true
		}
	}
	return false
}

// canonical renders a JSON scalar so that 5, 5.0 and "5" compare equal, as
// a term query on a numeric or keyword field does.
func canonical(v any) string {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil && strings.TrimSpace(x) == x {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return x
	}
	return fmt.Sprint(v)
}

// checkDocument checks a source against the index's mapping: a field the
// mapping does not know is refused under "dynamic": "strict"
// (strict_dynamic_mapping_exception), a value that does not fit its field's
// type is a document_parsing_exception.
func checkDocument(ix *esIndex, id string, source []byte) *esErr {
	var doc map[string]any
	if err := decodeJSON(source, &doc); err != nil {
		return &esErr{status: 400, typ: "document_parsing_exception", reason: "[1:1] failed to parse: " + err.Error(),
			extra: map[string]any{"caused_by": map[string]any{"type": "json_parse_exception", "reason": err.Error()}}}
	}
	props, _ := ix.mappings["properties"].(map[string]any)
	return checkObject(props, dynamicOf(ix.mappings, "true"), doc, "", "_doc", id)
}

func dynamicOf(spec map[string]any, inherited string) string {
	switch v := spec["dynamic"].(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	return inherited
}

func checkObject(props map[string]any, dynamic string, doc map[string]any, prefix, within, id string) *esErr {
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		full := prefix + k
		spec, known := props[k].(map[string]any)
		if !known {
			if dynamic == "strict" {
				return &esErr{status: 400, typ: "strict_dynamic_mapping_exception",
					reason: "[1:2] mapping set to strict, dynamic introduction of [" + k + "] within [" + within + "] is not allowed"}
			}
			continue
		}
		if err := checkValue(spec, dynamic, doc[k], full, id); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(spec map[string]any, dynamic string, v any, full, id string) *esErr {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if err := checkValue(spec, dynamic, e, full, id); err != nil {
				return err
			}
		}
		return nil
	}
	if v == nil {
		return nil
	}
	typ, _ := spec["type"].(string)
	sub, hasProps := spec["properties"].(map[string]any)
	if hasProps || typ == "object" || typ == "nested" {
		m, ok := v.(map[string]any)
		if !ok {
			return &esErr{status: 400, typ: "document_parsing_exception",
				reason: "[1:2] object mapping for [" + full + "] tried to parse field [" + full + "] as object, but found a concrete value"}
		}
		return checkObject(sub, dynamicOf(spec, dynamic), m, full+".", full, id)
	}
	bad := func() *esErr {
		preview, _ := json.Marshal(v)
		return &esErr{status: 400, typ: "document_parsing_exception",
			reason: fmt.Sprintf("[1:2] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", full, typ, id, preview)}
	}
	switch typ {
	case "integer", "long", "short", "byte", "float", "double", "half_float", "scaled_float", "unsigned_long":
		switch x := v.(type) {
		case json.Number:
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return bad()
			}
		default:
			return bad()
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" && x != "" {
				return bad()
			}
		default:
			return bad()
		}
	case "date":
		switch v.(type) {
		case string, json.Number:
		default:
			return bad()
		}
	case "completion", "geo_point", "geo_shape", "flattened", "join", "percolator", "dense_vector", "sparse_vector", "rank_features":
	default: // keyword, text and the other scalar types
		if _, isObj := v.(map[string]any); isObj {
			return bad()
		}
	}
	return nil
}

// parseTimeValue parses Elasticsearch's time units: d, h, m, s, ms, micros,
// nanos ("1m", "60000ms").
func parseTimeValue(v string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond},
		{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("bad time value %q", v)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad time value %q", v)
}
