package forecast_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/testplanit/tpi-workers/internal/forecast"
	"github.com/testplanit/tpi-workers/internal/forecast/forecastgen"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// scenario is the hand-computed data set of the forecast tests.
//
// Cases and samples:
//
//	A MANUAL  results 10, 20 (plus a deleted 1000, an elapsed 0 and a NULL: ignored)
//	B JUNIT   JUnit times 1.5, 2.25 (plus 0 and NULL: ignored)
//	C MANUAL  result 31
//	D MANUAL  results 7, 8                      mean 7.5 rounds half up to 8
//	E MANUAL  no sample, initial forecast 99    becomes NULL
//	F API     a JUnit time 5 and a result 40    API counts as neither: NULL
//	G JUNIT   JUnit times 1, 2, 2.5             mean 1.8333... rounds to 1.833
//	H MANUAL  deleted, result 1000, linked to A ignored everywhere, never written
//
// Links: A-B, C-B (so A and C are two hops apart), a deleted D-C link, a
// DEPENDS_ON E-A link and the A-H link to the deleted case. The group
// {A, B, C} pools 10, 20, 31 (mean 20.33 -> 20) and 1.5, 2.25 (1.875); the
// original's one-hop group of A would have been {A, B}: 15.
type scenario struct {
	A, B, C, D, E, F, G, H int
	// R1 open: A (no status), B (untested), C (untested), D (passed), E (no status)
	// R2 open: D (passed), G (failed); initial forecast 123 / 4.5
	// R3 open: E (no status)
	// R4 completed: A (no status); initial forecast 5 / 0.5
	// R5 deleted, open: A (no status)
	R1, R2, R3, R4, R5 int
}

func buildScenario(f *fixture) scenario {
	var s scenario
	s.A = f.newCase("A", "MANUAL", nil, nil)
	s.B = f.newCase("B", "JUNIT", nil, nil)
	s.C = f.newCase("C", "MANUAL", nil, nil)
	s.D = f.newCase("D", "MANUAL", nil, nil)
	s.E = f.newCase("E", "MANUAL", 99, nil)
	s.F = f.newCase("F", "API", nil, nil)
	s.G = f.newCase("G", "JUNIT", nil, nil)
	s.H = f.newCase("H", "MANUAL", nil, nil)

	f.link(s.A, s.B, "SAME_TEST_DIFFERENT_SOURCE", false)
	f.link(s.C, s.B, "SAME_TEST_DIFFERENT_SOURCE", false)
	f.link(s.D, s.C, "SAME_TEST_DIFFERENT_SOURCE", true)
	f.link(s.E, s.A, "DEPENDS_ON", false)
	f.link(s.A, s.H, "SAME_TEST_DIFFERENT_SOURCE", false)
	f.exec(`UPDATE "RepositoryCases" SET "isDeleted" = true WHERE id = $1`, s.H)

	s.R1 = f.run("R1", runOpts{})
	s.R2 = f.run("R2", runOpts{manual: 123, automated: 4.5})
	s.R3 = f.run("R3", runOpts{})
	s.R4 = f.run("R4", runOpts{completed: true, manual: 5, automated: 0.5})
	s.R5 = f.run("R5", runOpts{deleted: true})

	a1 := f.runCase(s.R1, s.A, "", "")
	f.runCase(s.R1, s.B, "untested", "")
	c1 := f.runCase(s.R1, s.C, "untested", "")
	d1 := f.runCase(s.R1, s.D, "passed", "")
	f.runCase(s.R1, s.E, "", "")
	d2 := f.runCase(s.R2, s.D, "passed", "")
	f.runCase(s.R2, s.G, "failed", "")
	f.runCase(s.R3, s.E, "", "")
	f.runCase(s.R4, s.A, "", "")
	f.runCase(s.R5, s.A, "", "")
	fr := f.runCase(s.R3, s.F, "passed", "")
	hr := f.runCase(s.R3, s.H, "", "")

	f.result(a1, 10, false, "")
	f.result(a1, 20, false, "")
	f.result(a1, 1000, true, "")
	f.result(a1, 0, false, "")
	f.result(a1, nil, false, "")
	f.result(c1, 31, false, "")
	f.result(d1, 7, false, "")
	f.result(d2, 8, false, "")
	f.result(fr, 40, false, "")
	f.result(hr, 1000, false, "")
	f.junit(s.B, 1.5)
	f.junit(s.B, 2.25)
	f.junit(s.B, 0.0)
	f.junit(s.B, nil)
	f.junit(s.F, 5.0)
	f.junit(s.G, 1.0)
	f.junit(s.G, 2.0)
	f.junit(s.G, 2.5)
	return s
}

