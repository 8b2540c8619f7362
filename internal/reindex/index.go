package reindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// The index layout. Each kind of document lives in a concrete index named
// "<alias>-<unix nanoseconds>", behind an alias that has the original's
// index name ("testplanit-repository-cases", "testplanit-acme-sessions"), so
// the web app's search and realtime indexing keep working on the name they
// know.
//
//   - A rebuild (a full or by-kind reindex) fills a fresh index with
//     refresh off and no replicas, restores both, refreshes once, checks the
//     count, then moves the alias in one _aliases request (remove from the
//     old index, add to the new one) and deletes the old index. Search never
//     sees an empty or missing index, and rows deleted in PostgreSQL are
//     gone. On the first rebuild, a concrete index that holds the alias name
//     (the original's layout) is replaced in the same request
//     (remove_index). A rebuild that fails deletes its new index and leaves
//     the alias where it was.
//   - A project reindex upserts the project's documents into the alias and
//     deletes the project's documents that PostgreSQL no longer yields
//     (a scroll over the project's document ids, then bulk deletes).
//
// Rebuilds of one index are serialised within a process; across processes
// the alias move is conditional (must_exist on every remove), so the last
// move wins and each move deletes only the index it replaced.

// DocSource is where documents come from: a [Source] on the task's tenant
// database.
type DocSource interface {
	// Docs streams kind k's documents (one project's when projectID > 0).
	Docs(ctx context.Context, k Kind, projectID int, emit func(Doc) error) error
	// Count returns how many documents Docs would stream.
	Count(ctx context.Context, k Kind, projectID int) (int64, error)
}

// Index name parts.
const (
	// DefaultPrefix starts every index name of a deployment without tenant
	// ("testplanit-repository-cases") and of a tenant without its own
	// elasticsearchIndex ("testplanit-acme-repository-cases").
	DefaultPrefix = "testplanit"
	// orphanAge is how old a concrete index without its alias must be
	// before a rebuild deletes it: left by a process killed mid-rebuild,
	// never one that is still being filled (a task's timeout is 6 h).
	orphanAge = 24 * time.Hour
	// scrollPage is the number of ids a stale-document scroll reads at once.
	scrollPage = 5000
	// scrollKeepAlive keeps a scroll open between two pages.
	scrollKeepAlive = 2 * time.Minute
)

// IndexPrefix returns the prefix of a tenant's index names: its
// elasticsearchIndex when set, else "testplanit-<tenant>" (the original's
// tenant names), else "testplanit".
func IndexPrefix(tenantID, elasticsearchIndex string) string {
	switch {
	case elasticsearchIndex != "":
		return elasticsearchIndex
	case tenantID != "":
		return DefaultPrefix + "-" + tenantID
	}
	return DefaultPrefix
}

// AliasName is the name the web app knows for kind k's index:
// "<prefix>-<suffix>".
func AliasName(prefix string, k Kind) string { return prefix + "-" + k.IndexSuffix() }

// CheckIndexName applies Elasticsearch's rules for index and alias names,
// so that a bad tenant id or elasticsearchIndex is refused before anything
// is written.
func CheckIndexName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("reindex: index name %q: empty or a dot", name)
	case strings.ToLower(name) != name:
		return fmt.Errorf("reindex: index name %q: must be lowercase (Elasticsearch refuses it)", name)
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return fmt.Errorf(`reindex: index name %q: must not contain a space or any of \ / * ? " < > | , # :`+" (Elasticsearch refuses it)", name)
	case strings.IndexAny(name[:1], "-_+") == 0:
		return fmt.Errorf("reindex: index name %q: must not start with -, _ or +", name)
	case len(name) > 200: // 255 with the concrete index's suffix
		return fmt.Errorf("reindex: index name %q: longer than 200 bytes", name)
	}
	return nil
}

