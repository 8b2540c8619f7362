package testmoimport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// phase is one step of the import, in the original's order (phases.go). A data phase reads
// its dataset from staging in chunks of rowIndex order; each chunk is one transaction that
// writes the chunk's rows, their "TestmoImportMapping" id-map rows and the phase's checkpoint,
// so a chunk is imported exactly once whatever crashes or redeliveries happen. A phase
// without a dataset runs fix once, in one transaction with its checkpoint.
type phase struct {
	name    string // checkpoint and entityProgress key ("repositoryCases")
	label   string // for status messages ("Repository Cases")
	dataset string // staged dataset, "" for a fix-up phase
	chunk   int    // rows per transaction; 0 means defaultChunk
	rows    func(ctx context.Context, c *chunk) error
	fix     func(ctx context.Context, c *chunk) error
}

const defaultChunk = 1000

// staged is one staged row.
type staged struct {
	index      int64
	data       []byte
	fieldName  *string
	fieldValue *string
	text       [4]*string
}

// counts is what a chunk or phase did.
type counts struct{ created, mapped, skipped int64 }

func (c *counts) add(o counts) {
	c.created += o.created
	c.mapped += o.mapped
	c.skipped += o.skipped
}

func (c counts) total() int64 { return c.created + c.mapped + c.skipped }

// chunk is the transaction of one chunk of a phase: the rows to import, and the id-map rows
// and counts they produce.
type chunk struct {
	im      *importer
	tx      pgx.Tx
	phase   *phase
	rows    []staged
	counts  counts
	maps    [][]any
	current int64 // rowIndex of the row being imported, for errors
}

// rowError names the dataset and row a problem was found in; it is permanent.
type rowError struct {
	dataset string
	row     int64
	err     error
}

func (e *rowError) Error() string {
	return fmt.Sprintf("testmo import: dataset %q row %d: %v", e.dataset, e.row, e.err)
}

func (e *rowError) Unwrap() error { return e.err }

// fail returns a *rowError for the row being imported.
func (c *chunk) fail(format string, args ...any) error {
	return &rowError{dataset: c.phase.dataset, row: c.current, err: fmt.Errorf(format, args...)}
}

// importer runs the import of one job.
type importer struct {
	h    *Handler
	db   *pgxpool.Pool
	js   jobs
	job  *Job
	cfg  mappingConfig
	prog *progress
	def  defaults

	// cache holds the id maps of the small entities (configuration entities, users,
	// projects): loaded whole on first use, kept in memory.
	cache map[string]map[int64]string
	// custom holds the case fields by Testmo system name, once loaded.
	custom map[string]customField
}

// cached reports whether entity's id map is small enough to keep in memory once its phase is
// done: the configuration entities, users, projects and repositories.
func cached(entity string) bool {
	switch entity {
	case "states", "statuses", "users", "tags", "roles", "milestone_types", "configs", "templates",
		"issue_targets", "projects", "repositories", "fields", "field_values":
		return true
	}
	return false
}

// checkpoint is a phase's row in worker.testmo_import_checkpoint.
type checkpoint struct {
	lastRow int64
	done    bool
	counts  counts
}

func (im *importer) checkpoints(ctx context.Context) (map[string]checkpoint, error) {
	rows, err := im.db.Query(ctx, `SELECT phase, last_row, done, created, mapped, skipped
		FROM worker.testmo_import_checkpoint WHERE job_id = $1`, im.job.ID)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string]checkpoint{}
	for rows.Next() {
		var name string
		var cp checkpoint
		if err := rows.Scan(&name, &cp.lastRow, &cp.done, &cp.counts.created, &cp.counts.mapped, &cp.counts.skipped); err != nil {
			return nil, err
		}
		out[name] = cp
	}
	return out, rows.Err()
}

// run runs one phase from its checkpoint to its end.
func (im *importer) run(ctx context.Context, ph *phase, cp checkpoint) error {
	if cp.done {
		return nil
	}
	im.prog.begin(ctx, ph, cp.counts)
	size := ph.chunk
	if size <= 0 {
		size = defaultChunk
	}
	for {
		if c, err := im.js.cancelRequested(ctx, im.job.ID); err != nil {
			return err
		} else if c {
			return errCanceled
		}
		n, err := im.step(ctx, ph, &cp, size)
		if err != nil {
			return err
		}
		im.prog.chunk(ctx, ph, cp.counts, n)
		if im.h.afterChunk != nil {
			if err := im.h.afterChunk(ctx, ph.name); err != nil {
				return err
			}
		}
		if cp.done {
			break
		}
	}
	im.prog.end(ctx, ph, cp.counts)
	if cp.counts.total() >= analyzeAfter {
		// The id map just grew: without fresh statistics the planner looks up ids by
		// (jobId, entityType) alone and filters every row of the entity.
		if _, err := im.db.Exec(ctx, `ANALYZE "TestmoImportMapping"`); err != nil {
			return fmt.Errorf("analyze the id map: %w", err)
		}
	}
	return nil
}