func TestAllCasesForecast(t *testing.T) {
	t.Parallel()
	// Small batches: several transactions, written by one connection, by
	// the default two, and by more connections than there are batches.
	for _, writers := range []int{1, 0, 8} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			t.Parallel()
			testAllCasesForecast(t, &forecast.Forecaster{BatchSize: 2, Writers: writers})
		})
	}
}

func testAllCasesForecast(t *testing.T, fc *forecast.Forecaster) {
	f := newFixture(t)
	s := buildScenario(f)
	fc.DB = f.pool

	st, err := fc.All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := pair{"20", "1.875"}
	wantCases := map[string]struct {
		id   int
		want pair
	}{
		"A (transitive group)": {s.A, group},
		"B (transitive group)": {s.B, group},
		"C (two hops from A)":  {s.C, group},
		"D (deleted link)":     {s.D, pair{"8", "NULL"}},
		"E (no sample: NULL)":  {s.E, pair{"NULL", "NULL"}},
		"F (API: neither)":     {s.F, pair{"NULL", "NULL"}},
		"G (3 decimals)":       {s.G, pair{"NULL", "1.833"}},
		"H (deleted case)":     {s.H, pair{"NULL", "NULL"}},
	}
	for name, c := range wantCases {
		if got := f.caseForecast(c.id); got != c.want {
			t.Errorf("case %s: got %+v, want %+v", name, got, c.want)
		}
	}
	wantRuns := map[string]struct {
		id   int
		want pair
	}{
		// A, B and C pending (no status, untested, untested) at 20/1.875
		// each, E pending with NULLs: D (passed) is not pending.
		"R1 (untested counts)":      {s.R1, pair{"60", "5.625"}},
		"R2 (nothing pending)":      {s.R2, pair{"NULL", "NULL"}},
		"R3 (pending, all NULL)":    {s.R3, pair{"NULL", "NULL"}},
		"R4 (completed: untouched)": {s.R4, pair{"5", "0.5"}},
		"R5 (deleted: untouched)":   {s.R5, pair{"NULL", "NULL"}},
	}
	for name, r := range wantRuns {
		if got := f.runForecast(r.id); got != r.want {
			t.Errorf("run %s: got %+v, want %+v", name, got, r.want)
		}
	}
	// Changed: A, B, C, D, E, G (F and H unchanged or out of scope); runs R1
	// and R2 (R3 stays NULL). Every ci run is completed.
	if st.CasesUpdated != 6 || st.RunsUpdated != 2 || st.Groups != 1 || st.Cases != 7 || st.Runs != 3 {
		t.Errorf("stats %+v", st)
	}

	again, err := fc.All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.CasesUpdated != 0 || again.RunsUpdated != 0 {
		t.Errorf("second run wrote unchanged rows: %+v", again)
	}
}

func TestSingleCaseForecastCascadesToItsRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := buildScenario(f)
	fc := &forecast.Forecaster{DB: f.pool}

	st, err := fc.Case(f.ctx, s.C)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{s.A, s.B, s.C} {
		if got := f.caseForecast(id); got != (pair{"20", "1.875"}) {
			t.Errorf("case %d: %+v", id, got)
		}
	}
	// Outside the group nothing moves: D stays NULL, E keeps its 99.
	if got := f.caseForecast(s.D); got != (pair{"NULL", "NULL"}) {
		t.Errorf("D: %+v", got)
	}
	// R1: A, B, C at 20 plus E's stale 99 (E is not in the group).
	if got := f.runForecast(s.R1); got != (pair{"159", "5.625"}) {
		t.Errorf("R1: %+v", got)
	}
	// The single-case path also refreshes completed runs, as the original.
	if got := f.runForecast(s.R4); got != (pair{"20", "1.875"}) {
		t.Errorf("R4: %+v", got)
	}
	if got := f.runForecast(s.R5); got != (pair{"NULL", "NULL"}) {
		t.Errorf("R5 (deleted): %+v", got)
	}
	if st.Cases != 3 || st.CasesUpdated != 3 || st.Runs != 2 || st.RunsUpdated != 2 || st.Groups != 1 {
		t.Errorf("stats %+v", st)
	}

	// A deleted case is a no-op; a missing one is an error.
	if st, err := fc.Case(f.ctx, s.H); err != nil || st.Cases != 0 {
		t.Errorf("deleted case: %+v %v", st, err)
	}
	if _, err := fc.Case(f.ctx, 1<<30); !errors.Is(err, forecast.ErrCaseNotFound) {
		t.Errorf("missing case: %v", err)
	}
}

