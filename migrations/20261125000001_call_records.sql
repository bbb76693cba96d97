-- One row per call, created at its first webhook and updated at each step.
-- Portable between SQLite and PostgreSQL: TEXT and BIGINT only (booleans
-- are 0/1, times are unix seconds). Nothing the caller keyed is stored.
CREATE TABLE call_records (
    call_sid          TEXT PRIMARY KEY,
    service_line      TEXT NOT NULL,
    caller            TEXT NOT NULL,
    customer_id       TEXT,
    customer_name     TEXT,
    idv_status        TEXT NOT NULL,
    idv_method        TEXT NOT NULL,
    opted_out         BIGINT NOT NULL,
    outcome           TEXT NOT NULL,
    identify_attempts BIGINT NOT NULL,
    verify_attempts   BIGINT NOT NULL,
    stir_verstat      TEXT,
    call_status       TEXT,
    call_duration     BIGINT,
    status_sequence   BIGINT,
    started_at        BIGINT NOT NULL,
    identified_at     BIGINT,
    verified_at       BIGINT,
    handed_off_at     BIGINT,
    ended_at          BIGINT,
    updated_at        BIGINT NOT NULL,
    revision          BIGINT NOT NULL
);

CREATE INDEX call_records_updated_at ON call_records (updated_at);
