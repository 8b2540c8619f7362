package testmoimport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/testmo"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// env is one test's real services: a migrated and seeded PostgreSQL database, a versitygw
// S3 server with the bucket, a Redis database for the reindex the import enqueues.
type env struct {
	db     *pgxpool.Pool
	s3     *testenv.S3
	store  *objstore.Store
	h      *Handler
	redis  asynq.RedisClientOpt
	admin  string
	tenant string
}

// s3Store is the object store of a test's versitygw, configured from its AWS_* variables as
// the import-worker configures itself.
func s3Store(tb testing.TB, s3 *testenv.S3) (*objstore.Store, objstore.Config) {
	tb.Helper()
	vars := map[string]string{}
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cenv := config.NewEnv(func(k string) string { return vars[k] })
	cfg := objstore.LoadConfig(cenv)
	if err := cenv.Err(); err != nil {
		tb.Fatal(err)
	}
	store, err := objstore.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return store, cfg
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, _ := testenv.Postgres(t)
	if err := postgres.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	s3 := testenv.StartS3(t)
	store, cfg := s3Store(t, s3)
	ropt, _ := testenv.Redis(t)
	client := asynq.NewClient(ropt)
	t.Cleanup(func() { client.Close() })
	e := &env{db: db, s3: s3, store: store, redis: ropt,
		h: &Handler{Exports: S3Exports{Store: store}, Bucket: cfg.Bucket, Enqueuer: client, CancelEvery: time.Millisecond}}
	if err := db.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'admin@example.com'`).Scan(&e.admin); err != nil {
		t.Fatal(err)
	}
	return e
}

// upload puts body at key and creates a QUEUED job for it, as the web app does.
func (e *env) upload(t *testing.T, key string, body []byte) string {
	t.Helper()
	ctx := context.Background()
	if err := e.store.Put(ctx, e.s3.Bucket, key, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	id := cuid.New()
	if _, err := e.db.Exec(ctx, `INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", phase, "statusMessage",
		"storageKey", "storageBucket", "originalFileName", "originalFileSize")
		VALUES ($1, now(), $2, 'ANALYZING', 'Queued for analysis', $3, $4, $3, $5)`, id, e.admin, key, e.s3.Bucket, len(body)); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) ctx() context.Context {
	return worker.WithTenant(context.Background(), &tenant.Tenant{ID: e.tenant, DB: e.db})
}

func (e *env) process(jobID, mode string) error {
	return e.h.Process(e.ctx(), task.ProcessTestmoImport{JobID: jobID, Mode: mode, TenantID: e.tenant})
}

// startImport does what the web app's "Start import" does.
func (e *env) startImport(t *testing.T, jobID string) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), `UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'IMPORTING',
		"statusMessage" = 'Background import queued' WHERE id = $1`, jobID); err != nil {
		t.Fatal(err)
	}
}

type jobState struct {
	Status, Phase, Message, Error string
	Processed, Total              int64
	Datasets                      int64
	Rows                          int64
}

func (e *env) job(t *testing.T, id string) jobState {
	t.Helper()
	var s jobState
	var phase, msg, errText *string
	var datasets, rows *int64
	err := e.db.QueryRow(context.Background(), `SELECT status::text, phase::text, "statusMessage", error,
		"processedCount", "totalCount", "totalDatasets", "totalRows" FROM "TestmoImportJob" WHERE id = $1`, id).
		Scan(&s.Status, &phase, &msg, &errText, &s.Processed, &s.Total, &datasets, &rows)
	if err != nil {
		t.Fatal(err)
	}
	for dst, src := range map[*string]*string{&s.Phase: phase, &s.Message: msg, &s.Error: errText} {
		if src != nil {
			*dst = *src
		}
	}
	if datasets != nil {
		s.Datasets = *datasets
	}
	if rows != nil {
		s.Rows = *rows
	}
	return s
}

func (e *env) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func generate(t *testing.T, size int64, seed uint64) ([]byte, testmogen.Report) {
	t.Helper()
	var buf bytes.Buffer
	rep, err := testmogen.Generate(context.Background(), &buf, testmogen.Config{TargetBytes: size, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), rep
}

// rows returns the rows of a dataset the import sees: written minus snapshot rows.
func rows(rep testmogen.Report, name string) int64 {
	for _, d := range rep.Datasets {
		if d.Name == name {
			return d.Rows - d.Snapshot
		}
	}
	return 0
}

// tableCounts are the rows of the tables an import writes, by table.
func (e *env) tableCounts(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range []string{"Projects", "Repositories", "RepositoryFolders", "RepositoryCases", "Steps",
		"_RepositoryCasesToTags", "Milestones", "Sessions", "SessionResults", "TestRuns", "TestRunCases",
		"TestRunResults", "TestRunStepResults", "JUnitTestSuite", "JUnitTestResult", "Issue", "Tags", "User",
		"Integration", "Configurations", "TestmoImportMapping", "CaseFieldValues", "CaseFields", "FieldOptions"} {
		out[table] = e.count(t, fmt.Sprintf(`SELECT count(*) FROM %q`, table))
	}
	return out
}

func TestImportEndToEnd(t *testing.T) {
	e := newEnv(t)
	body, rep := generate(t, 400<<10, 7)
	before := e.tableCounts(t)
	id := e.upload(t, "uploads/imports/testmo/e2e.json", body)

	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	js := e.job(t, id)
	if js.Status != StatusReady || js.Phase != PhaseConfiguring || js.Message != "Analysis complete. Configure mapping to continue." {
		t.Fatalf("after analyze: %+v", js)
	}
	if js.Datasets != int64(len(rep.Datasets)) || js.Rows != rep.Rows() {
		t.Errorf("analysis: %d datasets, %d rows; the export has %d, %d", js.Datasets, js.Rows, len(rep.Datasets), rep.Rows())
	}
	if n := e.count(t, `SELECT count(*) FROM "TestmoImportDataset" WHERE "jobId" = $1`, id); n != int64(len(rep.Datasets)) {
		t.Errorf("%d dataset summaries, want %d", n, len(rep.Datasets))
	}
	var staged int64
	for _, d := range rep.Datasets {
		if strings.Contains(strings.ToLower(d.Name), "attachment") {
			continue
		}
		staged += d.Rows - d.Snapshot
		if d.Name == "repository_cases" {
			staged += d.Snapshot // their identity, to map snapshot case ids to master cases
		}
		if n := e.count(t, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1 AND "datasetName" = $2`, id, d.Name); n != d.Rows-d.Snapshot {
			t.Errorf("dataset %s: %d rows staged, want %d", d.Name, n, d.Rows-d.Snapshot)
		}
	}
	// Analyzing again replaces the staging, never adds to it.
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatalf("second analyze: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1`, id); n != staged {
		t.Errorf("after a second analyze %d rows staged, want %d", n, staged)
	}

	e.startImport(t, id)
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatalf("import: %v", err)
	}
	js = e.job(t, id)
	if js.Status != StatusCompleted || js.Phase != "" || js.Message != "Import completed successfully." {
		t.Fatalf("after import: %+v", js)
	}
	if js.Processed != staged || js.Total != staged {
		t.Errorf("processedCount %d of totalCount %d, want every staged row: %d", js.Processed, js.Total, staged)
	}
	after := e.tableCounts(t)
	checkCounts(t, body, rep, before, after)
	if n := e.count(t, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1`, id); n != 0 {
		t.Errorf("%d staging rows left after the import", n)
	}
	if n := e.count(t, `SELECT count(*) FROM worker.testmo_import_checkpoint WHERE job_id = $1`, id); n != 0 {
		t.Errorf("%d checkpoints left after the import", n)
	}
	// Field values are typed: a dropdown holds an option of its field, a multi-select an
	// array of them, a checkbox a boolean.
	if n := e.count(t, `SELECT count(*) FROM "CaseFieldValues" v JOIN "CaseFields" f ON f.id = v."fieldId"
		JOIN "CaseFieldTypes" ft ON ft.id = f."typeId"
		WHERE (ft.type = 'Dropdown' AND NOT EXISTS (SELECT 1 FROM "CaseFieldAssignment" a WHERE a."caseFieldId" = f.id AND a."fieldOptionId" = (v.value #>> '{}')::int))
		   OR (ft.type = 'Multi-Select' AND jsonb_typeof(v.value) <> 'array')
		   OR (ft.type = 'Checkbox' AND jsonb_typeof(v.value) <> 'boolean')
		   OR (ft.type = 'Text Long' AND v.value->>'type' <> 'doc')`); n != 0 {
		t.Errorf("%d field values of the wrong shape", n)
	}
	if n := e.count(t, `SELECT count(DISTINCT ft.type) FROM "CaseFieldValues" v JOIN "CaseFields" f ON f.id = v."fieldId"
		JOIN "CaseFieldTypes" ft ON ft.id = f."typeId"`); n < 5 {
		t.Errorf("values of only %d field types", n)
	}
	// Rich text is TipTap JSON.
	if n := e.count(t, `SELECT count(*) FROM "Steps" WHERE step->>'type' = 'doc'`); n == 0 {
		t.Error("no step holds a TipTap document")
	}
	// One reindex for the tenant, deduplicated by the job.
	info, err := asynq.NewInspector(e.redis).GetTaskInfo(task.QueueReindex, "reindex:after-import:"+id)
	if err != nil {
		t.Fatalf("reindex after import: %v", err)
	}
	if !strings.Contains(string(info.Payload), `"entityType":"all"`) {
		t.Errorf("reindex payload %s", info.Payload)
	}

	// Re-running the completed job changes nothing.
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if again := e.tableCounts(t); fmt.Sprint(again) != fmt.Sprint(after) {
		t.Errorf("re-running a completed job changed the tables:\n%v\n%v", after, again)
	}
	if js := e.job(t, id); js.Status != StatusCompleted {
		t.Errorf("re-run: %+v", js)
	}
}

// checkCounts checks every table against the export: what each dataset adds.
// A run that lists a case twice has one TestRunCases row ((testRunId, repositoryCaseId) is
// unique): the second maps to the first.
func checkCounts(t *testing.T, body []byte, rep testmogen.Report, before, after map[string]int64) {
	t.Helper()
	distinct := distinctPairs(t, body, map[string][2]string{"run_tests": {"run_id", "case_id"}, "automation_run_tests": {"run_id", "case_id"},
		"repository_case_values": {"case_id", "field_id"}})
	added := func(table string) int64 { return after[table] - before[table] }
	want := map[string]int64{
		"Projects":               rows(rep, "projects"),
		"RepositoryCases":        rows(rep, "repository_cases") + rows(rep, "automation_cases"),
		"Steps":                  rows(rep, "repository_case_steps"),
		"_RepositoryCasesToTags": -1, // pairs may repeat; checked below
		"Milestones":             rows(rep, "milestones"),
		"Sessions":               rows(rep, "sessions"),
		"SessionResults":         rows(rep, "session_results"),
		"TestRuns":               rows(rep, "runs") + rows(rep, "automation_runs"),
		"TestRunCases":           distinct["run_tests"] + distinct["automation_run_tests"],
		"TestRunResults":         rows(rep, "run_results"),
		"JUnitTestSuite":         rows(rep, "automation_runs"),
		"JUnitTestResult":        rows(rep, "automation_run_tests"),
		"Issue":                  rows(rep, "issues"),
		// One row per non-null custom_* column of a case, one per multi-select field of a case.
		"CaseFieldValues": distinct["custom"] + distinct["repository_case_values"],
	}
	for table, n := range want {
		if n < 0 {
			continue
		}
		if got := added(table); got != n {
			t.Errorf("%s: %d rows added, want %d", table, got, n)
		}
	}
	if got := added("_RepositoryCasesToTags"); got == 0 || got > rows(rep, "repository_case_tags") {
		t.Errorf("_RepositoryCasesToTags: %d rows added, want 1..%d", got, rows(rep, "repository_case_tags"))
	}
	if got := added("TestRunStepResults"); got == 0 || got > rows(rep, "run_result_steps") {
		t.Errorf("TestRunStepResults: %d rows added, want 1..%d", got, rows(rep, "run_result_steps"))
	}
}

func TestImportResumesAfterACrashWithoutDuplicates(t *testing.T) {
	ref := newEnv(t)
	body, rep := generate(t, 300<<10, 11)
	refID := ref.upload(t, "e.json", body)
	if err := ref.process(refID, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	ref.startImport(t, refID)
	refBefore := ref.tableCounts(t)
	if err := ref.process(refID, task.TestmoModeImport); err != nil {
		t.Fatal(err)
	}
	want := ref.tableCounts(t)

	e := newEnv(t)
	e.h.Chunk = 50
	id := e.upload(t, "e.json", body)
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	e.startImport(t, id)
	before := e.tableCounts(t)
	// Crash three times mid-phase: the context ends inside a chunk's transaction, as a
	// SIGKILL would end the connection; the next attempt resumes at the checkpoint.
	crashes := 0
	for _, at := range []string{"repositoryCases", "testRunCases", "testRunResults", "testRunStepResults"} {
		n := 0
		ctx, cancel := context.WithCancel(e.ctx())
		e.h.afterChunk = func(_ context.Context, phase string) error {
			if phase == at {
				if n++; n == 2 {
					cancel()
				}
			}
			return nil
		}
		err := e.h.Process(ctx, task.ProcessTestmoImport{JobID: id, Mode: task.TestmoModeImport})
		cancel()
		if err == nil {
			t.Fatalf("the crash at %s did not happen", at)
		}
		crashes++
		if js := e.job(t, id); js.Status != StatusRunning {
			t.Fatalf("after a crash the job is %+v, want RUNNING", js)
		}
	}
	e.h.afterChunk = nil
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if js := e.job(t, id); js.Status != StatusCompleted {
		t.Fatalf("after resume: %+v", js)
	}
	got := e.tableCounts(t)
	for table := range want {
		if table == "User" || table == "TestmoImportMapping" {
			continue
		}
		if got[table]-before[table] != want[table]-refBefore[table] {
			t.Errorf("%s: %d rows added after %d crashes, %d without", table, got[table]-before[table], crashes, want[table]-refBefore[table])
		}
	}
	checkCounts(t, body, rep, before, got)
}

func TestCancelDuringImport(t *testing.T) {
	e := newEnv(t)
	e.h.Chunk = 20
	body, _ := generate(t, 200<<10, 3)
	id := e.upload(t, "c.json", body)
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	e.startImport(t, id)
	e.h.afterChunk = func(ctx context.Context, phase string) error {
		if phase == "repositoryCases" {
			_, err := e.db.Exec(ctx, `UPDATE "TestmoImportJob" SET "cancelRequested" = true WHERE id = $1`, id)
			return err
		}
		return nil
	}
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatalf("a canceled import is not a task failure: %v", err)
	}
	js := e.job(t, id)
	if js.Status != StatusCanceled || js.Message != "Import was canceled" {
		t.Fatalf("after cancel: %+v", js)
	}
	if n := e.count(t, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1`, id); n != 0 {
		t.Errorf("%d staging rows left after cancel", n)
	}
	if n := e.count(t, `SELECT count(*) FROM "TestRuns"`); n != 3 { // the seed's
		t.Errorf("the import went on after the cancel: %d test runs", n)
	}
}

func TestCancelBeforeAnalyze(t *testing.T) {
	e := newEnv(t)
	body, _ := generate(t, 50<<10, 1)
	id := e.upload(t, "c.json", body)
	if _, err := e.db.Exec(context.Background(), `UPDATE "TestmoImportJob" SET "cancelRequested" = true WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	if js := e.job(t, id); js.Status != StatusCanceled || js.Message != "Import was canceled before it started" {
		t.Fatalf("%+v", js)
	}
}

func TestBadInputFailsTheJobNamingWhere(t *testing.T) {
	e := newEnv(t)
	e.h.Limits.MaxDepth = 16
	e.h.Limits.MaxValueBytes = 1 << 20
	good, _ := generate(t, 60<<10, 5)
	deep := `{"datasets":{"users":{"data":[{"id":1,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}]}}}`
	huge := `{"datasets":{"users":{"data":[{"id":1,"name":"` + strings.Repeat("a", 2<<20) + `"}]}}}`
	cases := []struct {
		name, body string
		want       []string
	}{
		{"truncated", string(good[:len(good)/2]), []string{"testmo export", "byte"}},
		{"invalid UTF-8", `{"datasets":{"users":{"data":[{"id":1,"name":"` + "\xff\xfe" + `"}]}}}`, []string{`dataset "users" row 0`, "UTF-8"}},
		{"top level array of numbers", `[1,2,3]`, []string{"testmo export", "byte"}},
		{"top level string", `"export"`, []string{"testmo export", "not a JSON object"}},
		{"row not an object", `{"datasets":{"users":{"data":[{"id":1,"email":"a@b.c"},42]}}}`, []string{`dataset "users" row 1`, "not a JSON object"}},
		{"absurd nesting", deep, []string{`dataset "users" row 0`, "nested deeper"}},
		{"huge string", huge, []string{`dataset "users" row 0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := e.upload(t, "bad/"+strings.ReplaceAll(tc.name, " ", "-")+".json", []byte(tc.body))
			err := e.process(id, task.TestmoModeAnalyze)
			if err == nil || !worker.IsPermanent(err) {
				t.Fatalf("analyze: err %v, want a permanent error", err)
			}
			js := e.job(t, id)
			if js.Status != StatusFailed || js.Message != "Import failed" {
				t.Fatalf("job %+v, want FAILED", js)
			}
			for _, w := range tc.want {
				if !strings.Contains(js.Error, w) {
					t.Errorf("error %q does not say %q", js.Error, w)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1`, id); n != 0 {
				t.Errorf("%d rows staged from a bad export", n)
			}
		})
	}

	t.Run("missing object", func(t *testing.T) {
		id := e.upload(t, "present.json", good)
		if _, err := e.db.Exec(context.Background(), `UPDATE "TestmoImportJob" SET "storageKey" = 'absent.json' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		err := e.process(id, task.TestmoModeAnalyze)
		if !errors.Is(err, objstore.ErrNotFound) || !worker.IsPermanent(err) {
			t.Fatalf("err %v", err)
		}
		if js := e.job(t, id); js.Status != StatusFailed || !strings.Contains(js.Error, "absent.json") {
			t.Errorf("%+v", js)
		}
	})

	t.Run("missing parent", func(t *testing.T) {
		body := `{"datasets":{
			"users":{"data":[{"id":1,"email":"admin@example.com","name":"A"}]},
			"projects":{"data":[{"id":10,"name":"Orphans","created_by":1}]},
			"repositories":{"data":[{"id":7,"project_id":10,"is_master":1,"is_snapshot":0}]},
			"repository_folders":{"data":[{"id":70,"project_id":10,"repo_id":7,"name":"F"}]},
			"repository_cases":{"data":[
				{"id":1001,"project_id":10,"repo_id":7,"folder_id":70,"name":"ok"},
				{"id":1002,"project_id":10,"repo_id":7,"folder_id":99,"name":"orphan"}]}}}`
		id := e.upload(t, "orphan.json", []byte(body))
		if err := e.process(id, task.TestmoModeAnalyze); err != nil {
			t.Fatal(err)
		}
		e.startImport(t, id)
		err := e.process(id, task.TestmoModeImport)
		if err == nil || !worker.IsPermanent(err) {
			t.Fatalf("import: %v", err)
		}
		js := e.job(t, id)
		if js.Status != StatusFailed || !strings.Contains(js.Error, `dataset "repository_cases" row 1`) || !strings.Contains(js.Error, "folder_id 99") {
			t.Errorf("%+v", js)
		}
		// The failed chunk wrote nothing: the first case (same chunk) is not there either,
		// and the job's activity log accounts for the phases that were committed.
		if n := e.count(t, `SELECT count(*) FROM "RepositoryCases" WHERE name IN ('ok', 'orphan')`); n != 0 {
			t.Errorf("%d cases of the failed chunk committed", n)
		}
	})
}

// pairCounter counts the distinct (a, b) column pairs of some datasets.
type pairCounter struct {
	custom int64 // non-null custom_* values of repository_cases
	cols   map[string][2]string
	seen   map[string]map[[2]string]bool
}

func (p *pairCounter) BeginDataset(context.Context, *testmo.Dataset) error { return nil }
func (p *pairCounter) EndDataset(context.Context, *testmo.Dataset) error   { return nil }
func (p *pairCounter) Row(_ context.Context, r *testmo.Row) error {
	if r.Dataset().Name == "repository_cases" {
		for i := range r.Len() {
			if strings.HasPrefix(r.Name(i), "custom_") && !r.Value(i).IsNull() {
				p.custom++
			}
		}
	}
	cols, ok := p.cols[r.Dataset().Name]
	if !ok {
		return nil
	}
	a, _ := r.Get(cols[0])
	b, _ := r.Get(cols[1])
	if p.seen[r.Dataset().Name] == nil {
		p.seen[r.Dataset().Name] = map[[2]string]bool{}
	}
	p.seen[r.Dataset().Name][[2]string{string(a), string(b)}] = true
	return nil
}

func distinctPairs(t *testing.T, body []byte, cols map[string][2]string) map[string]int64 {
	t.Helper()
	p := &pairCounter{cols: cols, seen: map[string]map[[2]string]bool{}}
	if _, err := testmo.Decode(context.Background(), bytes.NewReader(body), p); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for name, m := range p.seen {
		out[name] = int64(len(m))
	}
	out["custom"] = p.custom
	return out
}

func TestImportHonoursTheMappingConfiguration(t *testing.T) {
	e := newEnv(t)
	e.tenant = "acme" // the job is the tenant's: its reindex carries the tenant
	ctx := context.Background()
	body := `{"meta":{"source":"testmo"},"entities":{
		"statuses":{"data":[{"id":1,"name":"Passed","system_name":"passed","is_passed":1}]},
		"users":{"data":[{"id":1,"email":"ADMIN@example.com","name":"Admin"},{"id":2,"email":"carol@example.com","name":"Carol"},{"id":3,"email":"dave@example.com","name":"Dave"}]},
		"projects":{"data":[{"id":10,"name":"Configured","note":"<p>Hello <strong>world</strong></p>","created_by":2}]},
		"repositories":{"data":[{"id":7,"project_id":10,"is_master":1,"is_snapshot":0}]},
		"repository_folders":{"data":[{"id":71,"project_id":10,"repo_id":7,"parent_id":70,"name":"Child"},{"id":70,"project_id":10,"repo_id":7,"name":"Parent"}]},
		"repository_cases":{"data":[{"id":1001,"project_id":10,"repo_id":7,"folder_id":71,"name":"Valid login","estimate":120,"created_by":3}]},
		"runs":{"data":[{"id":500,"project_id":10,"name":"Sprint 1","created_by":2}]},
		"run_tests":{"data":[{"id":9001,"run_id":500,"case_id":1001,"status_id":1}]},
		"run_results":{"data":[{"id":77,"run_id":500,"test_id":9001,"status_id":1,"elapsed":95,"created_by":2,"created_at":"2024-05-01 10:00:00"}]}}}`
	id := e.upload(t, "configured.json", []byte(body))
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	var failed int32
	if err := e.db.QueryRow(ctx, `SELECT id FROM "Status" WHERE "systemName" = 'failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	// As the web app saves it: Testmo's "Passed" mapped to TestPlanIt's failed status (the
	// configuration wins over the name), Carol created with a password, Dave created without.
	cfg := fmt.Sprintf(`{"statuses":{"1":{"action":"map","mappedTo":%d}},
		"users":{"2":{"action":"create","email":"carol@example.com","name":"Carol C","password":"s3cret!","access":"USER"},
		         "3":{"action":"create","email":"dave@example.com","name":"Dave"}}}`, failed)
	if _, err := e.db.Exec(ctx, `UPDATE "TestmoImportJob" SET configuration = $2 WHERE id = $1`, id, cfg); err != nil {
		t.Fatal(err)
	}
	e.startImport(t, id)
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM "TestRunResults" r JOIN "TestRuns" tr ON tr.id = r."testRunId"
		WHERE tr.name = 'Sprint 1' AND r."statusId" = $1 AND r.elapsed = 95 AND r."executedAt" = '2024-05-01 10:00:00+00'`, failed); n != 1 {
		t.Errorf("the configured status, elapsed and UTC time are not on the result (%d rows)", n)
	}
	var carolName, carolPass, davePass string
	if err := e.db.QueryRow(ctx, `SELECT name, password FROM "User" WHERE email = 'carol@example.com'`).Scan(&carolName, &carolPass); err != nil {
		t.Fatal(err)
	}
	if carolName != "Carol C" || !strings.HasPrefix(carolPass, "$2") || strings.Contains(carolPass, "s3cret") {
		t.Errorf("carol: name %q, password stored as %q (want a bcrypt hash)", carolName, carolPass)
	}
	if err := e.db.QueryRow(ctx, `SELECT password FROM "User" WHERE email = 'dave@example.com'`).Scan(&davePass); err != nil || davePass != "!" {
		t.Errorf("dave's password %q (%v), want the unusable \"!\"", davePass, err)
	}
	// The configuration saved back: created users mapped to their new ids, no password kept.
	var saved string
	if err := e.db.QueryRow(ctx, `SELECT configuration::text FROM "TestmoImportJob" WHERE id = $1`, id).Scan(&saved); err != nil {
		t.Fatal(err)
	}
	var carolID string
	if err := e.db.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'carol@example.com'`).Scan(&carolID); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(saved, "s3cret") || !strings.Contains(saved, `"mappedTo": "`+carolID+`"`) {
		t.Errorf("configuration saved back: %s", saved)
	}
	// admin@example.com was matched by lower-cased e-mail, not created.
	if n := e.count(t, `SELECT count(*) FROM "User" WHERE lower(email) = 'admin@example.com'`); n != 1 {
		t.Errorf("%d admins", n)
	}
	// The case's author is Dave, the child folder's parent (later in the file) was fixed up,
	// the project's note is TipTap JSON.
	if n := e.count(t, `SELECT count(*) FROM "RepositoryCases" c JOIN "User" u ON u.id = c."creatorId"
		JOIN "RepositoryFolders" f ON f.id = c."folderId" JOIN "RepositoryFolders" p ON p.id = f."parentId"
		WHERE c.name = 'Valid login' AND u.email = 'dave@example.com' AND p.name = 'Parent' AND c.estimate = 120`); n != 1 {
		t.Errorf("case author, folder parent or estimate wrong (%d rows)", n)
	}
	var note string
	if err := e.db.QueryRow(ctx, `SELECT note FROM "Projects" WHERE name = 'Configured'`).Scan(&note); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, `"type":"doc"`) || !strings.Contains(note, `"bold"`) {
		t.Errorf("project note %s", note)
	}
	// The reindex is the tenant's.
	info, err := asynq.NewInspector(e.redis).GetTaskInfo(task.QueueReindex, "acme:reindex:after-import:"+id)
	if err != nil || !strings.Contains(string(info.Payload), `"tenantId":"acme"`) {
		t.Errorf("the tenant's reindex: %v %v", info, err)
	}
	// The panel's progress fields.
	var ents, acts string
	if err := e.db.QueryRow(ctx, `SELECT "entityProgress"::text, "activityLog"::text FROM "TestmoImportJob" WHERE id = $1`, id).Scan(&ents, &acts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"testRunResults": {"total": 1, "mapped": 0, "created": 1}`, `"users": {"total": 3, "mapped": 1, "created": 2}`} {
		if !strings.Contains(ents, want) {
			t.Errorf("entityProgress %s lacks %s", ents, want)
		}
	}
	if !strings.Contains(acts, `"type": "summary"`) || !strings.Contains(acts, "Import completed successfully.") {
		t.Errorf("activityLog %s", acts)
	}
}

func TestOneWorkerPerJob(t *testing.T) {
	e := newEnv(t)
	body, _ := generate(t, 50<<10, 2)
	id := e.upload(t, "busy.json", body)
	ctx := context.Background()
	conn, err := e.db.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('testmo-import:' || $1, 0))`, id); err != nil {
		t.Fatal(err)
	}
	err = e.process(id, task.TestmoModeAnalyze)
	if !errors.Is(err, errBusy) || worker.IsPermanent(err) {
		t.Fatalf("while another worker holds the job: %v, want a retryable errBusy", err)
	}
	if js := e.job(t, id); js.Status != StatusQueued {
		t.Errorf("the busy job was touched: %+v", js)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('testmo-import:' || $1, 0))`, id); err != nil {
		t.Fatal(err)
	}
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatalf("once released: %v", err)
	}
}

