-- Hourly rollups of the call records: per line, the ID&V figures of the
-- calls started in each hour (hour_start: Unix seconds, a multiple of
-- 3600), counted once the hour has settled (its calls handed on or gone).
-- Counts and sums only, no customer data: they outlive the records'
-- retention, so figures for older periods keep working, and reports read
-- a few rows per hour instead of every call.
--
-- call_rollup_hours marks each hour rolled up (with or without calls), so
-- an hour is rolled up exactly once however many instances try.
CREATE TABLE call_rollup_hours (
    hour_start  BIGINT PRIMARY KEY,
    rolled_at   BIGINT NOT NULL
);

CREATE TABLE call_rollups (
    hour_start               BIGINT NOT NULL,
    service_line             TEXT NOT NULL,
    calls                    BIGINT NOT NULL,
    identified_by_caller_id  BIGINT NOT NULL,
    identified_by_keyed_id   BIGINT NOT NULL,
    verified                 BIGINT NOT NULL,
    opted_out                BIGINT NOT NULL,
    failed_identification    BIGINT NOT NULL,
    failed_verification      BIGINT NOT NULL,
    locked                   BIGINT NOT NULL,
    crm_unavailable          BIGINT NOT NULL,
    verification_unavailable BIGINT NOT NULL,
    self_service             BIGINT NOT NULL,
    agent                    BIGINT NOT NULL,
    abandoned                BIGINT NOT NULL,
    handed_on                BIGINT NOT NULL,
    ivr_seconds              BIGINT NOT NULL,
    crm_asked                BIGINT NOT NULL,
    crm_failed               BIGINT NOT NULL,
    crm_wait_ms              BIGINT NOT NULL,
    -- The calls handed on by whole seconds in the IVR: "seconds:calls"
    -- pairs, space-separated (the p90 is read from it).
    ivr_histogram            TEXT NOT NULL,
    PRIMARY KEY (hour_start, service_line)
);
