package forecast

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/worker"
)

// DefaultBatchSize is the number of cases (or runs) written per transaction
// when [Forecaster.BatchSize] is zero.
const DefaultBatchSize = 10000

// Progress phases published by [Forecaster.All] and [Forecaster.Case].
const (
	PhaseGroups  = "groups"
	PhaseSamples = "samples"
	PhaseCases   = "cases"
	PhaseRuns    = "runs"
	PhaseDone    = "done"
)

// ErrCaseNotFound is wrapped by [Forecaster.Case] when the repository case
// does not exist.
var ErrCaseNotFound = errors.New("repository case not found")

// Forecaster computes case and run forecasts with set-based SQL on a
// PostgreSQL pool holding TestPlanIt's schema: it is the forecasts' store
// and engine in one, its statements tied to the algorithm's temporary
// tables. Build one per task, on the task's tenant.
type Forecaster struct {
	// DB is the tenant's TestPlanIt database. Required.
	DB *pgxpool.Pool
	// BatchSize is how many cases or runs one write transaction covers;
	// 0 means DefaultBatchSize.
	BatchSize int
	// Writers is how many connections write the changed cases in
	// parallel, each taking the next batch: the computation's own
	// connection and up to Writers-1 more, opened (outside the pool, with
	// its configuration) only when more than one batch changed, and
	// closed after the case writes. 0 means DefaultWriters; 1 writes on
	// the computation's connection alone. If an extra connection cannot be
	// opened, the others write its share.
	Writers int
	// Progress, if set, receives phase, processed and total; a task's
	// [worker.Progress] publishes them at most once a second.
	Progress *worker.Progress
}

// DefaultWriters is the number of connections that write case forecasts
// when [Forecaster.Writers] is zero. A case write is CPU-bound in
// PostgreSQL (a new row version and an entry in each of the table's 8
// indexes), so a second backend shortens a night where most cases change
// (the first run, a bulk import) by about a third on 2 cores; a night
// where few change writes one batch on one connection.
const DefaultWriters = 2

// Stats says what one computation did.
type Stats struct {
	// Cases is the number of cases whose forecast was computed, and
	// CasesUpdated how many of them changed.
	Cases, CasesUpdated int64
	// Groups is the number of link groups with two or more cases.
	Groups int64
	// Runs is the number of runs whose forecast was computed, and
	// RunsUpdated how many of them changed.
	Runs, RunsUpdated int64
	// Elapsed is the wall time of the computation; Scope (link groups and
	// run selection), Samples (group means), CaseWrites (reading the
	// changed cases and writing them) and RunWrites its parts.
	Elapsed, Scope, Samples, CaseWrites, RunWrites time.Duration
}

// automatedSources are the case sources whose samples are JUnit times
// (testplanit/utils/testResultTypes.ts); API counts as neither kind.
const automatedSources = `('JUNIT','TESTNG','XUNIT','NUNIT','MSTEST','MOCHA','CUCUMBER')`

// workMem is the session's work_mem during a computation, so that the
// aggregates of a large data set stay in memory; reset afterwards.
const workMem = "64MB"

// Temporary tables of one computation, on one session.
var tempTables = []string{"forecast_label", "forecast_member", "forecast_group", "forecast_run"}

// All recomputes every non-deleted case's forecast, by link group, then the
// forecast of every open (not completed, not deleted) run: the nightly job.
func (f *Forecaster) All(ctx context.Context) (Stats, error) {
	return f.compute(ctx, func(ctx context.Context, s *session, st *Stats) (bool, error) {
		if err := s.allMembers(ctx, st); err != nil {
			return false, err
		}
		return true, s.exec(ctx, "open runs", `INSERT INTO forecast_run (id)
			SELECT id FROM "TestRuns" WHERE NOT "isCompleted" AND NOT "isDeleted"`)
	})
}