// TestHandlerClassifiesErrors sends tasks through the handler's mux, as the
// runtime does, with the tenant in the context.
func TestHandlerClassifiesErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mux := asynq.NewServeMux()
	(&forecast.Handler{}).Register(mux)
	ctx := worker.WithTenant(f.ctx, &tenant.Tenant{DB: f.pool})

	bad := asynq.NewTask(task.TypeUpdateSingleCaseForecast, []byte(`{"repositoryCaseId":"12"}`))
	if err := mux.ProcessTask(ctx, bad); !worker.IsPermanent(err) {
		t.Errorf("bad payload: %v", err)
	}
	missing, _ := task.NewUpdateSingleCaseForecast(task.UpdateSingleCaseForecast{RepositoryCaseID: 1 << 30})
	if err := mux.ProcessTask(ctx, missing); !worker.IsPermanent(err) || !errors.Is(err, forecast.ErrCaseNotFound) {
		t.Errorf("missing case: %v", err)
	}
	foreign, _ := task.NewUpdateSingleCaseForecast(task.UpdateSingleCaseForecast{RepositoryCaseID: 1, TenantID: "other"})
	if err := mux.ProcessTask(worker.WithTenant(f.ctx, &tenant.Tenant{ID: "acme", DB: f.pool}), foreign); !worker.IsPermanent(err) {
		t.Errorf("a task of another tenant: %v", err)
	}
	all, _ := task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{})
	if err := mux.ProcessTask(worker.WithTenant(f.ctx, &tenant.Tenant{ID: "nodb"}), all); !worker.IsPermanent(err) {
		t.Errorf("a tenant without a database: %v", err)
	}

	closed := newFixture(t)
	closed.pool.Close()
	down := worker.WithTenant(f.ctx, &tenant.Tenant{DB: closed.pool})
	if err := mux.ProcessTask(down, all); err == nil || worker.IsPermanent(err) {
		t.Errorf("database down must be transient: %v", err)
	}
	auto, _ := task.NewAutoCompleteMilestones(task.AutoCompleteMilestones{})
	if err := mux.ProcessTask(down, auto); err == nil || worker.IsPermanent(err) {
		t.Errorf("database down must be transient for milestones: %v", err)
	}
}

// TestHandlerUsesTheTenantsDatabase runs the nightly job for two tenants
// through one handler: each task writes its own tenant's database only.
func TestHandlerUsesTheTenantsDatabase(t *testing.T) {
	t.Parallel()
	acme, globex := newFixture(t), newFixture(t)
	sa, sg := buildScenario(acme), buildScenario(globex)
	mux := asynq.NewServeMux()
	(&forecast.Handler{BatchSize: 2}).Register(mux)
	all, _ := task.NewUpdateAllCasesForecast(task.UpdateAllCasesForecast{TenantID: "acme"})
	if err := mux.ProcessTask(worker.WithTenant(acme.ctx, &tenant.Tenant{ID: "acme", DB: acme.pool}), all); err != nil {
		t.Fatal(err)
	}
	if got := acme.caseForecast(sa.A); got != (pair{"20", "1.875"}) {
		t.Errorf("acme's case A: %+v", got)
	}
	if got := globex.caseForecast(sg.A); got != (pair{"NULL", "NULL"}) {
		t.Errorf("globex's case A was written by acme's task: %+v", got)
	}
}

// progressSink collects the documents a Progress writes.
type progressSink struct{ docs []worker.ProgressDoc }

func (p *progressSink) Write(b []byte) (int, error) {
	var d worker.ProgressDoc
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		return 0, err
	}
	p.docs = append(p.docs, d)
	return len(b), nil
}

func TestForecastPublishesProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	buildScenario(f)
	sink := &progressSink{}
	fc := &forecast.Forecaster{DB: f.pool, BatchSize: 3, Progress: worker.NewProgress(sink, nil, 0)}
	if _, err := fc.All(f.ctx); err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, d := range sink.docs {
		if len(phases) == 0 || phases[len(phases)-1] != d.Phase {
			phases = append(phases, d.Phase)
		}
	}
	want := []string{forecast.PhaseGroups, forecast.PhaseSamples, forecast.PhaseCases, forecast.PhaseRuns, forecast.PhaseDone}
	if len(phases) != len(want) {
		t.Fatalf("phases %v, want %v", phases, want)
	}
	for i := range want {
		if phases[i] != want[i] {
			t.Fatalf("phases %v, want %v", phases, want)
		}
	}
	last := sink.docs[len(sink.docs)-1]
	if last.Percent != 100 || last.Message == "" {
		t.Errorf("last document %+v", last)
	}
}