// EntityResult is what one kind's reindex did.
type EntityResult struct {
	Entity Kind `json:"entity"`
	// Alias is the name search uses; Index the concrete index behind it
	// afterwards.
	Alias string `json:"alias"`
	Index string `json:"index,omitempty"`
	// Mode is "rebuild" (a fresh index and an alias move) or "project"
	// (upserts and deletions in place).
	Mode string `json:"mode"`
	// Total is the number of documents PostgreSQL had when counted first;
	// Indexed the number Elasticsearch acknowledged.
	Total   int64 `json:"total"`
	Indexed int64 `json:"indexed"`
	// Deleted counts the stale documents a project reindex removed.
	Deleted int64 `json:"deleted,omitempty"`
	// Replaced lists the indices the alias left (deleted since).
	Replaced []string `json:"replaced,omitempty"`
	// Migrated is true when the alias name was a concrete index (the
	// original's layout), replaced by the alias.
	Migrated  bool  `json:"migrated,omitempty"`
	ElapsedMs int64 `json:"elapsedMs"`
}

// Indexer writes one tenant's documents into one Elasticsearch node.
type Indexer struct {
	// ES is the node's client.
	ES *elasticsearch.Client
	// Source yields the documents.
	Source DocSource
	// Prefix starts the index names ([IndexPrefix]).
	Prefix string
	// Replicas is the number of replicas of a new index (AppConfig
	// elasticsearch_replicas, see [Replicas]).
	Replicas int
	// Config holds the bulk settings.
	Config Config
	// OnIndexed, if set, is called with kind k's running count of
	// documents written; calls come from several goroutines.
	OnIndexed func(k Kind, indexed int64)
	// Log defaults to a discarding logger.
	Log *slog.Logger
	// Now names the concrete indices; defaults to time.Now.
	Now func() time.Time
	// lock, if set, serialises the work on one alias within the process.
	lock func(alias string) sync.Locker
}

func (ix *Indexer) log() *slog.Logger {
	if ix.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return ix.Log
}

func (ix *Indexer) acquire(alias string) func() {
	if ix.lock == nil {
		return func() {}
	}
	l := ix.lock(alias)
	l.Lock()
	return l.Unlock
}

// newIndexName returns a fresh concrete index name for alias.
func (ix *Indexer) newIndexName(alias string) string {
	now := time.Now
	if ix.Now != nil {
		now = ix.Now
	}
	return alias + "-" + strconv.FormatInt(now().UnixNano(), 10)
}

// concreteOf matches the concrete indices of alias and captures their
// creation time (unix nanoseconds).
func concreteOf(alias string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(alias) + `-([0-9]{16,20})$`)
}

