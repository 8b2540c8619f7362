package testmoimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func jsonUnmarshal(b []byte, v any) error { return jsonv2.Unmarshal(b, v) }

// The "TestmoImportStatus" and "TestmoImportPhase" values the web app's import panel reads.
const (
	StatusQueued    = "QUEUED"
	StatusRunning   = "RUNNING"
	StatusReady     = "READY"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
	StatusCanceled  = "CANCELED"

	PhaseAnalyzing   = "ANALYZING"
	PhaseConfiguring = "CONFIGURING"
	PhaseImporting   = "IMPORTING"
	PhaseFinalizing  = "FINALIZING"
)

// Job is what the worker reads of a "TestmoImportJob" row.
type Job struct {
	ID              string
	CreatedByID     string
	Status          string
	StorageKey      string
	StorageBucket   string
	FileSize        int64
	CancelRequested bool
	Configuration   json.RawMessage
	StartedAt       *time.Time
}

// final reports whether the job's status is terminal.
func (j *Job) final() bool {
	switch j.Status {
	case StatusCompleted, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// errJobNotFound: the task names a job its tenant's database does not have.
var errJobNotFound = errors.New("testmo import job not found")

// jobs reads and writes "TestmoImportJob" rows of one tenant database. Every timestamp it
// writes is UTC from its clock; "updatedAt" (Prisma's @updatedAt, no database default) is
// set on every write.
type jobs struct {
	db  *pgxpool.Pool
	now func() time.Time
}

func (s jobs) load(ctx context.Context, id string) (*Job, error) {
	var j Job
	var bucket *string
	var size *int64
	err := s.db.QueryRow(ctx, `SELECT id, "createdById", status::text, "storageKey", "storageBucket",
		"originalFileSize", "cancelRequested", configuration, "startedAt"
		FROM "TestmoImportJob" WHERE id = $1`, id).Scan(&j.ID, &j.CreatedByID, &j.Status, &j.StorageKey,
		&bucket, &size, &j.CancelRequested, &j.Configuration, &j.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", errJobNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load testmo import job %q: %w", id, err)
	}
	if bucket != nil {
		j.StorageBucket = *bucket
	}
	if size != nil {
		j.FileSize = *size
	}
	return &j, nil
}

// cancelRequested re-reads the job's flag.
func (s jobs) cancelRequested(ctx context.Context, id string) (bool, error) {
	var c bool
	err := s.db.QueryRow(ctx, `SELECT "cancelRequested" FROM "TestmoImportJob" WHERE id = $1`, id).Scan(&c)
	if err != nil {
		return false, fmt.Errorf("read cancelRequested of testmo import job %q: %w", id, err)
	}
	return c, nil
}

// set is one UPDATE of a job: column → value. Values are passed as parameters; jsonb columns
// take json.RawMessage or any value pgx encodes as JSON.
type set map[string]any

func (s jobs) update(ctx context.Context, id string, cols set) error {
	q := `UPDATE "TestmoImportJob" SET "updatedAt" = $2`
	args := []any{id, s.now()}
	for _, c := range sortedCols(cols) {
		args = append(args, cols[c])
		q += fmt.Sprintf(`, %q = $%d`, c, len(args))
		if c == "status" {
			q += `::"TestmoImportStatus"`
		}
		if c == "phase" {
			q += `::"TestmoImportPhase"`
		}
	}
	q += ` WHERE id = $1`
	if _, err := s.db.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("update testmo import job %q: %w", id, err)
	}
	return nil
}

func sortedCols(m set) []string { return slices.Sorted(maps.Keys(m)) }