// TestAllMatchesAReferenceOnGeneratedData checks the case forecasts against
// a plain Go computation (union-find groups, pooled means) on a random data
// set whose links chain into long groups; the run sums are checked on the
// hand-built scenarios above.
func TestAllMatchesAReferenceOnGeneratedData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sizes := forecastgen.Sizes{Cases: 600, AutomatedShare: 0.3, Links: 450, Results: 6000,
		Runs: 12, OpenShare: 0.5, RunsPerCase: 2, Seed: 7}
	if _, err := forecastgen.Generate(f.ctx, f.pool, f.base, sizes); err != nil {
		t.Fatal(err)
	}
	st, err := (&forecast.Forecaster{DB: f.pool, BatchSize: 97}).All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Groups == 0 {
		t.Fatalf("generated data has no link groups: %+v", st)
	}

	// Reference: read the raw rows and compute in Go.
	type caseRow struct {
		source string
		parent int
	}
	cases := map[int]*caseRow{}
	var id int
	var src string
	eachRow(t, f, `SELECT id, source::text FROM "RepositoryCases" WHERE NOT "isDeleted"`, []any{&id, &src}, func() {
		cases[id] = &caseRow{source: src, parent: id}
	})
	find := func(x int) int {
		for cases[x].parent != x {
			x = cases[x].parent
		}
		return x
	}
	var a, b int
	eachRow(t, f, `SELECT "caseAId", "caseBId" FROM "RepositoryCaseLink"
		WHERE type = 'SAME_TEST_DIFFERENT_SOURCE' AND NOT "isDeleted"`, []any{&a, &b}, func() {
		if cases[a] == nil || cases[b] == nil {
			return
		}
		ra, rb := find(a), find(b)
		if ra != rb {
			cases[max(ra, rb)].parent = min(ra, rb)
		}
	})
	groupSize := map[int]int{}
	largest := 0
	for id := range cases {
		groupSize[find(id)]++
		largest = max(largest, groupSize[find(id)])
	}
	if largest < 4 {
		t.Fatalf("the largest link group has %d cases: no chains to test", largest)
	}
	type sums struct {
		manual, auto   float64
		nManual, nAuto int
	}
	groups := map[int]*sums{}
	g := func(id int) *sums {
		r := find(id)
		if groups[r] == nil {
			groups[r] = &sums{}
		}
		return groups[r]
	}
	var e int
	eachRow(t, f, `SELECT trc."repositoryCaseId", r.elapsed FROM "TestRunResults" r
		JOIN "TestRunCases" trc ON trc.id = r."testRunCaseId" WHERE NOT r."isDeleted" AND r.elapsed > 0`, []any{&id, &e}, func() {
		if c := cases[id]; c != nil && c.source == "MANUAL" {
			g(id).manual += float64(e)
			g(id).nManual++
		}
	})
	var tm float64
	eachRow(t, f, `SELECT "repositoryCaseId", time FROM "JUnitTestResult" WHERE time > 0`, []any{&id, &tm}, func() {
		if c := cases[id]; c != nil && c.source == "JUNIT" {
			g(id).auto += tm
			g(id).nAuto++
		}
	})
	ids := make([]int, 0, len(cases))
	for id := range cases {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	mismatches := 0
	for _, id := range ids {
		want := pair{"NULL", "NULL"}
		if s := groups[find(id)]; s != nil {
			if s.nManual > 0 {
				want.manual = fmtNull(ptr(int(math.Floor(s.manual/float64(s.nManual) + 0.5))))
			}
			if s.nAuto > 0 {
				want.automated = fmtNull(ptr(math.Round(s.auto/float64(s.nAuto)*1000) / 1000))
			}
		}
		if got := f.caseForecast(id); got != want && mismatches < 5 {
			mismatches++
			t.Errorf("case %d: got %+v, want %+v", id, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// eachRow scans every row of sql into dest and calls fn after each, failing
// the test on any query or scan error.
func eachRow(t *testing.T, f *fixture, sql string, dest []any, fn func()) {
	t.Helper()
	rows, err := f.pool.Query(f.ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.ForEachRow(rows, dest, func() error { fn(); return nil }); err != nil {
		t.Fatal(err)
	}
}