// Case recomputes the forecast of the link group of one case, then of every
// non-deleted run that contains a case of the group (completed runs too, as
// the original does). A case that does not exist gives an error wrapping
// [ErrCaseNotFound]; a deleted case is a no-op.
func (f *Forecaster) Case(ctx context.Context, caseID int) (Stats, error) {
	return f.compute(ctx, func(ctx context.Context, s *session, st *Stats) (bool, error) {
		var deleted bool
		err := s.conn.QueryRow(ctx, `SELECT "isDeleted" FROM "RepositoryCases" WHERE id = $1`, caseID).Scan(&deleted)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("%w: id %d", ErrCaseNotFound, caseID)
		}
		if err != nil {
			return false, fmt.Errorf("forecast: reading case %d: %w", caseID, err)
		}
		if deleted {
			return false, nil
		}
		if err := s.exec(ctx, "case group", `CREATE TEMP TABLE forecast_member AS
			WITH RECURSIVE comp(id) AS (
				SELECT $1::int
				UNION
				SELECT CASE WHEN l."caseAId" = comp.id THEN l."caseBId" ELSE l."caseAId" END
				FROM comp
				JOIN "RepositoryCaseLink" l ON (l."caseAId" = comp.id OR l."caseBId" = comp.id)
				JOIN "RepositoryCases" o ON o.id = CASE WHEN l."caseAId" = comp.id THEN l."caseBId" ELSE l."caseAId" END
				WHERE l.type = 'SAME_TEST_DIFFERENT_SOURCE' AND NOT l."isDeleted" AND NOT o."isDeleted"
			)
			SELECT c.id, $1::int AS grp, c.source FROM comp JOIN "RepositoryCases" c ON c.id = comp.id`, caseID); err != nil {
			return false, err
		}
		if err := s.indexMembers(ctx); err != nil {
			return false, err
		}
		s.sampleFilter = `AND trc."repositoryCaseId" IN (SELECT id FROM forecast_member)`
		s.junitFilter = `AND j."repositoryCaseId" IN (SELECT id FROM forecast_member)`
		if n, err := s.count(ctx, `SELECT count(*) FROM forecast_member`); err != nil {
			return false, err
		} else if n > 1 {
			st.Groups = 1
		}
		return true, s.exec(ctx, "runs of the group", `INSERT INTO forecast_run (id)
			SELECT DISTINCT trc."testRunId"
			FROM "TestRunCases" trc
			JOIN forecast_member m ON m.id = trc."repositoryCaseId"
			JOIN "TestRuns" r ON r.id = trc."testRunId"
			WHERE NOT r."isDeleted"`)
	})
}

// compute runs the shared algorithm: scope fills forecast_member (id, grp,
// source) and forecast_run (id), or reports that there is nothing to do;
// then group forecasts, case writes and run writes are the same for the
// nightly job and a single case.
func (f *Forecaster) compute(ctx context.Context, scope func(context.Context, *session, *Stats) (bool, error)) (st Stats, err error) {
	if f.DB == nil {
		return st, errors.New("forecast: Forecaster.DB is nil")
	}
	start := time.Now()
	conn, err := f.DB.Acquire(ctx)
	if err != nil {
		return st, fmt.Errorf("forecast: acquiring a connection: %w", err)
	}
	s := &session{conn: conn.Conn(), batch: f.BatchSize, progress: f.Progress}
	if s.batch <= 0 {
		s.batch = DefaultBatchSize
	}
	defer func() {
		// Temporary tables live as long as the session: drop them, or
		// close the connection so that the pool never hands them out.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if dropErr := s.dropTemp(cctx); dropErr != nil {
			_ = conn.Conn().Close(cctx)
		}
		conn.Release()
	}()
	if err := s.dropTemp(ctx); err != nil {
		return st, err
	}
	if err := s.createTemp(ctx); err != nil {
		return st, err
	}
	mark := start
	lap := func() time.Duration {
		now := time.Now()
		d := now.Sub(mark)
		mark = now
		return d
	}
	if ok, err := scope(ctx, s, &st); err != nil || !ok {
		return st, err
	}
	st.Scope = lap()
	if err := s.groupForecasts(ctx); err != nil {
		return st, err
	}
	st.Samples = lap()
	if st.Cases, st.CasesUpdated, err = f.writeCases(ctx, s); err != nil {
		return st, err
	}
	st.CaseWrites = lap()
	if st.Runs, st.RunsUpdated, err = s.writeBatches(ctx, PhaseRuns, "forecast_run", updateRunsSQL); err != nil {
		return st, err
	}
	st.RunWrites = lap()
	st.Elapsed = time.Since(start)
	if s.progress != nil {
		_ = s.progress.Done(PhaseDone, st.Cases+st.Runs, st.Cases+st.Runs,
			fmt.Sprintf("%d of %d cases and %d of %d runs changed", st.CasesUpdated, st.Cases, st.RunsUpdated, st.Runs))
	}
	return st, nil
}

