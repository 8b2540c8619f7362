package reindex

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Kind is one document kind (index): "repositoryCases", "sharedSteps",
// "testRuns", "sessions", "projects", "issues", "milestones" (the task's
// entityType values, task.EntityRepositoryCases ...).
type Kind string

// The document kinds.
const (
	KindProjects        Kind = "projects"
	KindRepositoryCases Kind = "repositoryCases"
	KindSharedSteps     Kind = "sharedSteps"
	KindTestRuns        Kind = "testRuns"
	KindSessions        Kind = "sessions"
	KindIssues          Kind = "issues"
	KindMilestones      Kind = "milestones"
)

// Kinds returns the seven kinds in the order the original reindexes them
// (projects first, then per project cases, shared steps, runs, sessions,
// issues, milestones). The slice is new on each call.
func Kinds() []Kind {
	return []Kind{KindProjects, KindRepositoryCases, KindSharedSteps, KindTestRuns,
		KindSessions, KindIssues, KindMilestones}
}

// ErrUnknownKind is returned, wrapped, for a Kind that is not one of
// [Kinds].
var ErrUnknownKind = errors.New("reindex: unknown document kind")

// IndexSuffix returns the original's index name part (reference 5.1): the
// index is "testplanit-<suffix>", or "testplanit-<tenant>-<suffix>".
// It returns "" for an unknown kind.
func (k Kind) IndexSuffix() string {
	switch k {
	case KindRepositoryCases:
		return "repository-cases"
	case KindSharedSteps:
		return "shared-steps"
	case KindTestRuns:
		return "test-runs"
	case KindSessions:
		return "sessions"
	case KindProjects:
		return "projects"
	case KindIssues:
		return "issues"
	case KindMilestones:
		return "milestones"
	default:
		return ""
	}
}

// Valid reports whether k is one of [Kinds].
func (k Kind) Valid() bool { return k.IndexSuffix() != "" }

// Doc is one search document.
type Doc struct {
	// ID is the document's _id: the row's id in decimal.
	ID string
	// ProjectID is the document's "projectId" (for a project, its own id).
	ProjectID int
	// Body is the JSON document, new for each Doc (the caller may keep it).
	Body []byte
}

// Querier is what a [Source] needs of PostgreSQL. *pgxpool.Pool satisfies
// it, as does *pgx.Conn. The pool should be one of internal/postgres's
// (timestamps read as UTC).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// DefaultBatchSize is the number of rows per keyset page when NewSource is
// given 0 or less.
const DefaultBatchSize = 1000

// idPageFactor: [Source.IDs] reads ids in pages this many batches long.
const idPageFactor = 20

// Source builds the search documents of one tenant's database.
type Source struct {
	db        Querier
	batchSize int
}

// NewSource returns a Source reading db in keyset pages of batchSize rows
// ([DefaultBatchSize] when batchSize <= 0).
func NewSource(db Querier, batchSize int) *Source {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	return &Source{db: db, batchSize: batchSize}
}

// Docs streams every document of kind k (only project projectID's when
// projectID > 0) in id order, in keyset-paged batches, calling emit per
// document; it stops at emit's first error and returns it as is. Which rows
// make documents is the original's choice (see the package documentation):
// rows of deleted projects make none, except in the projects index.
//
// Each batch is read in one read-only REPEATABLE READ transaction, so a
// document is consistent with itself, with a fixed number of queries whatever
// the batch holds. The next batch is read while this one's documents are
// built and emitted: emit runs on the caller's goroutine, never inside a
// transaction, and at most three batches are in memory.
func (s *Source) Docs(ctx context.Context, k Kind, projectID int, emit func(Doc) error) error {
	load, err := s.loader(k, projectID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type read struct {
		b   batch
		err error
	}
	next := make(chan read, 1)
	go func() {
		defer close(next)
		after := 0
		for {
			var b batch
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				var err error
				b, err = load(ctx, tx, after)
				return err
			})
			if err != nil {
				err = fmt.Errorf("reindex: reading %s after id %d: %w", k, after, err)
			}
			select {
			case next <- read{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || b.rows < s.batchSize {
				return
			}
			after = b.last
		}
	}()
	// stop ends the reader and waits for it.
	stop := func() {
		cancel()
		for range next {
		}
	}
	for r := range next {
		if r.err != nil {
			stop()
			return r.err
		}
		if r.b.build == nil {
			continue // an empty page
		}
		for _, d := range r.b.build() {
			if err := emit(d); err != nil {
				stop()
				return err
			}
		}
	}
	return ctx.Err()
}

// batch is one keyset page, read and not yet built.
type batch struct {
	// rows is the number of rows the page query returned, last the id of
	// the last one.
	rows, last int
	// build makes the page's documents. It runs after the page's
	// transaction, possibly while the next page is read, so it must not
	// touch anything the reader changes.
	build func() []Doc
}

// built returns a batch whose documents are made already.
func built(docs []Doc, rows, last int) batch {
	return batch{rows: rows, last: last, build: func() []Doc { return docs }}
}

// batchLoader reads the page of rows after id after.
type batchLoader func(ctx context.Context, tx pgx.Tx, after int) (batch, error)

func (s *Source) loader(k Kind, projectID int) (batchLoader, error) {
	if projectID < 0 {
		return nil, fmt.Errorf("reindex: project id %d: must be positive, or 0 for all", projectID)
	}
	q := newScope(projectID, s.batchSize)
	switch k {
	case KindRepositoryCases:
		return newCaseLoader(q).load, nil
	case KindSharedSteps:
		return q.sharedStepBatch, nil
	case KindTestRuns:
		return q.testRunBatch, nil
	case KindSessions:
		return q.sessionBatch, nil
	case KindProjects:
		return q.projectBatch, nil
	case KindIssues:
		return q.issueBatch, nil
	case KindMilestones:
		return q.milestoneBatch, nil
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, string(k))
	}
}

func (s *Source) inTx(ctx context.Context, f func(pgx.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}

// IDs streams, in id order, the ids of the documents that [Source.Docs]
// would produce for the same kind and project (for a project reindex's
// stale-document removal). It stops at emit's first error and returns it as
// is. Ids are read in keyset pages; emit runs between pages, never while a
// query is open.
func (s *Source) IDs(ctx context.Context, k Kind, projectID int, emit func(id string) error) error {
	sel, err := selectionOf(k, projectID)
	if err != nil {
		return err
	}
	sql := "SELECT " + sel.alias + ".id " + sel.from + " AND " + sel.alias + ".id > $2 ORDER BY 1 LIMIT $3"
	page := s.batchSize * idPageFactor
	after := 0
	for {
		rows, err := s.db.Query(ctx, sql, projectID, after, page)
		if err != nil {
			return fmt.Errorf("reindex: reading %s ids: %w", k, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("reindex: reading %s ids: %w", k, err)
		}
		for _, id := range ids {
			if err := emit(itoa(id)); err != nil {
				return err
			}
		}
		if len(ids) < page {
			return nil
		}
		after = int(ids[len(ids)-1])
	}
}

// Count returns the number of documents [Source.Docs] would produce for the
// same kind and project.
func (s *Source) Count(ctx context.Context, k Kind, projectID int) (int64, error) {
	sel, err := selectionOf(k, projectID)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRow(ctx, "SELECT count(*) "+sel.from, projectID).Scan(&n); err != nil {
		return 0, fmt.Errorf("reindex: counting %s: %w", k, err)
	}
	return n, nil
}

// itoa formats a row id.
func itoa(id int32) string { return strconv.FormatInt(int64(id), 10) }
