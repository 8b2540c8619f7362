-- worker.testmo_import_checkpoint: where a Testmo import stands, one row per job and phase. The
-- import worker writes a phase's row in the same transaction as each chunk of rows it imports
-- (and the chunk's "TestmoImportMapping" id-map rows), so after a crash, a SIGKILL or a
-- redelivery the import resumes after the last committed chunk and never writes a row twice.
-- No foreign key to "TestmoImportJob": this set must not depend on TestPlanIt's tables; the
-- worker deletes a job's rows when the job ends.

-- +goose Up
CREATE TABLE worker.testmo_import_checkpoint (
    job_id     text        NOT NULL,
    phase      text        NOT NULL,
    -- last_row is the "rowIndex" of the last staged row imported (-1: none yet).
    last_row   bigint      NOT NULL DEFAULT -1,
    done       boolean     NOT NULL DEFAULT false,
    created    bigint      NOT NULL DEFAULT 0,
    mapped     bigint      NOT NULL DEFAULT 0,
    skipped    bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, phase)
);

COMMENT ON TABLE worker.testmo_import_checkpoint IS 'tpi-workers Testmo import: the last committed chunk of each phase of each job';

-- +goose Down
DROP TABLE worker.testmo_import_checkpoint;
