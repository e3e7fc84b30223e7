-- Schema version 1: batch jobs (`brygga migrate`), their checkpoints and the
-- rows their reconciliation reports are built from.
--
-- Times are RFC 3339 UTC text (`2026-05-20T08:15:00.123Z`). JSON values are
-- kept as the exact text the gateway wrote, so both backends give back the
-- same bytes.

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (length(kind) > 0),
    job_key         TEXT    NOT NULL UNIQUE CHECK (length(job_key) > 0),
    plan            TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    failure         TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    finished_at     TEXT,
    -- How many report rows the job holds, and the position the next one gets.
    report_rows     INTEGER NOT NULL DEFAULT 0,
    next_report_seq INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE job_checkpoints (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL CHECK (length(name) > 0),
    value      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, name)
) WITHOUT ROWID;

CREATE TABLE job_report_rows (
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- Append order within the job; gaps where a re-appended row was a duplicate.
    seq     INTEGER NOT NULL,
    -- The caller's idempotency key: appending a row with a stored key is a no-op.
    row_key TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    source  TEXT    NOT NULL,
    pupil   TEXT,
    detail  TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, row_key)
) WITHOUT ROWID;
