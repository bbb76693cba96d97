-- Reports filter by outcome, ID&V status and method, so each hour's rollup
-- is kept per line twice: a row of all its calls (the slice '', as before,
-- which unfiltered figures read), and a row for each slice: each
-- combination of the three among the hour's calls.
--
-- call_rollup_hours.sliced says whether an hour has its slices: 1 yes, 0
-- not yet (rolled up before, or by an instance of the previous version
-- during a rolling upgrade: the column's default), -1 never (its calls are
-- no longer all in the records). Vouch slices the hours at 0 from their
-- records when it can, else marks them -1; filtered figures count their
-- calls as unsliced.
CREATE TABLE call_rollup_slices (
    hour_start               BIGINT NOT NULL,
    service_line             TEXT NOT NULL,
    outcome                  TEXT NOT NULL DEFAULT '',
    idv_status               TEXT NOT NULL DEFAULT '',
    idv_method               TEXT NOT NULL DEFAULT '',
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

INSERT INTO call_rollup_slices
SELECT hour_start, service_line, '', '', '', calls, identified_by_caller_id, identified_by_keyed_id, verified,
       opted_out, failed_identification, failed_verification, locked, crm_unavailable, verification_unavailable,
       self_service, agent, abandoned, handed_on, ivr_seconds, crm_asked, crm_failed, crm_wait_ms, ivr_histogram
FROM call_rollups;

DROP TABLE call_rollups;

ALTER TABLE call_rollup_slices RENAME TO call_rollups;

ALTER TABLE call_rollup_hours ADD COLUMN sliced BIGINT NOT NULL DEFAULT 0;
