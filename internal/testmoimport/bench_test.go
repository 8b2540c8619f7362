package testmoimport

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/tenant"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// benchExportBytes is the size of the benchmarks' generated export (the issue asks >= 200 MB).
const benchExportBytes = 210 << 20

// benchKey is where the benchmarks upload the export.
const benchKey = "uploads/imports/testmo/bench.json"

// benchExport is the export the benchmarks share, written once per test binary run (the
// benchmark functions are called several times: -count) and removed by TestMain.
var benchExport struct {
	once sync.Once
	dir  string
	path string
	rep  testmogen.Report
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchExport.dir != "" {
		os.RemoveAll(benchExport.dir)
	}
	os.Exit(code)
}

func exportForBench(b *testing.B) (string, testmogen.Report) {
	b.Helper()
	benchExport.once.Do(func() {
		if benchExport.dir, benchExport.err = os.MkdirTemp("", "testmoimport-bench-"); benchExport.err != nil {
			return
		}
		benchExport.path = filepath.Join(benchExport.dir, "export.json")
		f, err := os.Create(benchExport.path)
		if err != nil {
			benchExport.err = err
			return
		}
		benchExport.rep, benchExport.err = testmogen.Generate(context.Background(), f, testmogen.Config{TargetBytes: benchExportBytes, Seed: 1})
		if err := f.Close(); benchExport.err == nil {
			benchExport.err = err
		}
	})
	if benchExport.err != nil {
		b.Fatal(benchExport.err)
	}
	return benchExport.path, benchExport.rep
}

// benchEnv is what every iteration shares: the export uploaded to a private versitygw, the
// handler reading it, and the Redis database the import's reindex task goes to.
type benchEnv struct {
	h      *Handler
	bucket string
	size   int64
}

// newBenchEnv starts versitygw and uploads the export once for the benchmark function (one
// call per -count; with b.Loop the iterations share it).
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	path, rep := exportForBench(b)
	s3 := testenv.StartS3(b)
	store, cfg := s3Store(b, s3)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := store.Put(ctx, cfg.Bucket, benchKey, f, rep.Bytes); err != nil {
		b.Fatal(err)
	}
	ropt, _ := testenv.Redis(b)
	client := asynq.NewClient(ropt)
	b.Cleanup(func() { client.Close() })
	// CancelEvery and Chunk keep their production defaults.
	return &benchEnv{h: &Handler{Exports: S3Exports{Store: store}, Bucket: cfg.Bucket, Enqueuer: client},
		bucket: cfg.Bucket, size: rep.Bytes}
}

// seededDB is a new migrated and seeded database, dropped when the benchmark function ends.
func seededDB(b *testing.B) *pgxpool.Pool {
	b.Helper()
	db, _ := testenv.Postgres(b)
	if err := postgres.Seed(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	return db
}

// newJob creates a QUEUED job for the uploaded export, as the web app does.
func (e *benchEnv) newJob(b *testing.B, db *pgxpool.Pool) string {
	b.Helper()
	ctx := context.Background()
	var admin string
	if err := db.QueryRow(ctx, `SELECT id FROM "User" WHERE email = 'admin@example.com'`).Scan(&admin); err != nil {
		b.Fatal(err)
	}
	id := cuid.New()
	if _, err := db.Exec(ctx, `INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", phase, "statusMessage",
		"storageKey", "storageBucket", "originalFileName", "originalFileSize")
		VALUES ($1, now(), $2, 'ANALYZING', 'Queued for analysis', $3, $4, $3, $5)`, id, admin, benchKey, e.bucket, e.size); err != nil {
		b.Fatal(err)
	}
	return id
}

func (e *benchEnv) process(b *testing.B, db *pgxpool.Pool, jobID, mode string) {
	b.Helper()
	ctx := worker.WithTenant(context.Background(), &tenant.Tenant{DB: db})
	if err := e.h.Process(ctx, task.ProcessTestmoImport{JobID: jobID, Mode: mode}); err != nil {
		b.Fatalf("%s: %v", mode, err)
	}
}

func benchCount(b *testing.B, db *pgxpool.Pool, q string, args ...any) int64 {
	b.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
	return n
}

// BenchmarkTestmoAnalyze analyzes the generated 210 MB export as the worker does: streamed
// from versitygw, decoded and staged into PostgreSQL with COPY, in one transaction; each
// iteration a fresh job on the same object in the same database. MB/s is export bytes per
// second (the issue asks >= 50), rows/s staged rows per second.
func BenchmarkTestmoAnalyze(b *testing.B) {
	e := newBenchEnv(b)
	db := seededDB(b)
	b.SetBytes(e.size)
	var staged int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		id := e.newJob(b, db)
		b.StartTimer()
		t0 := time.Now()
		e.process(b, db, id, task.TestmoModeAnalyze)
		elapsed += time.Since(t0)
		b.StopTimer()
		staged += benchCount(b, db, `SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = $1`, id)
		if err := cleanup(context.Background(), db, id); err != nil { // keep the table one job's size
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(staged)/elapsed.Seconds(), "rows/s")
}

// BenchmarkTestmoImport imports the generated 210 MB export: each iteration a new seeded
// database and a job analyzed outside the timer, then the timed import (every phase, chunked
// transactions with checkpoints) into a database that does not hold the data yet, as a first
// import does. rows/s is the job's processedCount per second, MB/s export bytes per second.
func BenchmarkTestmoImport(b *testing.B) {
	e := newBenchEnv(b)
	b.SetBytes(e.size)
	var rows int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		db := seededDB(b)
		id := e.newJob(b, db)
		e.process(b, db, id, task.TestmoModeAnalyze)
		if _, err := db.Exec(context.Background(), `UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'IMPORTING',
			"statusMessage" = 'Background import queued' WHERE id = $1`, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		e.process(b, db, id, task.TestmoModeImport)
		elapsed += time.Since(t0)
		b.StopTimer()
		if st := benchCount(b, db, `SELECT count(*) FROM "TestmoImportJob" WHERE id = $1 AND status = 'COMPLETED'`, id); st != 1 {
			b.Fatalf("job %s did not complete", id)
		}
		rows += benchCount(b, db, `SELECT "processedCount"::bigint FROM "TestmoImportJob" WHERE id = $1`, id)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
}
