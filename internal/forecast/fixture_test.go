package forecast_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/forecast/forecastgen"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
)

// fixture is a fresh database with the demo catalogs, users and project but
// none of the demo cases, runs, sessions or milestones, so that expectations
// can be computed by hand.
type fixture struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	url  string
	base forecastgen.Base
	n    int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, url := testenv.Postgres(t)
	ctx := t.Context()
	if err := postgres.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM "RepositoryCases"; DELETE FROM "TestRuns"; DELETE FROM "Sessions"; DELETE FROM "Milestones"`); err != nil {
		t.Fatal(err)
	}
	base, err := forecastgen.LoadBase(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, pool: pool, url: url, base: base}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) id(sql string, args ...any) int {
	f.t.Helper()
	var id int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&id); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return id
}

func (f *fixture) user(email string) string {
	f.t.Helper()
	if id, ok := f.base.Users[email]; ok {
		return id
	}
	id := postgres.NewCUID()
	f.exec(`INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ($1, $2, $3, '!', now())`, id, email, email)
	f.base.Users[email] = id
	return id
}

// newCase inserts a case of source with the given initial forecasts.
func (f *fixture) newCase(name, source string, manual, automated any) int {
	f.t.Helper()
	return f.id(`INSERT INTO "RepositoryCases" ("projectId", "repositoryId", "folderId", "templateId", name, source,
		"stateId", "creatorId", "forecastManual", "forecastAutomated")
		VALUES ($1, $2, $3, $4, $5, $6::"RepositoryCaseSource", $7, $8, $9, $10) RETURNING id`,
		f.base.Project, f.base.Repository, f.base.Folder, f.base.Template, name, source, f.base.CaseState,
		f.base.Admin(), manual, automated)
}

func (f *fixture) link(a, b int, linkType string, deleted bool) {
	f.t.Helper()
	f.exec(`INSERT INTO "RepositoryCaseLink" ("caseAId", "caseBId", type, "isDeleted", "createdById")
		VALUES ($1, $2, $3::"LinkType", $4, $5)`, a, b, linkType, deleted, f.base.Admin())
}

type runOpts struct {
	completed, deleted bool
	milestone          any
	creator            string
	manual, automated  any
}

func (f *fixture) run(name string, o runOpts) int {
	f.t.Helper()
	if o.creator == "" {
		o.creator = f.base.Admin()
	}
	return f.id(`INSERT INTO "TestRuns" ("projectId", name, "stateId", "isCompleted", "isDeleted", "milestoneId",
		"createdById", "forecastManual", "forecastAutomated")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		f.base.Project, name, f.base.RunState, o.completed, o.deleted, o.milestone, o.creator, o.manual, o.automated)
}

// runCase adds case c to run with a status system name ("" = no status).
func (f *fixture) runCase(run, c int, status, assignee string) int {
	f.t.Helper()
	var statusID, assigned any
	if status != "" {
		id, ok := f.base.Statuses[status]
		if !ok {
			f.t.Fatalf("no status %q", status)
		}
		statusID = id
	}
	if assignee != "" {
		assigned = assignee
	}
	return f.id(`INSERT INTO "TestRunCases" ("testRunId", "repositoryCaseId", "statusId", "assignedToId")
		VALUES ($1, $2, $3, $4) RETURNING id`, run, c, statusID, assigned)
}

func (f *fixture) result(runCase int, elapsed any, deleted bool, executor string) {
	f.t.Helper()
	if executor == "" {
		executor = f.base.Admin()
	}
	f.exec(`INSERT INTO "TestRunResults" ("testRunId", "testRunCaseId", "statusId", "executedById", elapsed, "isDeleted")
		SELECT "testRunId", id, $2, $3, $4, $5 FROM "TestRunCases" WHERE id = $1`,
		runCase, f.base.Statuses["passed"], executor, elapsed, deleted)
}

func (f *fixture) junit(c int, seconds any) {
	f.t.Helper()
	f.n++
	run := f.run(fmt.Sprintf("ci %d", f.n), runOpts{completed: true})
	suite := f.id(`INSERT INTO "JUnitTestSuite" (name, "testRunId", "createdById") VALUES ('s', $1, $2) RETURNING id`,
		run, f.base.Admin())
	f.exec(`INSERT INTO "JUnitTestResult" (type, "repositoryCaseId", time, "testSuiteId", "createdById")
		VALUES ('PASSED', $1, $2, $3, $4)`, c, seconds, suite, f.base.Admin())
}

// forecast is a pair of forecasts read back, "NULL" or the value.
type pair struct{ manual, automated string }

func fmtNull[T any](v *T) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}

func (f *fixture) caseForecast(id int) pair {
	f.t.Helper()
	var m *int
	var a *float64
	if err := f.pool.QueryRow(f.ctx, `SELECT "forecastManual", "forecastAutomated" FROM "RepositoryCases" WHERE id = $1`, id).Scan(&m, &a); err != nil {
		f.t.Fatal(err)
	}
	return pair{fmtNull(m), fmtNull(a)}
}

func (f *fixture) runForecast(id int) pair {
	f.t.Helper()
	var m *int
	var a *float64
	if err := f.pool.QueryRow(f.ctx, `SELECT "forecastManual", "forecastAutomated" FROM "TestRuns" WHERE id = $1`, id).Scan(&m, &a); err != nil {
		f.t.Fatal(err)
	}
	return pair{fmtNull(m), fmtNull(a)}
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }
