-- Reports filter by queue and by agent rung too, so each hour's rollup is
-- also kept per placement: a row per line, outcome, ID&V status, method,
-- queue and agent rung (agent_rung; agent counts the calls sent to an
-- agent, as in the other rollups) among the hour's calls that a hand-off put in a queue or
-- rang an agent for ('' where there is none). Calls with neither have no
-- row here: a queue or agent filter never counts them.
--
-- call_rollup_hours.placed says whether an hour has its placements: 1
-- yes, 0 not (rolled up before, or by a previous version: the column's
-- default), -1 never. A queue or agent filter reads the hours at 0 or -1
-- from their records while they are held, and counts the calls whose
-- records are gone as not filterable.
CREATE TABLE call_rollup_placements (
    hour_start               BIGINT NOT NULL,
    service_line             TEXT NOT NULL,
    outcome                  TEXT NOT NULL,
    idv_status               TEXT NOT NULL,
    idv_method               TEXT NOT NULL,
    queue                    TEXT NOT NULL,
    agent_rung               TEXT NOT NULL,
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
    PRIMARY KEY (hour_start, service_line, outcome, idv_status, idv_method, queue, agent_rung)
);

ALTER TABLE call_rollup_hours ADD COLUMN placed BIGINT NOT NULL DEFAULT 0;
