-- Ledgers of the notification and email workers (issue 3). No references to TestPlanIt's tables:
-- this set also runs on a database that TestPlanIt owns.

-- +goose Up

-- One row per user and user-local day on which the daily digest sweep considered the user (at or
-- after the digest time in the user's time zone). The primary key makes "one digest per user per
-- local day" hold whatever the number of sweeps. cutoff is the sweep's clock: the next digest
-- covers notifications created after it, so a missed day loses nothing. notification_ids are the
-- notifications this digest carries (empty: nothing was unread, no email); enqueued_at is set once
-- the email task is in the queue, so a sweep that crashed between the two steps is completed by
-- the next one.
CREATE TABLE worker.notification_digests (
    user_id          text        NOT NULL,
    local_day        date        NOT NULL,
    time_zone        text        NOT NULL,
    cutoff           timestamptz NOT NULL,
    notification_ids text[]      NOT NULL,
    enqueued_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, local_day)
);

CREATE INDEX notification_digests_user_cutoff_idx ON worker.notification_digests (user_id, cutoff DESC);
CREATE INDEX notification_digests_pending_idx ON worker.notification_digests (local_day)
    WHERE enqueued_at IS NULL AND cardinality(notification_ids) > 0;

COMMENT ON TABLE worker.notification_digests IS 'tpi-workers: daily digests planned per user and local day';

-- One row per email handed to the SMTP server. key is the delivery's identity
-- ("notification:<id>" or "digest:<userId>:<day>", tenant-prefixed); a retried task that finds its
-- key does not send again.
CREATE TABLE worker.email_deliveries (
    key        text        PRIMARY KEY,
    kind       text        NOT NULL,
    recipient  text        NOT NULL,
    message_id text        NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    detail     jsonb
);

CREATE INDEX email_deliveries_sent_at_idx ON worker.email_deliveries (sent_at);

COMMENT ON TABLE worker.email_deliveries IS 'tpi-workers: emails already accepted by the SMTP server (idempotency ledger)';

-- +goose Down
DROP TABLE worker.email_deliveries;
DROP TABLE worker.notification_digests;