// Rebuild builds kind k's index afresh from every document and moves the
// alias onto it; see the package's index layout. total is the document
// count for the result (0 if unknown).
func (ix *Indexer) Rebuild(ctx context.Context, k Kind, total int64) (res EntityResult, err error) {
	start := time.Now()
	alias := AliasName(ix.Prefix, k)
	res = EntityResult{Entity: k, Alias: alias, Mode: "rebuild", Total: total}
	defer func() { res.ElapsedMs = time.Since(start).Milliseconds() }()
	if err := CheckIndexName(alias); err != nil {
		return res, &refusedError{err}
	}
	unlock := ix.acquire(alias)
	defer unlock()

	if err := ix.removeOrphans(ctx, alias); err != nil {
		if unreachable(err) {
			return res, err // the next request would fail the same way
		}
		ix.log().Warn("listing the old indices", "alias", alias, "error", err.Error())
	}
	body, err := Mapping(k, ix.Replicas)
	if err != nil {
		return res, &refusedError{err}
	}
	name := ix.newIndexName(alias)
	if err := ix.createIndex(ctx, name, body); err != nil {
		return res, err
	}
	swapped := false
	defer func() {
		if !swapped {
			ix.dropUnaliased(ctx, name, alias, "rebuild failed")
		}
	}()
	// Refresh off and no replicas while filling; one refresh at the end.
	if err := ix.putSettings(ctx, name, map[string]any{"refresh_interval": "-1", "number_of_replicas": 0}); err != nil {
		return res, err
	}
	res.Indexed, err = ix.write(ctx, k, 0, name, false, nil)
	if err != nil {
		return res, err
	}
	restore := map[string]any{"refresh_interval": settingOf(body, "refresh_interval"), "number_of_replicas": ix.Replicas}
	if err := ix.putSettings(ctx, name, restore); err != nil {
		return res, err
	}
	if err := ix.refresh(ctx, name); err != nil {
		return res, err
	}
	n, err := ix.count(ctx, name)
	if err != nil {
		return res, err
	}
	if n != res.Indexed {
		return res, fmt.Errorf("reindex %s: index %s holds %d documents after the rebuild, %d were acknowledged", k, name, n, res.Indexed)
	}
	st, err := ix.aliasState(ctx, alias)
	if err != nil {
		return res, err
	}
	if st, err = ix.swap(ctx, alias, name, st); err != nil {
		return res, err
	}
	swapped = true
	res.Index, res.Replaced, res.Migrated = name, st.holders, st.concrete
	if st.concrete { // remove_index deleted it
		res.Replaced = append([]string{alias}, st.holders...)
	}
	for _, old := range st.holders {
		ix.dropIndex(ctx, old, "replaced by "+name)
	}
	kept, err := ix.settle(ctx, alias)
	if err != nil {
		ix.log().Warn("checking the alias after the move", "alias", alias, "error", err.Error())
	} else if kept != "" {
		res.Index = kept
	}
	ix.log().Info("index rebuilt", "entity", string(k), "alias", alias, "index", res.Index,
		"indexed", res.Indexed, "replaced", res.Replaced, "migrated", res.Migrated)
	return res, nil
}

// Project upserts project projectID's documents of kind k into the alias and
// deletes the project's documents PostgreSQL no longer yields. Other
// projects' documents are untouched. Without any index yet, it creates one
// (with its mapping) behind the alias first.
func (ix *Indexer) Project(ctx context.Context, k Kind, projectID int, total int64) (res EntityResult, err error) {
	start := time.Now()
	alias := AliasName(ix.Prefix, k)
	res = EntityResult{Entity: k, Alias: alias, Mode: "project", Total: total}
	defer func() { res.ElapsedMs = time.Since(start).Milliseconds() }()
	if err := CheckIndexName(alias); err != nil {
		return res, &refusedError{err}
	}
	unlock := ix.acquire(alias)
	defer unlock()

	st, err := ix.aliasState(ctx, alias)
	if err != nil {
		return res, err
	}
	if !st.concrete && len(st.holders) == 0 {
		// Nothing to upsert into: an explicit mapping first, never an
		// index auto-created by the first write.
		body, err := Mapping(k, ix.Replicas)
		if err != nil {
			return res, &refusedError{err}
		}
		name := ix.newIndexName(alias)
		if err := ix.createIndex(ctx, name, body); err != nil {
			return res, err
		}
		if _, err := ix.swap(ctx, alias, name, st); err != nil {
			ix.dropUnaliased(ctx, name, alias, "alias not added")
			return res, err
		}
		if st, err = ix.aliasState(ctx, alias); err != nil {
			return res, err
		}
	}
	res.Index = alias
	if len(st.holders) == 1 {
		res.Index = st.holders[0]
	}
	// Into the alias, refusing to create an index if it disappeared
	// meanwhile; into the concrete index of the original's layout as is.
	requireAlias := !st.concrete
	keep := &idSet{}
	if res.Indexed, err = ix.write(ctx, k, projectID, alias, requireAlias, keep); err != nil {
		return res, err
	}
	if res.Deleted, err = ix.removeStale(ctx, k, projectID, alias, keep); err != nil {
		return res, err
	}
	if err := ix.refresh(ctx, alias); err != nil {
		return res, err
	}
	ix.log().Info("project reindexed", "entity", string(k), "alias", alias, "project", projectID,
		"indexed", res.Indexed, "deleted", res.Deleted)
	return res, nil
}

