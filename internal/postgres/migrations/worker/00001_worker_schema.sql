-- The fleet's own schema. Everything the Go workers need beyond TestPlanIt's tables lives in
-- `worker`, never in `public`, so it cannot collide with TestPlanIt's Prisma migrations
-- (DESIGN section 1). This set runs on every database, including one TestPlanIt already owns
-- (MigrateWorkerOnly), so its files must not depend on TestPlanIt's tables: no foreign keys
-- into "public", no references to quoted Prisma tables.
--
-- Adding a migration: a new numbered file beside this one (00002_<what>.sql, ...), with goose's
-- Up and Down annotations (copy them from this file) and schema-qualified names
-- (worker.<table>). goose records the versions of this set in worker.goose_db_version.

-- +goose Up
CREATE SCHEMA IF NOT EXISTS worker;

-- Generic idempotency ledger: one row per side effect already performed. A handler inserts
-- (kind, key) with ON CONFLICT DO NOTHING in the same transaction as its effect, or before an
-- external effect, and skips the work when the row already existed.
CREATE TABLE worker.ledger (
    kind       text        NOT NULL,
    key        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    detail     jsonb,
    PRIMARY KEY (kind, key)
);

CREATE INDEX ledger_created_at_idx ON worker.ledger (created_at);

COMMENT ON TABLE worker.ledger IS 'tpi-workers idempotency ledger: (kind, key) of every side effect already performed';

-- +goose Down
DROP TABLE worker.ledger;
-- The schema itself stays: it also holds goose's version table for this set.