// analyzeAfter is the number of rows a phase imports before the id map's statistics are
// refreshed.
const analyzeAfter = 1000

// step imports one chunk in one transaction, checkpoint included.
func (im *importer) step(ctx context.Context, ph *phase, cp *checkpoint, size int) (int64, error) {
	tx, err := im.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin %s chunk: %w", ph.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	c := &chunk{im: im, tx: tx, phase: ph, current: -1}
	if ph.dataset == "" {
		if err := ph.fix(ctx, c); err != nil {
			return 0, err
		}
		cp.done = true
	} else {
		if c.rows, err = im.readStaged(ctx, tx, ph.dataset, cp.lastRow, size); err != nil {
			return 0, err
		}
		if len(c.rows) > 0 {
			if err := ph.rows(ctx, c); err != nil {
				return 0, err
			}
			cp.lastRow = c.rows[len(c.rows)-1].index
		}
		cp.done = len(c.rows) < size
	}
	if err := c.flushMaps(ctx); err != nil {
		return 0, err
	}
	cp.counts.add(c.counts)
	if _, err := tx.Exec(ctx, `INSERT INTO worker.testmo_import_checkpoint
		(job_id, phase, last_row, done, created, mapped, skipped, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (job_id, phase) DO UPDATE SET last_row = EXCLUDED.last_row, done = EXCLUDED.done,
		created = EXCLUDED.created, mapped = EXCLUDED.mapped, skipped = EXCLUDED.skipped,
		updated_at = EXCLUDED.updated_at`,
		im.job.ID, ph.name, cp.lastRow, cp.done, cp.counts.created, cp.counts.mapped, cp.counts.skipped, im.h.now()); err != nil {
		return 0, fmt.Errorf("save %s checkpoint: %w", ph.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit %s chunk: %w", ph.name, err)
	}
	if cached(ph.dataset) {
		delete(im.cache, ph.dataset) // reload with this chunk's rows on next use
	}
	return int64(len(c.rows)), nil
}

func (im *importer) readStaged(ctx context.Context, tx pgx.Tx, dataset string, after int64, limit int) ([]staged, error) {
	rows, err := tx.Query(ctx, `SELECT "rowIndex", "rowData"::text, "fieldName", "fieldValue", text1, text2, text3, text4
		FROM "TestmoImportStaging" WHERE "jobId" = $1 AND "datasetName" = $2 AND "rowIndex" > $3
		ORDER BY "rowIndex" LIMIT $4`, im.job.ID, dataset, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read staged %s: %w", dataset, err)
	}
	defer rows.Close()
	var out []staged
	for rows.Next() {
		var s staged
		var data string
		if err := rows.Scan(&s.index, &data, &s.fieldName, &s.fieldValue, &s.text[0], &s.text[1], &s.text[2], &s.text[3]); err != nil {
			return nil, fmt.Errorf("read staged %s: %w", dataset, err)
		}
		s.data = []byte(data)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read staged %s: %w", dataset, err)
	}
	return out, nil
}

// each decodes every row of the chunk into a T and calls fn with it; a row that does not
// decode fails the import naming its dataset and row.
func each[T any](c *chunk, fn func(r *T) error) error {
	for i := range c.rows {
		c.current = c.rows[i].index
		var r T
		if err := jsonUnmarshal(c.rows[i].data, &r); err != nil {
			return c.fail("%v", err)
		}
		if err := fn(&r); err != nil {
			var re *rowError
			if errors.As(err, &re) {
				return err
			}
			return c.fail("%w", err)
		}
	}
	c.current = -1
	return nil
}

// mapID records that source id of entity became target (a row of targetType), in the
// chunk's transaction.
func (c *chunk) mapID(entity string, source ID, target any, targetType string, created bool) error {
	if !source.Valid {
		return c.fail("%s row has no id", entity)
	}
	if source.N < math.MinInt32 || source.N > math.MaxInt32 {
		return c.fail("%s id %d is out of range", entity, source.N)
	}
	tid := fmt.Sprint(target)
	c.maps = append(c.maps, []any{c.im.job.ID + ":" + entity + ":" + strconv.FormatInt(source.N, 10),
		c.im.job.ID, entity, int32(source.N), tid, targetType, c.im.h.now()})
	if created {
		c.counts.created++
	} else {
		c.counts.mapped++
	}
	return nil
}

func (c *chunk) flushMaps(ctx context.Context) error {
	if len(c.maps) == 0 {
		return nil
	}
	_, err := c.tx.CopyFrom(ctx, pgx.Identifier{"TestmoImportMapping"},
		[]string{"id", "jobId", "entityType", "sourceId", "targetId", "targetType", "createdAt"}, pgx.CopyFromRows(c.maps))
	if err != nil {
		return fmt.Errorf("testmo import: %s: save id map: %w", c.phase.label, err)
	}
	c.maps = c.maps[:0]
	return nil
}

// lookup returns the targets of source ids of entity; ids never imported are absent.
func (c *chunk) lookup(ctx context.Context, entity string, ids []int64) (map[int64]string, error) {
	if cached(entity) {
		m, err := c.im.cachedMap(ctx, c.tx, entity)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ids32 := make([]int32, 0, len(ids))
	for _, id := range ids {
		if id >= math.MinInt32 && id <= math.MaxInt32 {
			ids32 = append(ids32, int32(id))
		}
	}
	rows, err := c.tx.Query(ctx, `SELECT "sourceId", "targetId" FROM "TestmoImportMapping"
		WHERE "jobId" = $1 AND "entityType" = $2 AND "sourceId" = ANY($3)`, c.im.job.ID, entity, ids32)
	if err != nil {
		return nil, fmt.Errorf("look up %s ids: %w", entity, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s int32
		var t *string
		if err := rows.Scan(&s, &t); err != nil {
			return nil, err
		}
		if t != nil {
			out[int64(s)] = *t
		}
	}
	return out, rows.Err()
}

func (im *importer) cachedMap(ctx context.Context, q pgx.Tx, entity string) (map[int64]string, error) {
	if m, ok := im.cache[entity]; ok {
		return m, nil
	}
	rows, err := q.Query(ctx, `SELECT "sourceId", "targetId" FROM "TestmoImportMapping"
		WHERE "jobId" = $1 AND "entityType" = $2`, im.job.ID, entity)
	if err != nil {
		return nil, fmt.Errorf("load %s ids: %w", entity, err)
	}
	defer rows.Close()
	m := map[int64]string{}
	for rows.Next() {
		var s int32
		var t *string
		if err := rows.Scan(&s, &t); err != nil {
			return nil, err
		}
		if t != nil {
			m[int64(s)] = *t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	im.cache[entity] = m
	return m, nil
}

// refs collects the source ids a chunk refers to, per entity, and resolves them in one query
// per entity.
type refs struct {
	ids      map[string][]int64
	resolved map[string]map[int64]string
}

func (r *refs) want(entity string, id ID) {
	if !id.Valid {
		return
	}
	if r.ids == nil {
		r.ids = map[string][]int64{}
	}
	r.ids[entity] = append(r.ids[entity], id.N)
}

func (r *refs) resolve(ctx context.Context, c *chunk) error {
	r.resolved = map[string]map[int64]string{}
	for entity, ids := range r.ids {
		m, err := c.lookup(ctx, entity, ids)
		if err != nil {
			return err
		}
		r.resolved[entity] = m
	}
	return nil
}

// get returns the target of a resolved reference; ok is false when the id is null or was
// never imported.
func (r *refs) get(entity string, id ID) (string, bool) {
	if !id.Valid {
		return "", false
	}
	t, ok := r.resolved[entity][id.N]
	return t, ok
}

// getInt is get for integer targets.
func (r *refs) getInt(entity string, id ID) (int32, bool) {
	t, ok := r.get(entity, id)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 32)
	return int32(n), err == nil
}

// must is getInt for a required parent: a missing one fails the row.
func (r *refs) must(c *chunk, entity string, id ID, column string) (int32, error) {
	if !id.Valid {
		return 0, c.fail("%s is missing", column)
	}
	n, ok := r.getInt(entity, id)
	if !ok {
		return 0, c.fail("%s %d refers to a %s row that is not in the export", column, id.N, entity)
	}
	return n, nil
}

// user returns the imported user of a Testmo user id, or the job's creator (the original's
// fallback for rows whose author is unknown).
func (r *refs) user(c *chunk, id ID) string {
	if t, ok := r.get("users", id); ok {
		return t
	}
	return c.im.job.CreatedByID
}

// nextIDs reserves n ids of a serial table, in the chunk's transaction.
func (c *chunk) nextIDs(ctx context.Context, table string, n int) ([]int32, error) {
	if n == 0 {
		return nil, nil
	}
	rows, err := c.tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence($1, 'id'))::int FROM generate_series(1, $2)`,
		pgx.Identifier{table}.Sanitize(), n)
	if err != nil {
		return nil, fmt.Errorf("reserve %s ids: %w", table, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("reserve %s ids: %w", table, err)
	}
	return ids, nil
}

// copyRows writes rows into table with COPY.
func (c *chunk) copyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := c.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("testmo import: %s: write %d rows into %s: %w", c.phase.label, len(rows), table, err)
	}
	return nil
}

// now is the import's clock, UTC.
func (c *chunk) now() time.Time { return c.im.h.now() }