// scopeQuery selects project projectID's documents of kind k: by projectId,
// or for the projects index the project's own document.
func scopeQuery(k Kind, projectID int) map[string]any {
	if k == KindProjects {
		return map[string]any{"ids": map[string]any{"values": []string{strconv.Itoa(projectID)}}}
	}
	return map[string]any{"term": map[string]any{"projectId": projectID}}
}

// errStop ends a document stream after a bulk failure.
var errStop = errors.New("reindex: stopped after a failed bulk request")

// write streams kind k's documents (project projectID's when > 0) into
// target through a bulk indexer bounded in bytes, and returns the number
// acknowledged. Any failed item fails the whole write with a [BulkError];
// the stream stops at the first failure seen. keep, when set, receives the
// ids written.
func (ix *Indexer) write(ctx context.Context, k Kind, projectID int, target string, requireAlias bool, keep *idSet) (int64, error) {
	var indexed atomic.Int64
	fails := &BulkError{Entity: k, Index: target, ByType: map[string]int{}}
	bi, err := ix.bulkIndexer()
	if err != nil {
		return 0, err
	}
	onOK := func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
		n := indexed.Add(1)
		if ix.OnIndexed != nil {
			ix.OnIndexed(k, n)
		}
	}
	onFail := func(_ context.Context, item esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
		fails.add(item.DocumentID, r, err)
	}
	emitErr := ix.Source.Docs(ctx, k, projectID, func(d Doc) error {
		if fails.failed() {
			return errStop
		}
		if keep != nil {
			keep.add(d.ID)
		}
		return bi.Add(ctx, esutil.BulkIndexerItem{Action: "index", Index: target, DocumentID: d.ID,
			RequireAlias: requireAlias, Body: bytes.NewReader(d.Body), OnSuccess: onOK, OnFailure: onFail})
	})
	closeErr := ix.closeBulk(ctx, bi)
	if fails.failed() {
		return indexed.Load(), fails
	}
	if emitErr != nil {
		return indexed.Load(), emitErr
	}
	if closeErr != nil {
		return indexed.Load(), closeErr
	}
	if st := bi.Stats(); st.NumFailed > 0 {
		return indexed.Load(), fmt.Errorf("reindex %s: %d documents failed without an error reported", k, st.NumFailed)
	}
	return indexed.Load(), nil
}

func (ix *Indexer) bulkIndexer() (esutil.BulkIndexer, error) {
	cfg := ix.Config.withDefaults()
	return esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        ix.ES,
		NumWorkers:    cfg.BulkWorkers,
		FlushBytes:    cfg.BulkBytes,
		FlushInterval: cfg.FlushInterval,
	})
}

// closeBulk flushes and stops a bulk indexer. It waits for the requests in
// flight even when ctx is done (bounded by the request timeout), so that
// nothing writes into an index after the caller deletes it.
func (ix *Indexer) closeBulk(ctx context.Context, bi esutil.BulkIndexer) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*ix.Config.withDefaults().RequestTimeout)
	defer cancel()
	if err := bi.Close(cctx); err != nil {
		return fmt.Errorf("reindex: flushing the bulk requests: %w", err)
	}
	return ctx.Err()
}