// session is one connection holding the computation's temporary tables.
type session struct {
	conn     *pgx.Conn
	batch    int
	progress *worker.Progress
	// sampleFilter and junitFilter restrict the sample scans to the
	// scope's cases; empty for the nightly job, which reads every sample.
	sampleFilter, junitFilter string
}

func (s *session) exec(ctx context.Context, what, sql string, args ...any) error {
	if _, err := s.conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("forecast: %s: %w", what, err)
	}
	return nil
}

func (s *session) count(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	if err := s.conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("forecast: %s: %w", sql, err)
	}
	return n, nil
}

func (s *session) report(phase string, processed, total int64) {
	if s.progress != nil {
		_, _ = s.progress.Update(phase, processed, total, "")
	}
}

func (s *session) dropTemp(ctx context.Context) error {
	for _, t := range tempTables {
		if err := s.exec(ctx, "dropping "+t, "DROP TABLE IF EXISTS pg_temp."+t); err != nil {
			return err
		}
	}
	return s.exec(ctx, "resetting the session", "RESET work_mem; RESET synchronous_commit")
}

func (s *session) createTemp(ctx context.Context) error {
	return s.exec(ctx, "creating temporary tables", `
		SET work_mem = '`+workMem+`';
		CREATE TEMP TABLE forecast_run (id int PRIMARY KEY)`)
}

