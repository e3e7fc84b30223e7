-- Schema version 1: batch jobs (`brygga migrate`), their checkpoints and the
-- rows their reconciliation reports are built from.
--
-- JSON values are TEXT, not jsonb: the store gives back the exact text the
-- gateway wrote (jsonb would reorder keys), so both backends give back the
-- same bytes.

CREATE TABLE jobs (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT        NOT NULL CHECK (kind <> ''),
    job_key         TEXT        NOT NULL UNIQUE CHECK (job_key <> ''),
    plan            TEXT        NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    failure         TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    -- How many report rows the job holds, and the position the next one gets.
    report_rows     BIGINT      NOT NULL DEFAULT 0,
    next_report_seq BIGINT      NOT NULL DEFAULT 1
);

CREATE TABLE job_checkpoints (
    job_id     BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL CHECK (name <> ''),
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE job_report_rows (
    job_id  BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- Append order within the job; gaps where a re-appended row was a duplicate.
    seq     BIGINT NOT NULL,
    -- The caller's idempotency key: appending a row with a stored key is a no-op.
    row_key TEXT   NOT NULL,
    kind    TEXT   NOT NULL,
    source  TEXT   NOT NULL,
    pupil   TEXT,
    detail  TEXT   NOT NULL,
    PRIMARY KEY (job_id, seq),
    UNIQUE (job_id, row_key)
);