// TestRunsOfASnapshotPointAtTheMasterCases: a run executed against a snapshot repository
// refers to the snapshot's case ids; the import points them at the master repository's case
// with the same key.
func TestRunsOfASnapshotPointAtTheMasterCases(t *testing.T) {
	e := newEnv(t)
	body := `{"datasets":{
		"projects":{"data":[{"id":10,"name":"Snapshots"}]},
		"repositories":{"data":[{"id":7,"project_id":10,"is_master":1,"is_snapshot":0},{"id":8,"project_id":10,"is_master":0,"is_snapshot":1}]},
		"repository_folders":{"data":[{"id":70,"project_id":10,"repo_id":7,"name":"F"},{"id":80,"project_id":10,"repo_id":8,"name":"F"}]},
		"repository_cases":{"data":[
			{"id":1001,"project_id":10,"repo_id":7,"folder_id":70,"name":"Login","key":"C1"},
			{"id":2001,"project_id":10,"repo_id":8,"folder_id":80,"name":"Login (as of 1.0)","key":"C1"}]},
		"runs":{"data":[{"id":500,"project_id":10,"name":"Release 1.0 run"}]},
		"run_tests":{"data":[{"id":9001,"run_id":500,"case_id":2001}]}}}`
	id := e.upload(t, "snapshot.json", []byte(body))
	if err := e.process(id, task.TestmoModeAnalyze); err != nil {
		t.Fatal(err)
	}
	e.startImport(t, id)
	if err := e.process(id, task.TestmoModeImport); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM "TestRunCases" rc JOIN "TestRuns" r ON r.id = rc."testRunId"
		JOIN "RepositoryCases" c ON c.id = rc."repositoryCaseId" WHERE r.name = 'Release 1.0 run' AND c.name = 'Login'`); n != 1 {
		t.Errorf("the snapshot's run test does not point at the master case (%d rows)", n)
	}
	if n := e.count(t, `SELECT count(*) FROM "RepositoryCases" WHERE name LIKE 'Login%'`); n != 1 {
		t.Errorf("%d cases: the snapshot's case was imported as a case of its own", n)
	}
}
