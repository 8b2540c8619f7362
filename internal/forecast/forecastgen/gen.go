// Package forecastgen generates forecast data sets (cases, links, runs, run
// cases, results, JUnit results) with PostgreSQL COPY, for the forecast
// benchmarks and for trying the forecast worker on realistic volumes. It is
// internal to the fleet.
//
// It writes on top of a database migrated and seeded by internal/postgres (it
// needs the demo project, users, statuses, workflow states and template), and
// is deterministic: the same [Sizes] give the same rows on an empty data set.
package forecastgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Base holds the ids of the seeded rows that generated rows refer to.
type Base struct {
	Project, Repository, Folder, Template int
	CaseState, RunState, RunDoneState     int
	SessionState, MilestoneType           int
	// Users by seeded e-mail: admin@example.com, alice@example.com,
	// bob@example.com.
	Users map[string]string
	// Statuses by lower-case system name.
	Statuses map[string]int
}

// Admin is the id of admin@example.com.
func (b Base) Admin() string { return b.Users["admin@example.com"] }

// LoadBase looks up the rows of internal/postgres's demo seed.
func LoadBase(ctx context.Context, db *pgxpool.Pool) (Base, error) {
	b := Base{Users: map[string]string{}, Statuses: map[string]int{}}
	err := db.QueryRow(ctx, `
		SELECT p.id, r.id, f.id,
		       (SELECT id FROM "Templates" WHERE "templateName" = 'Default Template'),
		       (SELECT id FROM "Workflows" WHERE scope = 'CASES' AND name = 'Active' ORDER BY id LIMIT 1),
		       (SELECT id FROM "Workflows" WHERE scope = 'RUNS' AND name = 'In Progress' ORDER BY id LIMIT 1),
		       (SELECT id FROM "Workflows" WHERE scope = 'RUNS' AND name = 'Done' ORDER BY id LIMIT 1),
		       (SELECT id FROM "Workflows" WHERE scope = 'SESSIONS' AND name = 'New' ORDER BY id LIMIT 1),
		       (SELECT id FROM "MilestoneTypes" WHERE name = 'Release')
		FROM "Projects" p
		JOIN "Repositories" r ON r."projectId" = p.id
		JOIN "RepositoryFolders" f ON f."repositoryId" = r.id AND f.name = 'Checkout'
		WHERE p.name = 'Demo Project'
		ORDER BY r.id, f.id LIMIT 1`).Scan(&b.Project, &b.Repository, &b.Folder, &b.Template,
		&b.CaseState, &b.RunState, &b.RunDoneState, &b.SessionState, &b.MilestoneType)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, errors.New("forecastgen: the demo seed is missing (run tpictl seed first)")
	}
	if err != nil {
		return b, fmt.Errorf("forecastgen: reading the seeded rows: %w", err)
	}
	rows, err := db.Query(ctx, `SELECT email, id FROM "User"`)
	if err != nil {
		return b, fmt.Errorf("forecastgen: reading users: %w", err)
	}
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&email, &id); err != nil {
			rows.Close()
			return b, err
		}
		b.Users[email] = id
	}
	if err := rows.Err(); err != nil {
		return b, err
	}
	rows, err = db.Query(ctx, `SELECT "systemName", id FROM "Status"`)
	if err != nil {
		return b, fmt.Errorf("forecastgen: reading statuses: %w", err)
	}
	for rows.Next() {
		var name string
		var id int
		if err := rows.Scan(&name, &id); err != nil {
			rows.Close()
			return b, err
		}
		b.Statuses[name] = id
	}
	return b, rows.Err()
}

// Sizes is the shape of a generated data set.
type Sizes struct {
	// Cases is the number of repository cases; AutomatedShare of them
	// (0..1) are JUNIT cases, the rest MANUAL.
	Cases          int
	AutomatedShare float64
	// Links is the number of SAME_TEST_DIFFERENT_SOURCE links between
	// random distinct cases (so groups chain transitively).
	Links int
	// Results is the total number of samples: manual "TestRunResults"
	// and "JUnitTestResult" rows, split by AutomatedShare.
	Results int
	// Runs is the number of regular runs; OpenShare of them are open.
	// Every manual case is in RunsPerCase random runs.
	Runs        int
	OpenShare   float64
	RunsPerCase int
	// Seed makes the data reproducible.
	Seed uint64
}

