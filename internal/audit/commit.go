package audit

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// The group commit. A handler appends its row to its pool's group and waits;
// the group's writer goroutine, started by the first row and gone once no row
// is waiting, writes everything pending (up to MaxBatch rows) with one
// statement and answers every handler of that statement with its result. An
// idle worker thus writes each row at once, and the rows of the tasks that
// arrive while a statement runs share the next one.

// request is one handler's row waiting for its statement.
type request struct {
	ctx  context.Context
	row  row
	done chan error // buffered: the writer never blocks on a handler gone
}

// group is the pending requests of one pool.
type group struct {
	st      store
	pending []*request
}

// commit writes r to db through its pool's group and returns the result of
// the statement that wrote it, or ctx's error if ctx ends first (the row may
// still be written; the retry finds it).
func (h *Handler) commit(ctx context.Context, db *pgxpool.Pool, r row) error {
	req := &request{ctx: ctx, row: r, done: make(chan error, 1)}
	h.mu.Lock()
	g, running := h.groups[db]
	if !running {
		var st store = pgStore{db: db}
		if h.wrap != nil {
			st = h.wrap(st)
		}
		g = &group{st: st}
		if h.groups == nil {
			h.groups = map[*pgxpool.Pool]*group{}
		}
		h.groups[db] = g
	}
	g.pending = append(g.pending, req)
	h.mu.Unlock()
	if !running {
		go h.write(db, g)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is db's writer: it writes the pending rows batch after batch and
// returns, leaving the map, when none is left.
func (h *Handler) write(db *pgxpool.Pool, g *group) {
	for {
		h.mu.Lock()
		batch := h.take(g)
		if len(batch) == 0 {
			delete(h.groups, db)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		flush(g.st, batch)
	}
}

// take removes up to MaxBatch pending requests from g and returns those
// whose handler still waits. h.mu is held.
func (h *Handler) take(g *group) []*request {
	limit := h.MaxBatch
	if limit <= 0 {
		limit = DefaultMaxBatch
	}
	for len(g.pending) > 0 {
		n := min(len(g.pending), limit)
		var batch []*request
		for _, req := range g.pending[:n] {
			if err := req.ctx.Err(); err != nil {
				req.done <- err // its handler has returned
				continue
			}
			batch = append(batch, req)
		}
		g.pending = append(g.pending[:0:0], g.pending[n:]...)
		if len(batch) > 0 {
			return batch
		}
	}
	return nil
}

// flush writes the rows of batch with one statement and answers each
// request. If PostgreSQL refuses the statement, the rows are written one by
// one, so that a row it refuses fails its own task only (permanently when
// the data itself is refused). The statements run while at least one of the
// batch's handlers waits for them.
func flush(st store, batch []*request) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	rows := make([]row, len(batch))
	for i, req := range batch {
		rows[i] = req.row
		stop := context.AfterFunc(req.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	_, err := st.InsertAuditLogs(ctx, rows)
	if err != nil && len(rows) > 1 && refused(err) {
		for i, req := range batch {
			_, err := st.InsertAuditLogs(ctx, rows[i:i+1])
			req.done <- classify(err)
		}
		return
	}
	err = classify(err)
	for _, req := range batch {
		req.done <- err
	}
}

// classify makes an error about the data itself permanent: retrying the
// same row would fail the same way. Other errors are transient.
func classify(err error) error {
	if err != nil && invalidData(err) {
		return worker.Permanent(err)
	}
	return err
}
