package testmoimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/testplanit/tpi-workers/internal/objstore"
	"github.com/testplanit/tpi-workers/internal/testmo"
	"github.com/testplanit/tpi-workers/internal/worker"
	"github.com/testplanit/tpi-workers/pkg/task"
)

// Exports opens uploaded exports: the S3 bucket in production ([S3Exports]).
type Exports interface {
	// Open streams the object; size is its length in bytes, or 0 if unknown.
	Open(ctx context.Context, bucket, key string) (body io.ReadCloser, size int64, err error)
}

// S3Exports reads exports from S3 with an [objstore.Store].
type S3Exports struct{ Store *objstore.Store }

// Open implements [Exports].
func (s S3Exports) Open(ctx context.Context, bucket, key string) (io.ReadCloser, int64, error) {
	o, err := s.Store.Open(ctx, bucket, key)
	if err != nil {
		return nil, 0, err
	}
	return o, o.Size(), nil
}

// Handler serves the testmo-imports queue: analyze then import one uploaded Testmo export,
// on the original's "TestmoImportJob" lifecycle, in the task's tenant database.
type Handler struct {
	// Exports opens the export. Required.
	Exports Exports
	// Bucket is used for jobs without "storageBucket" (AWS_BUCKET_NAME).
	Bucket string
	// Enqueuer enqueues the reindex after a successful import. Required.
	Enqueuer task.Enqueuer
	// Clock is the import's clock; default [worker.SystemClock].
	Clock worker.Clock
	// Limits bound what the export decoder accepts; zero fields take testmo's defaults.
	Limits testmo.Limits
	// CancelEvery is how often analyze re-reads cancelRequested; default 2 s. The import
	// reads it before every chunk.
	CancelEvery time.Duration
	// Chunk overrides every data phase's rows per transaction (tests); 0 keeps theirs.
	Chunk int

	// afterChunk, in tests, runs after each committed chunk of the import.
	afterChunk func(ctx context.Context, phase string) error
}

// Register routes testmo-imports:process-testmo-import to h.
func (h *Handler) Register(mux *asynq.ServeMux) {
	worker.Handle(mux, task.TypeProcessTestmoImport, h.Process)
}

func (h *Handler) now() time.Time {
	if h.Clock == nil {
		return time.Now().UTC()
	}
	return h.Clock.Now().UTC()
}

func (h *Handler) cancelEvery() time.Duration {
	if h.CancelEvery <= 0 {
		return 2 * time.Second
	}
	return h.CancelEvery
}

func (h *Handler) decoder() *testmo.Decoder { return &testmo.Decoder{Limits: h.Limits} }

// Process runs one task: analyze or import. Bad input (the export, a row, a missing parent,
// a missing object) ends the job FAILED with the reason and position, and the task is
// archived; a cancel ends it CANCELED; any other error leaves the job RUNNING and the task
// is retried, resuming from the last checkpoint (the last attempt marks it FAILED).
func (h *Handler) Process(ctx context.Context, p task.ProcessTestmoImport) error {
	tn := worker.TenantFrom(ctx)
	if tn.DB == nil {
		return worker.Permanent(errors.New("testmo import: no database configured for the tenant"))
	}
	log := worker.LoggerFrom(ctx).With("job", p.JobID, "mode", p.EffectiveMode())
	js := jobs{db: tn.DB, now: h.now}
	// One worker per job: the same job delivered twice at once (the app's BullMQ job through
	// the intake and an operator's tpictl, say) would otherwise import chunks twice. The lock
	// is the session's, so a dead worker's lock goes with its connection; the job is read
	// once it is held.
	unlock, err := lockJob(ctx, tn.DB, p.JobID)
	if err != nil {
		return err
	}
	defer unlock()
	job, err := js.load(ctx, p.JobID)
	if errors.Is(err, errJobNotFound) {
		return worker.Permanent(err)
	}
	if err != nil {
		return err
	}
	if job.final() {
		// A redelivery after the end, or a re-run of an ended job: nothing to do but make
		// sure its work tables are gone.
		log.Info("testmo import job already ended", "status", job.Status)
		return cleanup(ctx, tn.DB, job.ID)
	}
	if job.StorageBucket == "" {
		job.StorageBucket = h.Bucket
	}
	prog := newProgress(js, job.ID, worker.NewProgress(worker.ResultWriterFrom(ctx), h.Clock, time.Second), log, h.now)

	var run func() error
	switch p.EffectiveMode() {
	case task.TestmoModeAnalyze:
		if job.CancelRequested {
			return h.canceled(ctx, js, job, "Import was canceled before it started")
		}
		if job.StorageBucket == "" || job.StorageKey == "" {
			return h.failed(ctx, js, job, nil, errors.New("testmo import: the job has no storage bucket or key (set AWS_BUCKET_NAME)"))
		}
		run = func() error { return h.analyze(ctx, tn.DB, js, job, prog) }
	default:
		run = func() error { return h.importJob(ctx, tn.DB, tn.ID, js, job, prog) }
	}
	err = run()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errCanceled):
		return h.canceled(ctx, js, job, "Import was canceled")
	case ctx.Err() != nil:
		return err // shutdown or timeout: the job stays RUNNING and the next attempt resumes
	case permanent(err):
		return h.failed(ctx, js, job, prog, err)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	if ok && retried >= maxRetry {
		return h.failed(ctx, js, job, prog, err)
	}
	log.Warn("testmo import interrupted; the retry resumes from the last checkpoint", "err", err)
	_ = js.update(context.WithoutCancel(ctx), job.ID, set{"statusMessage": fmt.Sprintf("Interrupted (%v); resuming", err)})
	return err
}

