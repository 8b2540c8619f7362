package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/config"
	"github.com/testplanit/tpi-workers/internal/cuid"
	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// cmdImport creates a Testmo import job for an export in the bucket and runs it as the web
// app does: analyze, then (with the default mapping: match by name and e-mail, create the
// rest) import, printing the job's progress until it ends.
func cmdImport(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	user := fs.String("user", "", `the importing user ("User".id; default: the first active ADMIN)`)
	upload := fs.String("upload", "", "upload this local file to the key first")
	tenantID := fs.String("tenant", "", "the tenant (tenantId of the tasks); DATABASE_URL must be its database")
	analyzeOnly := fs.Bool("analyze-only", false, "stop after the analysis (the job stays READY)")
	poll := fs.Duration("poll", time.Second, "how often to print progress")
	pos, err := parseFlags(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	key := pos[0]
	env := config.NewEnv(c.getenv)
	s3cfg := objstore.LoadConfig(env)
	if err := env.Err(); err != nil {
		return err
	}
	store, err := objstore.New(ctx, s3cfg)
	if err != nil {
		return err
	}
	var size int64
	if *upload != "" {
		f, err := os.Open(*upload)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if err := store.EnsureBucket(ctx, s3cfg.Bucket); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "uploading %s (%d bytes) to s3://%s/%s\n", *upload, st.Size(), s3cfg.Bucket, key)
		if err := store.Put(ctx, s3cfg.Bucket, key, f, st.Size()); err != nil {
			return err
		}
	}
	obj, err := store.Open(ctx, s3cfg.Bucket, key)
	if err != nil {
		return err
	}
	size = obj.Size()
	obj.Close()

	db, _, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if *user == "" {
		if err := db.QueryRow(ctx, `SELECT id FROM "User" WHERE access = 'ADMIN' AND "isActive" AND NOT "isDeleted"
			ORDER BY "createdAt", id LIMIT 1`).Scan(user); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errors.New("import: no active ADMIN user to own the job; pass --user")
			}
			return fmt.Errorf("import: find the importing user: %w", err)
		}
	}
	jobID := cuid.New()
	now := time.Now().UTC()
	if _, err := db.Exec(ctx, `INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", status, phase, "statusMessage",
		"storageKey", "storageBucket", "originalFileName", "originalFileSize")
		VALUES ($1, $2, $3, 'QUEUED', 'ANALYZING', 'Queued for analysis', $4, $5, $6, $7)`,
		jobID, now, *user, key, s3cfg.Bucket, path.Base(key), size); err != nil {
		return fmt.Errorf("import: create the job: %w", err)
	}
	fmt.Fprintf(c.out, "job %s: %s (%d bytes)\n", jobID, key, size)

	if err := c.enqueueImport(ctx, task.ProcessTestmoImport{JobID: jobID, Mode: task.TestmoModeAnalyze, TenantID: *tenantID}); err != nil {
		return err
	}
	status, err := waitJob(ctx, c, db, jobID, *poll, "READY")
	if err != nil || status != "READY" || *analyzeOnly {
		return err
	}
	// As the web app's "Start import": RUNNING/IMPORTING, counters reset, then the task.
	if _, err := db.Exec(ctx, `UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'IMPORTING',
		"statusMessage" = 'Background import queued', "processedCount" = 0, "errorCount" = 0, "skippedCount" = 0,
		"totalCount" = 0, "activityLog" = '[]', "entityProgress" = '{}', "updatedAt" = $2 WHERE id = $1`, jobID, time.Now().UTC()); err != nil {
		return fmt.Errorf("import: start the import: %w", err)
	}
	if err := c.enqueueImport(ctx, task.ProcessTestmoImport{JobID: jobID, Mode: task.TestmoModeImport, TenantID: *tenantID}); err != nil {
		return err
	}
	_, err = waitJob(ctx, c, db, jobID, *poll, "COMPLETED")
	return err
}

func (c *cli) enqueueImport(ctx context.Context, p task.ProcessTestmoImport) error {
	t, err := task.NewProcessTestmoImport(p)
	if err != nil {
		return err
	}
	if err := c.checkTenant(t); err != nil {
		return err
	}
	e, err := c.submit(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "enqueued %s (%s) on %s: id=%s\n", t.Type(), p.EffectiveMode(), task.QueueTestmoImports, e.ID)
	return nil
}

// waitJob prints the job's status message whenever it changes until the job reaches want or
// ends; a FAILED or CANCELED job is an error naming why.
func waitJob(ctx context.Context, c *cli, db *pgxpool.Pool, id string, every time.Duration, want string) (string, error) {
	var last string
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var status, msg string
		var errText *string
		var processed, total int64
		err := db.QueryRow(ctx, `SELECT status::text, COALESCE("statusMessage", ''), error, "processedCount", "totalCount"
			FROM "TestmoImportJob" WHERE id = $1`, id).Scan(&status, &msg, &errText, &processed, &total)
		if err != nil {
			return "", fmt.Errorf("import: read job %s: %w", id, err)
		}
		if line := status + ": " + msg; line != last {
			last = line
			if total > 0 {
				line += fmt.Sprintf(" (%d/%d)", processed, total)
			}
			fmt.Fprintln(c.out, line)
		}
		switch status {
		case want:
			return status, nil
		case "FAILED":
			reason := msg
			if errText != nil {
				reason = *errText
			}
			return status, fmt.Errorf("import: job %s failed: %s", id, reason)
		case "CANCELED", "COMPLETED":
			return status, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}
