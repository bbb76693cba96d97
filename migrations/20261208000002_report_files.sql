-- Scheduled reports ([[reports.schedule]]). A run is a schedule's period:
-- the instance that inserts its row writes its files (the others find it
-- taken), so each is written once however many instances share the
-- database; a run claimed but not done within minutes (its instance died)
-- is taken over. Counts only: no customer data in these files.
CREATE TABLE report_runs (
    schedule     TEXT NOT NULL,
    -- The first day of the period the report covers (YYYY-MM-DD).
    period_start TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    done_at      BIGINT,
    PRIMARY KEY (schedule, period_start)
);

-- The files, served at /reports/files by any instance. The body is the
-- file's bytes in base64 (portable between SQLite and PostgreSQL).
CREATE TABLE report_files (
    name         TEXT PRIMARY KEY,
    schedule     TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    format       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    body         TEXT NOT NULL
);

CREATE INDEX report_files_created_at ON report_files (created_at);
