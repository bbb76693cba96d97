-- Reports filter by outcome, ID&V status and method, so each hour's rollup
-- is also kept per slice: a row per line and combination of the three
-- among the hour's calls. call_rollups keeps its row of all the calls per
-- hour and line, unchanged, which unfiltered figures read (and which a
-- previous version, during a rolling upgrade or after a rollback, reads
-- and writes as before).
--
-- call_rollup_hours.sliced says whether an hour has its slices: 1 yes, 0
-- not yet (rolled up before, or by a previous version: the column's
-- default), -1 never (its calls are no longer all in the records). Vouch
-- slices the hours at 0 from their records when it can, else marks them
-- -1; filtered figures count their calls as unsliced.
CREATE TABLE call_rollup_slices (
    hour_start               BIGINT NOT NULL,
    service_line             TEXT NOT NULL,
    outcome                  TEXT NOT NULL,
    idv_status               TEXT NOT NULL,
    idv_method               TEXT NOT NULL,
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
    ivr_histogram            TEXT NOT NULL,
    PRIMARY KEY (hour_start, service_line, outcome, idv_status, idv_method)
);

ALTER TABLE call_rollup_hours ADD COLUMN sliced BIGINT NOT NULL DEFAULT 0;