// allMembers finds the link groups of every non-deleted case with a
// union-find over the links, read in one pass (a map entry per linked case), and
// copies the labels of the linked cases to forecast_label: no iteration, so
// the cost does not depend on how long the chains of links are.
func (s *session) allMembers(ctx context.Context, st *Stats) error {
	s.report(PhaseGroups, 0, 0)
	// A link's cases exist (foreign keys), so "both cases not deleted" is
	// "neither case among the deleted ones": one pass over the cases for
	// both ends, where two joins read "RepositoryCases" twice.
	rows, err := s.conn.Query(ctx, `
		WITH deleted AS MATERIALIZED (SELECT id FROM "RepositoryCases" WHERE "isDeleted")
		SELECT l."caseAId", l."caseBId"
		FROM "RepositoryCaseLink" l
		WHERE l.type = 'SAME_TEST_DIFFERENT_SOURCE' AND NOT l."isDeleted" AND l."caseAId" <> l."caseBId"
		  AND NOT EXISTS (SELECT 1 FROM deleted d WHERE d.id = l."caseAId")
		  AND NOT EXISTS (SELECT 1 FROM deleted d WHERE d.id = l."caseBId")`)
	if err != nil {
		return fmt.Errorf("forecast: reading links: %w", err)
	}
	parent := map[int32]int32{}
	find := func(x int32) int32 {
		root := x
		for {
			p, ok := parent[root]
			if !ok || p == root {
				break
			}
			root = p
		}
		for x != root { // path compression
			next := parent[x]
			parent[x] = root
			x = next
		}
		return root
	}
	var a, b int32
	_, err = pgx.ForEachRow(rows, []any{&a, &b}, func() error {
		if _, ok := parent[a]; !ok {
			parent[a] = a
		}
		if _, ok := parent[b]; !ok {
			parent[b] = b
		}
		ra, rb := find(a), find(b)
		if ra < rb { // the smallest id labels the group
			parent[rb] = ra
		} else if rb < ra {
			parent[ra] = rb
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forecast: reading links: %w", err)
	}
	ids := make([]int32, 0, len(parent))
	for id := range parent {
		ids = append(ids, id)
		if find(id) == id {
			st.Groups++
		}
	}
	if err := s.exec(ctx, "labels", `CREATE TEMP TABLE forecast_label (id int PRIMARY KEY, grp int NOT NULL)`); err != nil {
		return err
	}
	next := 0
	rowsOut := pgx.CopyFromFunc(func() ([]any, error) {
		if next == len(ids) {
			return nil, nil
		}
		id := ids[next]
		next++
		return []any{id, find(id)}, nil
	})
	if _, err := s.conn.CopyFrom(ctx, pgx.Identifier{"forecast_label"}, []string{"id", "grp"}, rowsOut); err != nil {
		return fmt.Errorf("forecast: writing labels: %w", err)
	}
	if err := s.exec(ctx, "cases", `
		ANALYZE forecast_label;
		CREATE TEMP TABLE forecast_member AS
		SELECT c.id, coalesce(l.grp, c.id) AS grp, c.source
		FROM "RepositoryCases" c LEFT JOIN forecast_label l ON l.id = c.id
		WHERE NOT c."isDeleted"`); err != nil {
		return err
	}
	return s.indexMembers(ctx)
}

func (s *session) indexMembers(ctx context.Context) error {
	return s.exec(ctx, "indexing cases", `
		ALTER TABLE forecast_member ADD PRIMARY KEY (id);
		ANALYZE forecast_member`)
}

// groupForecasts fills forecast_group with each group's means: all samples
// of the group pooled, as the original pools them (a mean of samples, not of
// per-case means). Samples are first summed per case (for the nightly job a
// plain scan of the result tables that PostgreSQL runs in parallel), then per
// group. The manual mean is rounded half up to whole seconds (Math.round),
// the automated one to 3 decimals (toFixed(3)). The table is read once, by
// a hash join (changedCasesSQL), so it gets neither an index nor ANALYZE:
// both cost more than that read saves.
func (s *session) groupForecasts(ctx context.Context) error {
	s.report(PhaseSamples, 0, 0)
	return s.exec(ctx, "group forecasts", `
		CREATE TEMP TABLE forecast_group AS
		WITH manual AS (
			SELECT m.grp, sum(x.total)::numeric AS total, sum(x.n) AS n
			FROM (SELECT trc."repositoryCaseId" AS id, sum(r.elapsed) AS total, count(*) AS n
			      FROM "TestRunResults" r JOIN "TestRunCases" trc ON trc.id = r."testRunCaseId"
			      WHERE NOT r."isDeleted" AND r.elapsed > 0 `+s.sampleFilter+`
			      GROUP BY 1) x
			JOIN forecast_member m ON m.id = x.id
			WHERE m.source = 'MANUAL'
			GROUP BY m.grp
		), automated AS (
			SELECT m.grp, sum(x.total) AS total, sum(x.n) AS n
			FROM (SELECT j."repositoryCaseId" AS id, sum(j.time) AS total, count(*) AS n
			      FROM "JUnitTestResult" j
			      WHERE j.time > 0 `+s.junitFilter+`
			      GROUP BY 1) x
			JOIN forecast_member m ON m.id = x.id
			WHERE m.source IN `+automatedSources+`
			GROUP BY m.grp
		)
		SELECT grp,
		       round(manual.total / manual.n)::int AS manual,
		       round((automated.total / automated.n)::numeric, 3)::double precision AS automated
		FROM manual FULL JOIN automated USING (grp)`)
}

// changedCasesSQL reads, in id order, the cases whose stored forecast
// differs from their group's: the only ones written. Cases of groups without
// samples get NULLs. One read instead of a comparison per batch, so a night
// where nothing changed writes nothing and opens no transaction.
const changedCasesSQL = `
	SELECT m.id, g.manual, g.automated
	FROM forecast_member m
	JOIN "RepositoryCases" c ON c.id = m.id
	LEFT JOIN forecast_group g ON g.grp = m.grp
	WHERE c."forecastManual" IS DISTINCT FROM g.manual OR c."forecastAutomated" IS DISTINCT FROM g.automated
	ORDER BY m.id`

// updateCasesSQL writes one batch of changed cases, passed as three arrays
// in id order (so that the primary key is walked in order), each batch its
// own statement and transaction. It compares again, so a case that another
// computation made current since the read is not written again.
const updateCasesSQL = `
	UPDATE "RepositoryCases" c
	SET "forecastManual" = v.manual, "forecastAutomated" = v.automated
	FROM unnest($1::int[], $2::int[], $3::float8[]) AS v(id, manual, automated)
	WHERE c.id = v.id
	  AND (c."forecastManual" IS DISTINCT FROM v.manual OR c."forecastAutomated" IS DISTINCT FROM v.automated)`

// caseBatch is one transaction's worth of case writes.
type caseBatch struct {
	ids       []int32
	manual    []pgtype.Int4
	automated []pgtype.Float8
}

// writeCases reads the changed cases (changedCasesSQL), cuts them into
// batches of s.batch and writes the batches on up to f.Writers connections
// in parallel, each taking the next batch in id order. It returns the
// number of cases computed and of rows written.
//
// The writing connections run with synchronous_commit off: a batch's commit
// does not wait for its WAL flush. A server crash right after can undo the
// last batches' writes (whole transactions, at most about three
// wal_writer_delay of commits; never the database's consistency) although
// the job reported them; the job is idempotent and only writes what
// differs, so the next run writes them again.
func (f *Forecaster) writeCases(ctx context.Context, s *session) (total, changed int64, err error) {
	total, err = s.count(ctx, "SELECT count(*) FROM forecast_member")
	if err != nil {
		return 0, 0, err
	}
	s.report(PhaseCases, 0, total)
	batches, n, err := s.changedCases(ctx)
	if err != nil {
		return total, 0, err
	}
	done := total - n // unchanged cases need nothing more
	s.report(PhaseCases, done, total)
	if len(batches) == 0 {
		return total, 0, nil
	}
	conns := []*pgx.Conn{s.conn} // dropTemp resets its synchronous_commit
	defer func() {
		for _, c := range conns[1:] {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = c.Close(cctx)
			cancel()
		}
	}()
	writers := f.Writers
	if writers <= 0 {
		writers = DefaultWriters
	}
	for range min(writers, len(batches)) - 1 {
		// The pool's settings (session time zone included) but not its
		// AfterConnect: the case writes bind ids and numbers, no
		// timestamp, so they need none of its codecs.
		c, cerr := pgx.ConnectConfig(ctx, f.DB.Config().ConnConfig.Copy())
		if cerr != nil {
			break // the connections we have write its share
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := c.Exec(ctx, "SET synchronous_commit = off"); err != nil {
			return total, 0, fmt.Errorf("forecast: setting synchronous_commit: %w", err)
		}
	}

	type result struct {
		size, changed int64
		err           error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan caseBatch)
	results := make(chan result)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			for b := range next {
				tag, err := c.Exec(wctx, updateCasesSQL, b.ids, b.manual, b.automated)
				if err != nil {
					err = fmt.Errorf("forecast: writing cases with ids %d..%d: %w", b.ids[0], b.ids[len(b.ids)-1], err)
				}
				results <- result{size: int64(len(b.ids)), changed: tag.RowsAffected(), err: err}
			}
		})
	}
	go func() {
		defer close(next)
		for _, b := range batches {
			select {
			case next <- b:
			case <-wctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		if r.err != nil {
			if err == nil {
				err = r.err
			}
			cancel() // stop handing out batches; the writers drain
			continue
		}
		changed += r.changed
		done += r.size
		s.report(PhaseCases, done, total)
	}
	return total, changed, err
}

// changedCases reads changedCasesSQL into batches of s.batch cases and
// returns them with the number of cases they hold.
func (s *session) changedCases(ctx context.Context) ([]caseBatch, int64, error) {
	rows, err := s.conn.Query(ctx, changedCasesSQL)
	if err != nil {
		return nil, 0, fmt.Errorf("forecast: reading changed cases: %w", err)
	}
	var (
		batches []caseBatch
		cur     caseBatch
		n       int64
		id      int32
		manual  pgtype.Int4
		auto    pgtype.Float8
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &manual, &auto}, func() error {
		if len(cur.ids) == s.batch {
			batches = append(batches, cur)
			cur = caseBatch{}
		}
		cur.ids = append(cur.ids, id)
		cur.manual = append(cur.manual, manual)
		cur.automated = append(cur.automated, auto)
		n++
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("forecast: reading changed cases: %w", err)
	}
	if len(cur.ids) > 0 {
		batches = append(batches, cur)
	}
	return batches, n, nil
}

// updateRunsSQL writes the run forecasts of one id range: the sums of the
// forecasts of the run's pending cases (no status, or the untested system
// status compared case-insensitively; deleted cases left out), NULL when
// nothing is pending or every value is NULL, the automated sum rounded to 3
// decimals. Only changed rows are written.
const updateRunsSQL = `
	UPDATE "TestRuns" r
	SET "forecastManual" = n.manual, "forecastAutomated" = n.automated
	FROM (
		SELECT fr.id,
		       sum(c."forecastManual")::int AS manual,
		       round(sum(c."forecastAutomated")::numeric, 3)::double precision AS automated
		FROM forecast_run fr
		LEFT JOIN "TestRunCases" trc ON trc."testRunId" = fr.id
		     AND (trc."statusId" IS NULL
		          OR trc."statusId" IN (SELECT id FROM "Status" WHERE lower("systemName") = 'untested'))
		LEFT JOIN "RepositoryCases" c ON c.id = trc."repositoryCaseId" AND NOT c."isDeleted"
		WHERE fr.id > $1 AND fr.id <= $2
		GROUP BY fr.id
	) n
	WHERE r.id = n.id AND r.id > $1 AND r.id <= $2
	  AND (r."forecastManual" IS DISTINCT FROM n.manual OR r."forecastAutomated" IS DISTINCT FROM n.automated)`

// writeBatches runs update over table's ids in keyset batches of s.batch
// ids, each statement its own transaction, publishing progress after each.
// It returns the number of ids and of rows changed.
func (s *session) writeBatches(ctx context.Context, phase, table, update string) (total, changed int64, err error) {
	total, err = s.count(ctx, "SELECT count(*) FROM "+table)
	if err != nil {
		return 0, 0, err
	}
	s.report(phase, 0, total)
	var done int64
	last := 0
	for {
		var hi *int
		var n int64
		err := s.conn.QueryRow(ctx, `SELECT max(id), count(*) FROM (SELECT id FROM `+table+
			` WHERE id > $1 ORDER BY id LIMIT $2) b`, last, s.batch).Scan(&hi, &n)
		if err != nil {
			return total, changed, fmt.Errorf("forecast: next %s batch after id %d: %w", phase, last, err)
		}
		if hi == nil {
			break
		}
		tag, err := s.conn.Exec(ctx, update, last, *hi)
		if err != nil {
			return total, changed, fmt.Errorf("forecast: writing %s with ids %d..%d: %w", phase, last+1, *hi, err)
		}
		changed += tag.RowsAffected()
		done += n
		last = *hi
		s.report(phase, done, total)
	}
	return total, changed, nil
}
