-- What the CRM cost the call, as the caller waited on it: the questions
-- its steps asked (a caller-ID or identifier lookup, a verification; an
-- answer from Vouch's cache counts, as the caller waited on it too), those
-- that failed (an error, a timeout, an open breaker), and the milliseconds
-- spent waiting on them all. The dashboard's CRM latency and error rate
-- add these up. Nothing the caller keyed.
ALTER TABLE call_records ADD COLUMN crm_asked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_records ADD COLUMN crm_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_records ADD COLUMN crm_wait_ms BIGINT NOT NULL DEFAULT 0;