// Nightly is the benchmark's data set: 100,000 cases, 20,000 links,
// 2,000,000 results.
var Nightly = Sizes{Cases: 100_000, AutomatedShare: 0.25, Links: 20_000, Results: 2_000_000,
	Runs: 2_000, OpenShare: 0.2, RunsPerCase: 3, Seed: 1}

// Report says what [Generate] wrote.
type Report struct {
	Cases, Links, Runs, RunCases, Results, JUnitResults int64
	Elapsed                                             time.Duration
}

// Generate writes a data set of the given sizes into db, in one transaction,
// with COPY for the large tables (foreign-key triggers off when the role may
// set session_replication_role). Case names carry a generation prefix, so
// it can run more than once on a database. db is a pool of postgres.Open,
// which binds timestamps as UTC.
func Generate(ctx context.Context, db *pgxpool.Pool, b Base, s Sizes) (Report, error) {
	var rep Report
	if s.Cases <= 0 || s.Runs <= 0 || s.RunsPerCase <= 0 || s.RunsPerCase > s.Runs {
		return rep, fmt.Errorf("forecastgen: invalid sizes %+v", s)
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(s.Seed, 0x7470692d67656e))
	prefix := fmt.Sprintf("gen-%d-%d", s.Seed, time.Now().UnixNano())
	admin := b.Admin()
	if admin == "" {
		return rep, errors.New("forecastgen: admin@example.com is missing from the seed")
	}
	users := []string{admin, b.Users["alice@example.com"], b.Users["bob@example.com"]}
	pending := []any{nil, b.Statuses["untested"]}
	done := []any{b.Statuses["passed"], b.Statuses["failed"], b.Statuses["retest"], b.Statuses["skipped"]}
	now := time.Now()

	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// The rows are consistent by construction: skip the per-row foreign
		// key triggers when allowed (superuser), which makes COPY several
		// times faster; otherwise keep them.
		if _, err := tx.Exec(ctx, "SAVEPOINT fk"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT fk"); err != nil {
				return err
			}
		}
		// Cases: ids come from the sequence, so read them back in order.
		sources := make([]string, s.Cases)
		for i := range sources {
			sources[i] = "MANUAL"
			if rng.Float64() < s.AutomatedShare {
				sources[i] = "JUNIT"
			}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"RepositoryCases"},
			[]string{"projectId", "repositoryId", "folderId", "templateId", "name", "source", "stateId", "order", "creatorId", "automated"},
			pgx.CopyFromSlice(s.Cases, func(i int) ([]any, error) {
				return []any{b.Project, b.Repository, b.Folder, b.Template, fmt.Sprintf("%s case %d", prefix, i),
					sources[i], b.CaseState, i, admin, sources[i] != "MANUAL"}, nil
			}))
		if err != nil {
			return fmt.Errorf("cases: %w", err)
		}
		rep.Cases = n
		rows, err := tx.Query(ctx, `SELECT id FROM "RepositoryCases" WHERE name LIKE $1 || ' case %' ORDER BY id`, prefix)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}

		// Links between random distinct pairs, deduplicated (the table has
		// a unique key on caseAId, caseBId, type).
		seen := make(map[[2]int]bool, s.Links)
		var links [][]any
		for len(links) < s.Links && len(seen) < s.Cases*(s.Cases-1) {
			a, c := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
			if a == c || seen[[2]int{a, c}] {
				continue
			}
			seen[[2]int{a, c}] = true
			links = append(links, []any{a, c, "SAME_TEST_DIFFERENT_SOURCE", rng.IntN(50) == 0, now, admin})
		}
		if rep.Links, err = tx.CopyFrom(ctx, pgx.Identifier{"RepositoryCaseLink"},
			[]string{"caseAId", "caseBId", "type", "isDeleted", "createdAt", "createdById"}, pgx.CopyFromRows(links)); err != nil {
			return fmt.Errorf("links: %w", err)
		}

		// Runs.
		nOpen := int(float64(s.Runs) * s.OpenShare)
		if rep.Runs, err = tx.CopyFrom(ctx, pgx.Identifier{"TestRuns"},
			[]string{"projectId", "name", "stateId", "isCompleted", "createdById"},
			pgx.CopyFromSlice(s.Runs, func(i int) ([]any, error) {
				state, completed := b.RunDoneState, true
				if i < nOpen {
					state, completed = b.RunState, false
				}
				return []any{b.Project, fmt.Sprintf("%s run %d", prefix, i), state, completed, users[i%len(users)]}, nil
			})); err != nil {
			return fmt.Errorf("runs: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT id, "isCompleted" FROM "TestRuns" WHERE name LIKE $1 || ' run %' ORDER BY id`, prefix)
		if err != nil {
			return err
		}
		type run struct {
			id     int
			closed bool
		}
		runs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (run, error) {
			var x run
			return x, r.Scan(&x.id, &x.closed)
		})
		if err != nil {
			return err
		}

		// Run cases: every manual case in RunsPerCase distinct runs.
		var rcRows [][]any
		for i, id := range ids {
			if sources[i] != "MANUAL" {
				continue
			}
			first := rng.IntN(len(runs))
			for k := 0; k < s.RunsPerCase; k++ {
				r := runs[(first+k*(len(runs)/s.RunsPerCase))%len(runs)]
				var status any
				if r.closed || rng.IntN(2) == 0 {
					status = done[rng.IntN(len(done))]
				} else {
					status = pending[rng.IntN(len(pending))]
				}
				rcRows = append(rcRows, []any{r.id, id, len(rcRows), status, users[rng.IntN(len(users))], r.closed})
			}
		}
		if rep.RunCases, err = tx.CopyFrom(ctx, pgx.Identifier{"TestRunCases"},
			[]string{"testRunId", "repositoryCaseId", "order", "statusId", "assignedToId", "isCompleted"},
			pgx.CopyFromRows(rcRows)); err != nil {
			return fmt.Errorf("run cases: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT trc.id, trc."testRunId" FROM "TestRunCases" trc
			JOIN "TestRuns" r ON r.id = trc."testRunId" WHERE r.name LIKE $1 || ' run %' ORDER BY trc.id`, prefix)
		if err != nil {
			return err
		}
		type rcID struct{ id, run int }
		rcIDs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rcID, error) {
			var x rcID
			return x, r.Scan(&x.id, &x.run)
		})
		if err != nil {
			return err
		}

		// Manual results spread over the run cases; a few deleted, a few
		// without elapsed, so that the filters matter.
		nAutoResults := int(float64(s.Results) * s.AutomatedShare)
		nManual := s.Results - nAutoResults
		if len(rcIDs) > 0 {
			if rep.Results, err = tx.CopyFrom(ctx, pgx.Identifier{"TestRunResults"},
				[]string{"testRunId", "testRunCaseId", "statusId", "executedById", "executedAt", "elapsed", "isDeleted"},
				pgx.CopyFromSlice(nManual, func(i int) ([]any, error) {
					rc := rcIDs[rng.IntN(len(rcIDs))]
					var elapsed any = 30 + rng.IntN(600)
					if rng.IntN(20) == 0 {
						elapsed = nil
					}
					return []any{rc.run, rc.id, done[rng.IntN(len(done))], users[rng.IntN(len(users))],
						now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour), elapsed, rng.IntN(50) == 0}, nil
				})); err != nil {
				return fmt.Errorf("results: %w", err)
			}
		}

		// JUnit results on the automated cases, in a few suites of the
		// first run.
		var autoIDs []int
		for i, id := range ids {
			if sources[i] != "MANUAL" {
				autoIDs = append(autoIDs, id)
			}
		}
		if len(autoIDs) > 0 && nAutoResults > 0 {
			var suite int
			if err := tx.QueryRow(ctx, `INSERT INTO "JUnitTestSuite" (name, "testRunId", "createdById")
				VALUES ($1, $2, $3) RETURNING id`, prefix+" suite", runs[len(runs)-1].id, admin).Scan(&suite); err != nil {
				return fmt.Errorf("suite: %w", err)
			}
			if rep.JUnitResults, err = tx.CopyFrom(ctx, pgx.Identifier{"JUnitTestResult"},
				[]string{"type", "repositoryCaseId", "executedAt", "time", "testSuiteId", "createdById", "statusId"},
				pgx.CopyFromSlice(nAutoResults, func(i int) ([]any, error) {
					var t any = 0.05 + rng.Float64()*20
					if rng.IntN(25) == 0 {
						t = 0.0
					}
					return []any{"PASSED", autoIDs[rng.IntN(len(autoIDs))], now, t, suite, admin, b.Statuses["passed"]}, nil
				})); err != nil {
				return fmt.Errorf("JUnit results: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("forecastgen: %w", err)
	}
	if _, err := db.Exec(ctx, `ANALYZE "RepositoryCases", "RepositoryCaseLink", "TestRuns", "TestRunCases", "TestRunResults", "JUnitTestResult"`); err != nil {
		return rep, fmt.Errorf("forecastgen: analyze: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}