// removeStale deletes the documents of project projectID in target that are
// not in keep: a scroll over the project's ids (no sources), and bulk
// deletes of the stale ones. A document already gone counts as deleted.
func (ix *Indexer) removeStale(ctx context.Context, k Kind, projectID int, target string, keep *idSet) (int64, error) {
	keep.seal()
	var deleted atomic.Int64
	fails := &BulkError{Entity: k, Index: target, ByType: map[string]int{}}
	bi, err := ix.bulkIndexer()
	if err != nil {
		return 0, err
	}
	onOK := func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { deleted.Add(1) }
	onFail := func(_ context.Context, item esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
		if err == nil && r.Status == 404 && r.Error.Type == "" { // not_found: gone already
			deleted.Add(1)
			return
		}
		fails.add(item.DocumentID, r, err)
	}
	body, err := json.Marshal(map[string]any{"query": scopeQuery(k, projectID), "_source": false,
		"size": scrollPage, "sort": []string{"_doc"}})
	if err != nil {
		return 0, err
	}
	var page searchPage
	err = ix.do(ctx, "search "+target, esapi.SearchRequest{Index: []string{target}, Body: bytes.NewReader(body),
		Scroll: scrollKeepAlive}, &page)
	var scrollID string
	for err == nil {
		scrollID = page.ScrollID
		if len(page.Hits.Hits) == 0 || fails.failed() {
			break
		}
		for _, h := range page.Hits.Hits {
			if keep.has(h.ID) {
				continue
			}
			if err = bi.Add(ctx, esutil.BulkIndexerItem{Action: "delete", Index: h.Index, DocumentID: h.ID,
				OnSuccess: onOK, OnFailure: onFail}); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
		page = searchPage{}
		err = ix.do(ctx, "scroll "+target, esapi.ScrollRequest{ScrollID: scrollID, Scroll: scrollKeepAlive}, &page)
	}
	if scrollID != "" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = ix.do(cctx, "clear scroll", esapi.ClearScrollRequest{ScrollID: []string{scrollID}}, nil)
		cancel()
	}
	closeErr := ix.closeBulk(ctx, bi)
	switch {
	case fails.failed():
		return deleted.Load(), fails
	case err != nil:
		return deleted.Load(), err
	case closeErr != nil:
		return deleted.Load(), closeErr
	}
	return deleted.Load(), nil
}

// searchPage is the part of a search or scroll answer read here.
type searchPage struct {
	ScrollID string `json:"_scroll_id"`
	Hits     struct {
		Hits []struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		} `json:"hits"`
	} `json:"hits"`
}

// aliasState is what holds an alias name now.
type aliasState struct {
	// holders are the indices the alias points to, sorted.
	holders []string
	// concrete: the name is a concrete index (the original's layout).
	concrete bool
}

// aliasState reads what holds alias: GET /<alias>/_alias answers under the
// index's own name for a concrete index, under the holders for an alias,
// and 404 for nothing.
func (ix *Indexer) aliasState(ctx context.Context, alias string) (aliasState, error) {
	var got map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	err := ix.do(ctx, "get alias "+alias, esapi.IndicesGetAliasRequest{Index: []string{alias}}, &got)
	var ee *ESError
	if errors.As(err, &ee) && ee.Status == 404 {
		return aliasState{}, nil
	}
	if err != nil {
		return aliasState{}, err
	}
	if _, ok := got[alias]; ok {
		return aliasState{concrete: true}, nil
	}
	return aliasState{holders: slices.Sorted(maps.Keys(got))}, nil
}

// swap moves alias onto name in one _aliases request: remove_index of a
// concrete index holding the name, remove from each holder (must_exist, so
// that a concurrent move fails the request rather than half-applies it),
// add to name. When another process moved the alias meanwhile (404), it
// reads the holders again and retries. It returns the indices the alias
// left (the state it replaced), whose holders the caller deletes.
func (ix *Indexer) swap(ctx context.Context, alias, name string, st aliasState) (aliasState, error) {
	prev := st
	for attempt := 1; ; attempt++ {
		var actions []any
		if st.concrete {
			actions = append(actions, map[string]any{"remove_index": map[string]any{"index": alias}})
		}
		for _, h := range st.holders {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": h, "alias": alias, "must_exist": true}})
		}
		actions = append(actions, map[string]any{"add": map[string]any{"index": name, "alias": alias}})
		err := ix.updateAliases(ctx, actions)
		if err == nil {
			return st, nil
		}
		var ee *ESError
		if attempt >= 3 || !errors.As(err, &ee) || ee.Status != 404 {
			return aliasState{}, err
		}
		ix.log().Info("the alias moved meanwhile; reading it again", "alias", alias, "error", err.Error())
		if st, err = ix.aliasState(ctx, alias); err != nil {
			return aliasState{}, err
		}
		if slices.Contains(st.holders, name) {
			// Our move went through and its answer was lost (the client
			// sent it again): what it replaced is what no longer holds
			// the alias.
			var gone []string
			for _, h := range prev.holders {
				if !slices.Contains(st.holders, h) {
					gone = append(gone, h)
				}
			}
			return aliasState{holders: gone, concrete: prev.concrete}, nil
		}
	}
}