// permanent reports whether err is the input's fault: retrying cannot help.
func permanent(err error) bool {
	var fe *testmo.FormatError
	var re *rowError
	return errors.As(err, &fe) || errors.As(err, &re) || errors.Is(err, objstore.ErrNotFound) ||
		errors.Is(err, objstore.ErrAccessDenied) || errors.Is(err, objstore.ErrChanged) || errors.Is(err, errConfig) || worker.IsPermanent(err)
}

// errConfig marks a mapping configuration that cannot be applied.
var errConfig = errors.New("testmo import: mapping configuration")

func (h *Handler) failed(ctx context.Context, js jobs, job *Job, prog *progress, cause error) error {
	ctx = context.WithoutCancel(ctx)
	cols := set{"status": StatusFailed, "phase": nil, "statusMessage": "Import failed", "error": cause.Error(),
		"completedAt": h.now(), "estimatedTimeRemaining": nil}
	if prog != nil && len(prog.acts) > 0 {
		prog.message("Import failed: " + cause.Error())
		cols["activityLog"] = prog.acts
	}
	if err := js.update(ctx, job.ID, cols); err != nil {
		return fmt.Errorf("%w (and the job could not be marked FAILED: %v)", cause, err)
	}
	if err := cleanup(ctx, js.db, job.ID); err != nil {
		worker.LoggerFrom(ctx).Warn("testmo import work tables not removed", "err", err)
	}
	return worker.Permanent(cause)
}

func (h *Handler) canceled(ctx context.Context, js jobs, job *Job, msg string) error {
	ctx = context.WithoutCancel(ctx)
	now := h.now()
	if err := js.update(ctx, job.ID, set{"status": StatusCanceled, "phase": nil, "statusMessage": msg,
		"canceledAt": now, "completedAt": now, "estimatedTimeRemaining": nil}); err != nil {
		return err
	}
	return cleanup(ctx, js.db, job.ID)
}

// cleanup removes a finished job's staging rows and checkpoints; its id map stays, the
// record of which Testmo row became which TestPlanIt row.
func cleanup(ctx context.Context, db *pgxpool.Pool, jobID string) error {
	if _, err := db.Exec(ctx, `DELETE FROM "TestmoImportStaging" WHERE "jobId" = $1`, jobID); err != nil {
		return fmt.Errorf("remove staging of job %q: %w", jobID, err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM worker.testmo_import_checkpoint WHERE job_id = $1`, jobID); err != nil {
		return fmt.Errorf("remove checkpoints of job %q: %w", jobID, err)
	}
	return nil
}

// errBusy: another worker holds the job; the task is retried later.
var errBusy = errors.New("testmo import: the job is being processed by another worker")

// lockJob takes the job's advisory lock on a connection of its own, held until unlock.
func lockJob(ctx context.Context, db *pgxpool.Pool, jobID string) (unlock func(), err error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("testmo import: lock job %q: %w", jobID, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('testmo-import:' || $1, 0))`, jobID).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("testmo import: lock job %q: %w", jobID, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("%w (job %q)", errBusy, jobID)
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended('testmo-import:' || $1, 0))`, jobID); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing frees the lock
		}
		conn.Release()
	}, nil
}
