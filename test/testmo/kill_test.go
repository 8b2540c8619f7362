// Package testmo_test runs the real import-worker binary on a generated Testmo export in a real
// S3 server (versitygw), SIGKILLs it in the middle of the import, starts a new one, and checks
// that the import resumes from its checkpoint and writes every row exactly once.
package testmo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/testplanit/tpi-workers/internal/postgres"
	"github.com/testplanit/tpi-workers/internal/testenv"
	"github.com/testplanit/tpi-workers/internal/testmo/testmogen"
	"github.com/testplanit/tpi-workers/pkg/task"
)

func TestKill9MidImportResumesWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	bin := testenv.BuildCommands(t, "../..", "import-worker", "tpictl")
	db, dbURL := testenv.Postgres(t)
	if err := postgres.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	tables := []string{"TestRunResults", "Steps", "SessionResults", "TestRuns"}
	before := map[string]int64{}
	for _, table := range tables {
		var n int64
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		before[table] = n
	}
	ropt, redisURL := testenv.Redis(t)
	s3 := testenv.StartS3(t)
	var export bytes.Buffer
	rep, err := testmogen.Generate(ctx, &export, testmogen.Config{TargetBytes: 6 << 20, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	exportFile := t.TempDir() + "/export.json"
	if err := os.WriteFile(exportFile, export.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"DATABASE_URL=" + dbURL, "VALKEY_URL=" + redisURL, "LOG_LEVEL=warn", "LOG_FORMAT=text",
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, s3.Env()...)
	// Upload and create the job with the operator CLI, analyze only (no worker runs yet,
	// so tpictl would wait: it is given the analyze to do by the first worker below).
	worker := testenv.StartProc(t, "import-worker-1", bin+"/import-worker", nil, append(env, "HTTP_ADDR=127.0.0.1:0"))
	cli := testenv.StartProc(t, "tpictl-import", bin+"/tpictl", []string{"import", "exports/big.json", "--upload", exportFile,
		"--analyze-only", "--poll", "100ms"}, env)
	var jobID string
	testenv.Eventually(t, 60*time.Second, func() bool {
		return db.QueryRow(ctx, `SELECT id FROM "TestmoImportJob" WHERE status = 'READY'`).Scan(&jobID) == nil
	}, "the job analyzed")
	testenv.Eventually(t, 10*time.Second, func() bool { return !cli.Alive() }, "tpictl import --analyze-only to end")
	if out := cli.Output(t); !strings.Contains(out, "READY: Analysis complete") {
		t.Fatalf("tpictl output:\n%s", out)
	}

	// Start the import as the web app does, then SIGKILL the worker once a third of the rows
	// are in.
	if _, err := db.Exec(ctx, `UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'IMPORTING',
		"statusMessage" = 'Background import queued' WHERE id = $1`, jobID); err != nil {
		t.Fatal(err)
	}
	tk, err := task.NewProcessTestmoImport(task.ProcessTestmoImport{JobID: jobID, Mode: task.TestmoModeImport})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(ropt)
	defer client.Close()
	if _, err := client.Enqueue(tk); err != nil {
		t.Fatal(err)
	}
	var processed, total int64
	testenv.Eventually(t, 120*time.Second, func() bool {
		_ = db.QueryRow(ctx, `SELECT "processedCount", "totalCount" FROM "TestmoImportJob" WHERE id = $1`, jobID).Scan(&processed, &total)
		return total > 0 && processed > total/3
	}, "a third of the import")
	worker.Kill9()
	var status string
	if err := db.QueryRow(ctx, `SELECT status::text, "processedCount" FROM "TestmoImportJob" WHERE id = $1`, jobID).Scan(&status, &processed); err != nil {
		t.Fatal(err)
	}
	if status != "RUNNING" {
		t.Fatalf("killed at %d/%d but the job is %s", processed, total, status)
	}
	t.Logf("killed at %d of %d rows", processed, total)

	// A new worker: asynq gives the orphaned task back once its lease expires (30 s, then the
	// recoverer's next pass), and the import resumes at the last committed chunk.
	testenv.StartProc(t, "import-worker-2", bin+"/import-worker", nil, append(env, "HTTP_ADDR=127.0.0.1:0"))
	testenv.Eventually(t, 180*time.Second, func() bool {
		_ = db.QueryRow(ctx, `SELECT status::text FROM "TestmoImportJob" WHERE id = $1`, jobID).Scan(&status)
		return status == "COMPLETED" || status == "FAILED"
	}, "the import to end after the restart")
	var msg string
	_ = db.QueryRow(ctx, `SELECT COALESCE(error, "statusMessage") FROM "TestmoImportJob" WHERE id = $1`, jobID).Scan(&msg)
	if status != "COMPLETED" {
		t.Fatalf("job %s: %s", status, msg)
	}

	// Every id-mapped row exactly once: one TestmoImportMapping row per source row, and every
	// mapped target distinct within its table.
	for _, ds := range []string{"repository_cases", "runs", "run_results", "run_tests", "sessions", "repository_case_steps"} {
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM "TestmoImportMapping" WHERE "jobId" = $1 AND "entityType" = $2`, jobID, ds).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := rows(rep, ds); n != want {
			t.Errorf("%s: %d id-map rows, want %d", ds, n, want)
		}
	}
	for table, want := range map[string]int64{
		"TestRunResults": rows(rep, "run_results"),
		"Steps":          rows(rep, "repository_case_steps"),
		"SessionResults": rows(rep, "session_results"),
		"TestRuns":       rows(rep, "runs") + rows(rep, "automation_runs"),
	} {
		var n int64
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n -= before[table]; n != want {
			t.Errorf("%s: %d rows, want %d (a duplicate or a loss across the kill)", table, n, want)
		}
	}
}

func rows(rep testmogen.Report, name string) int64 {
	for _, d := range rep.Datasets {
		if d.Name == name {
			return d.Rows - d.Snapshot
		}
	}
	return 0
}