// settle checks that alias points to one index after a move. Two processes
// that both created the alias at once leave it on two indices: the newest
// stays, the others leave the alias and are deleted. It returns the index
// kept ("" when there was nothing to settle).
func (ix *Indexer) settle(ctx context.Context, alias string) (string, error) {
	st, err := ix.aliasState(ctx, alias)
	if err != nil || len(st.holders) < 2 {
		return "", err
	}
	re := concreteOf(alias)
	newest := slices.MaxFunc(st.holders, func(a, b string) int {
		return strings.Compare(fmt.Sprintf("%025s", suffixOf(re, a)), fmt.Sprintf("%025s", suffixOf(re, b)))
	})
	var actions []any
	var drop []string
	for _, h := range st.holders {
		if h != newest {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": h, "alias": alias, "must_exist": true}})
			drop = append(drop, h)
		}
	}
	if err := ix.updateAliases(ctx, actions); err != nil {
		return "", err
	}
	for _, h := range drop {
		ix.dropIndex(ctx, h, "a concurrent rebuild's duplicate")
	}
	return newest, nil
}

func suffixOf(re *regexp.Regexp, name string) string {
	if m := re.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// removeOrphans deletes the concrete indices of alias that do not hold it
// and are older than orphanAge: left by a process killed during a rebuild.
// It returns the listing's error; a failed deletion is logged only.
func (ix *Indexer) removeOrphans(ctx context.Context, alias string) error {
	var got map[string]struct {
		Aliases map[string]json.RawMessage `json:"aliases"`
	}
	if err := ix.do(ctx, "get alias "+alias+"-*", esapi.IndicesGetAliasRequest{Index: []string{alias + "-*"}}, &got); err != nil {
		return err
	}
	re := concreteOf(alias)
	now := time.Now()
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, holds := got[name].Aliases[alias]; holds {
			continue
		}
		nanos, err := strconv.ParseInt(suffixOf(re, name), 10, 64)
		if err != nil || now.Sub(time.Unix(0, nanos)) < orphanAge {
			continue
		}
		ix.dropIndex(ctx, name, "orphan of an interrupted rebuild")
	}
	return nil
}

func (ix *Indexer) createIndex(ctx context.Context, name string, body []byte) error {
	return ix.do(ctx, "create index "+name, esapi.IndicesCreateRequest{Index: name, Body: bytes.NewReader(body)}, nil)
}

// dropIndex deletes an index, even when ctx is done; a failure is logged
// (an orphan is removed by a later rebuild).
func (ix *Indexer) dropIndex(ctx context.Context, name, why string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := ix.do(cctx, "delete index "+name, esapi.IndicesDeleteRequest{Index: []string{name}}, nil)
	var ee *ESError
	if err != nil && !(errors.As(err, &ee) && ee.Status == 404) {
		ix.log().Warn("deleting an index", "index", name, "why", why, "error", err.Error())
		return
	}
	ix.log().Debug("index deleted", "index", name, "why", why)
}

// dropUnaliased deletes a new index whose alias move failed, unless the
// move happened after all (its answer lost) or cannot be checked: deleting
// the index that holds the alias would take search down. An index left
// without its alias is removed by a later rebuild ([orphanAge]).
func (ix *Indexer) dropUnaliased(ctx context.Context, name, alias, why string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	st, err := ix.aliasState(cctx, alias)
	switch {
	case err != nil:
		ix.log().Warn("keeping an index whose alias cannot be checked", "index", name, "alias", alias, "error", err.Error())
	case slices.Contains(st.holders, name):
		ix.log().Warn("keeping an index that holds the alias after all", "index", name, "alias", alias)
	default:
		ix.dropIndex(cctx, name, why)
	}
}

