package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Handler serves the elasticsearch-reindex queue: the original's reindex
// job, with the index layout of index.go. Register it with
// [Handler.Register]; each task works on its tenant's database and
// Elasticsearch node ([worker.TenantFrom]).
type Handler struct {
	// Clients gives the client of the tenant's node. Required.
	Clients *Clients
	// Config holds the bulk settings and the PostgreSQL page size.
	Config Config
	// Clock stamps the progress documents; default [worker.SystemClock].
	Clock worker.Clock
	// ProgressInterval is the least time between two progress documents;
	// 0 means one second.
	ProgressInterval time.Duration

	// results replaces worker.ResultWriterFrom in tests.
	results func(ctx context.Context) io.Writer
	// source replaces NewSource in tests.
	source func(db Querier, batchSize int) DocSource
}

// Register routes elasticsearch-reindex:reindex to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeReindex, h.Reindex)
}

// Result is the JSON result a reindex leaves in asynq: the original's
// {success, results, totalDocuments}, where results are the documents
// Elasticsearch acknowledged per entity (the original gave counts taken
// before indexing), plus what each entity's reindex did.
type Result struct {
	Success        bool           `json:"success"`
	Results        map[Kind]int64 `json:"results"`
	TotalDocuments int64          `json:"totalDocuments"`
	ProjectID      int            `json:"projectId,omitempty"`
	Entities       []EntityResult `json:"entities"`
	// Errors lists the entities' failures (the task's error joins them).
	Errors []string `json:"errors,omitempty"`
}

// Progress is the document a reindex publishes while it runs, as the
// task's result: the entity being indexed with its counts, every entity's
// counts, and the whole task's percentage (0 to 100; the original's
// job.progress, which the web app polls).
type Progress struct {
	Phase      string           `json:"phase"`
	Entity     Kind             `json:"entity,omitempty"`
	Indexed    int64            `json:"indexed"`
	Total      int64            `json:"total"`
	Percentage int              `json:"percentage"`
	Entities   []EntityProgress `json:"entities"`
	UpdatedAt  time.Time        `json:"updatedAt"`
}

// EntityProgress is one entity's part of a [Progress].
type EntityProgress struct {
	Entity     Kind  `json:"entity"`
	Indexed    int64 `json:"indexed"`
	Total      int64 `json:"total"`
	Percentage int   `json:"percentage"`
	Done       bool  `json:"done"`
}

// kindsOf returns the kinds an entityType names ("all": every kind,
// projects first).
func kindsOf(entity string) ([]Kind, error) {
	if entity == task.EntityAll || entity == "" {
		return Kinds(), nil
	}
	k := Kind(entity)
	if !k.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, entity)
	}
	return []Kind{k}, nil
}