func (ix *Indexer) putSettings(ctx context.Context, name string, settings map[string]any) error {
	body, err := json.Marshal(map[string]any{"index": settings})
	if err != nil {
		return err
	}
	return ix.do(ctx, "update settings of "+name, esapi.IndicesPutSettingsRequest{Index: []string{name}, Body: bytes.NewReader(body)}, nil)
}

func (ix *Indexer) refresh(ctx context.Context, name string) error {
	return ix.do(ctx, "refresh "+name, esapi.IndicesRefreshRequest{Index: []string{name}}, nil)
}

func (ix *Indexer) count(ctx context.Context, name string) (int64, error) {
	var got struct {
		Count int64 `json:"count"`
	}
	err := ix.do(ctx, "count "+name, esapi.CountRequest{Index: []string{name}}, &got)
	return got.Count, err
}

// updateAliases sends one _aliases request. An answer with "errors": true
// (a partial success, Elasticsearch 8.14+) is an error.
func (ix *Indexer) updateAliases(ctx context.Context, actions []any) error {
	body, err := json.Marshal(map[string]any{"actions": actions})
	if err != nil {
		return err
	}
	var got struct {
		Acknowledged bool            `json:"acknowledged"`
		Errors       bool            `json:"errors"`
		Results      json.RawMessage `json:"action_results"`
	}
	if err := ix.do(ctx, "update aliases", esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}, &got); err != nil {
		return err
	}
	if got.Errors || !got.Acknowledged {
		return fmt.Errorf("reindex: update aliases: partly applied or not acknowledged: %s", got.Results)
	}
	return nil
}

// request is an esapi request.
type request interface {
	Do(ctx context.Context, t esapi.Transport) (*esapi.Response, error)
}

// do sends req and decodes a successful answer into out (when not nil). An
// error answer is an [*ESError]; no answer at all is a [*TransportError].
func (ix *Indexer) do(ctx context.Context, op string, req request, out any) error {
	res, err := req.Do(ctx, ix.ES)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &TransportError{Op: op, Err: err}
	}
	defer res.Body.Close()
	if res.IsError() {
		return decodeError(op, res)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return &TransportError{Op: op, Err: fmt.Errorf("decoding the answer: %w", err)}
	}
	return nil
}

// ESError is an error answer of Elasticsearch.
type ESError struct {
	Op     string
	Status int
	Type   string
	Reason string
}

func (e *ESError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("elasticsearch: %s: %d: %s", e.Op, e.Status, e.Reason)
	}
	return fmt.Sprintf("elasticsearch: %s: %d %s: %s", e.Op, e.Status, e.Type, e.Reason)
}

// TransportError is a request that got no answer (connection refused,
// timeout, a broken answer).
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return "elasticsearch: " + e.Op + ": " + e.Err.Error() }

func (e *TransportError) Unwrap() error { return e.Err }

// decodeError reads Elasticsearch's error answer: {"error": {"type",
// "reason", "root_cause"}, "status"}, or {"error": "text", "status"}.
func decodeError(op string, res *esapi.Response) error {
	e := &ESError{Op: op, Status: res.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && len(body.Error) > 0 {
		var obj struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		var text string
		switch {
		case json.Unmarshal(body.Error, &obj) == nil:
			e.Type, e.Reason = obj.Type, obj.Reason
		case json.Unmarshal(body.Error, &text) == nil:
			e.Reason = text
		}
	}
	if e.Reason == "" && e.Type == "" {
		e.Reason = strings.TrimSpace(string(b))
		if e.Reason == "" {
			e.Reason = res.Status()
		}
	}
	return e
}

// BulkError is the failure of one or more bulk items: counts per error
// type and the first ids, so that the task's reason says what went wrong.
type BulkError struct {
	Entity Kind
	Index  string

	mu sync.Mutex
	// Failed counts the failed items.
	Failed int
	// ByType counts them per error type ("mapper_parsing_exception");
	// a bulk request that failed as a whole counts its items under
	// "bulk_request_failed".
	ByType map[string]int
	// IDs are the first failed document ids (at most 10).
	IDs []string
	// First is the first item's error.
	First string
	// retriable: every failure is Elasticsearch pushing back (429) or a
	// request that got no answer, which a later run may not meet.
	retriable bool
	flag      atomic.Bool
}

const bulkRequestFailed = "bulk_request_failed"

func (e *BulkError) add(id string, r esutil.BulkIndexerResponseItem, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	typ, reason, retriable := r.Error.Type, r.Error.Reason, r.Status == 429
	switch {
	case err != nil:
		typ, reason, retriable = bulkRequestFailed, err.Error(), true
	case typ == "":
		typ, reason = fmt.Sprintf("status_%d", r.Status), r.Result
	}
	if r.Error.Cause.Type != "" {
		reason += " (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
	}
	if e.Failed == 0 {
		e.retriable = retriable
		e.First = "[" + id + "] " + typ + ": " + reason
	} else {
		e.retriable = e.retriable && retriable
	}
	e.Failed++
	e.ByType[typ]++
	if len(e.IDs) < 10 {
		e.IDs = append(e.IDs, id)
	}
	e.flag.Store(true)
}

func (e *BulkError) failed() bool { return e.flag.Load() }

// Retriable reports whether every failure was Elasticsearch pushing back
// (429) or a bulk request without an answer: worth another run, where a
// document Elasticsearch refused is not.
func (e *BulkError) Retriable() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.retriable
}

func (e *BulkError) Error() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	types := slices.Collect(maps.Keys(e.ByType))
	sort.Slice(types, func(i, j int) bool {
		if e.ByType[types[i]] != e.ByType[types[j]] {
			return e.ByType[types[i]] > e.ByType[types[j]]
		}
		return types[i] < types[j]
	})
	var counts []string
	for _, t := range types {
		counts = append(counts, fmt.Sprintf("%s %d", t, e.ByType[t]))
	}
	return fmt.Sprintf("reindex %s: %d documents failed in %s (%s); first ids %s; first error %s",
		e.Entity, e.Failed, e.Index, strings.Join(counts, ", "), strings.Join(e.IDs, ", "), e.First)
}

// refusedError marks a failure that no retry cures (a bad index name, a
// mapping that cannot be built).
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// settingOf returns a setting of a create-index body, whichever form it
// has (settings.index.key, settings.key, settings["index.key"]), or nil.
func settingOf(body []byte, key string) any {
	var b struct {
		Settings map[string]any `json:"settings"`
	}
	if json.Unmarshal(body, &b) != nil || b.Settings == nil {
		return nil
	}
	if idx, ok := b.Settings["index"].(map[string]any); ok {
		if v, ok := idx[key]; ok {
			return v
		}
	}
	if v, ok := b.Settings[key]; ok {
		return v
	}
	return b.Settings["index."+key]
}

// idSet holds document ids (the rows' ids, in decimal) compactly: sorted
// numbers, a map for anything else.
type idSet struct {
	nums   []int64
	sorted bool
	other  map[string]bool
}

func (s *idSet) add(id string) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != id {
		if s.other == nil {
			s.other = map[string]bool{}
		}
		s.other[id] = true
		return
	}
	s.nums = append(s.nums, n)
}

// seal sorts the numbers; call it once all ids are added.
func (s *idSet) seal() {
	if !s.sorted {
		slices.Sort(s.nums)
		s.sorted = true
	}
}

func (s *idSet) has(id string) bool {
	if s.other[id] {
		return true
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != id {
		return false
	}
	_, found := slices.BinarySearch(s.nums, n)
	return found
}