// Reindex rebuilds the search indexes a task names: every entity or one,
// for every project (a fresh index per entity, then an alias move) or for
// one (upserts and stale deletions in place). Errors are classified: a
// document Elasticsearch refuses, a credential it refuses or a bad index
// name is permanent (after the other entities were done); Elasticsearch or
// PostgreSQL not answering is transient, and the runtime's dependency gate
// then holds the task without spending its one attempt until they answer.
func (h *Handler) Reindex(ctx context.Context, p task.Reindex) error {
	tn := worker.TenantFrom(ctx)
	log := worker.LoggerFrom(ctx)
	if tn.DB == nil {
		return worker.Permanent(fmt.Errorf("reindex: tenant %q has no database", tn.ID))
	}
	kinds, err := kindsOf(p.EffectiveEntityType())
	if err != nil {
		return worker.Permanent(err)
	}
	if tn.ElasticsearchNode == "" {
		return worker.Permanent(fmt.Errorf("%w for tenant %q: set ELASTICSEARCH_NODE or the tenant's elasticsearchNode", ErrNoNode, tn.ID))
	}
	if h.Clients == nil {
		return errors.New("reindex: Handler.Clients is nil")
	}
	es, err := h.Clients.Get(tn.ElasticsearchNode)
	if err != nil {
		return worker.Permanent(err)
	}
	prefix := IndexPrefix(tn.ID, tn.ElasticsearchIndex)
	if err := CheckIndexName(prefix); err != nil {
		return worker.Permanent(fmt.Errorf("tenant %q: %w", tn.ID, err))
	}
	projectID := 0
	if p.ProjectID != nil {
		projectID = *p.ProjectID
	}
	cfg := h.Config.withDefaults()
	var src DocSource = NewSource(tn.DB, cfg.BatchSize)
	if h.source != nil {
		src = h.source(tn.DB, cfg.BatchSize)
	}
	replicas, err := Replicas(ctx, tn.DB)
	if errors.Is(err, ErrInvalidReplicas) {
		return worker.Permanent(err)
	}
	if err != nil {
		return err
	}

	rep := h.reporter(ctx)
	totals := make([]int64, len(kinds))
	for i, k := range kinds {
		if totals[i], err = src.Count(ctx, k, projectID); err != nil {
			return err
		}
		rep.add(k, totals[i])
	}
	rep.publish(true)

	lock := func(alias string) sync.Locker { return h.Clients.lock(tn.ElasticsearchNode, alias) }
	ix := &Indexer{ES: es, Source: src, Prefix: prefix, Replicas: replicas, Config: cfg, Log: log, lock: lock,
		OnIndexed: rep.indexed}
	res := Result{Results: map[Kind]int64{}, ProjectID: projectID}
	var failures []error
	permanent := true
	for i, k := range kinds {
		rep.start(k)
		var er EntityResult
		if projectID > 0 {
			er, err = ix.Project(ctx, k, projectID, totals[i])
		} else {
			er, err = ix.Rebuild(ctx, k, totals[i])
		}
		res.Entities = append(res.Entities, er)
		if err == nil {
			res.Results[k] = er.Indexed
			res.TotalDocuments += er.Indexed
			rep.done(k, er.Indexed)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures = append(failures, err)
		res.Errors = append(res.Errors, err.Error())
		if denied(err) {
			break // the other entities would meet the same refusal
		}
		if !refused(err) {
			// Elasticsearch or PostgreSQL did not answer: no use going on.
			permanent = false
			if unreachable(err) {
				h.Clients.markFailing(tn.ElasticsearchNode)
			}
			break
		}
	}
	res.Success = len(failures) == 0
	h.writeResult(ctx, res)
	if len(failures) > 0 {
		err := errors.Join(failures...)
		log.Warn("reindex failed", "entity", p.EffectiveEntityType(), "project", projectID, "error", err.Error())
		if permanent {
			return worker.Permanent(err)
		}
		return err
	}
	log.Info("reindex completed", "entity", p.EffectiveEntityType(), "project", projectID,
		"documents", res.TotalDocuments, "node", Redact(tn.ElasticsearchNode))
	return nil
}

// refused reports whether err is Elasticsearch refusing the work itself
// (a document, the credentials, a request) or a bad name: another attempt
// would meet the same refusal.
func refused(err error) bool {
	var be *BulkError
	var ee *ESError
	var re *refusedError
	switch {
	case errors.As(err, &be):
		return !be.Retriable()
	case errors.As(err, &re):
		return true
	case errors.As(err, &ee):
		return ee.Status >= 400 && ee.Status < 500 && ee.Status != 408 && ee.Status != 429
	}
	return false
}

// denied reports whether Elasticsearch refused the credentials (401) or
// the rights (403).
func denied(err error) bool {
	var ee *ESError
	return errors.As(err, &ee) && (ee.Status == 401 || ee.Status == 403)
}

// unreachable reports whether err is a request without an answer.
func unreachable(err error) bool {
	var te *TransportError
	var be *BulkError
	var ee *ESError
	return errors.As(err, &te) || errors.As(err, &be) && be.Retriable() || errors.As(err, &ee) && ee.Status >= 500
}

func (h *Handler) writeResult(ctx context.Context, r Result) {
	w := h.writer(ctx)
	if w == nil {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	_, _ = w.Write(b) // a lost result is not worth a retry
}

func (h *Handler) writer(ctx context.Context) io.Writer {
	if h.results != nil {
		return h.results(ctx)
	}
	return worker.ResultWriterFrom(ctx)
}

// reporter publishes [Progress] documents, at most one per interval except
// at the start and at each entity's end. It is safe for concurrent use (the
// bulk indexer reports from its workers).
type reporter struct {
	w        io.Writer
	clock    worker.Clock
	interval time.Duration

	mu    sync.Mutex
	doc   Progress
	at    map[Kind]int
	last  time.Time
	wrote bool
}

func (h *Handler) reporter(ctx context.Context) *reporter {
	clock := h.Clock
	if clock == nil {
		clock = worker.SystemClock{}
	}
	interval := h.ProgressInterval
	if interval <= 0 {
		interval = time.Second
	}
	return &reporter{w: h.writer(ctx), clock: clock, interval: interval, at: map[Kind]int{},
		doc: Progress{Phase: "counting"}}
}

func (r *reporter) add(k Kind, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at[k] = len(r.doc.Entities)
	r.doc.Entities = append(r.doc.Entities, EntityProgress{Entity: k, Total: total})
}

func (r *reporter) start(k Kind) {
	r.mu.Lock()
	r.doc.Phase, r.doc.Entity = "indexing", k
	r.mu.Unlock()
	r.publish(true)
}

func (r *reporter) indexed(k Kind, n int64) {
	r.mu.Lock()
	if i, ok := r.at[k]; ok {
		r.doc.Entities[i].Indexed = n
	}
	r.mu.Unlock()
	r.publish(false)
}

func (r *reporter) done(k Kind, n int64) {
	r.mu.Lock()
	if i, ok := r.at[k]; ok {
		r.doc.Entities[i].Indexed, r.doc.Entities[i].Done = n, true
	}
	r.mu.Unlock()
	r.publish(true)
}

// publish writes the document unless the last one is younger than the
// interval (force writes anyway).
func (r *reporter) publish(force bool) {
	if r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if !force && r.wrote && now.Sub(r.last) < r.interval {
		return
	}
	var sum, total int64
	all := true
	for i := range r.doc.Entities {
		e := &r.doc.Entities[i]
		e.Percentage = percent(e.Indexed, e.Total, e.Done)
		sum += min(e.Indexed, e.Total)
		total += e.Total
		all = all && e.Done
		if e.Entity == r.doc.Entity {
			r.doc.Indexed, r.doc.Total = e.Indexed, e.Total
		}
	}
	r.doc.Percentage = percent(sum, total, all && len(r.doc.Entities) > 0)
	if all && len(r.doc.Entities) > 0 {
		r.doc.Phase = "done"
	}
	r.doc.UpdatedAt = now.UTC()
	b, err := json.Marshal(r.doc)
	if err != nil {
		return
	}
	if _, err := r.w.Write(b); err != nil {
		return
	}
	r.last, r.wrote = now, true
}

// percent is n of total in whole percent: 100 only when done, at most 99
// before.
func percent(n, total int64, done bool) int {
	switch {
	case done:
		return 100
	case total <= 0:
		return 0
	}
	return min(int(math.Floor(float64(min(n, total))*100/float64(total))), 99)
}
