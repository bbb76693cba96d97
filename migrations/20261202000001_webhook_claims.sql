-- One row per voice webhook that has been taken: a flow state (keyed by the
-- SHA-256 of its token) or a call's first webhook ("start:" + CallSid). The
-- first request claims it; every later copy gets `answer`, the TwiML the
-- first one gave. A claim with no answer after the webhook deadline lapses
-- and may be taken over. Rows older than the state lifetime are purged.
-- Nothing the caller keyed is stored: answers are the TwiML Vouch sent.
CREATE TABLE webhook_claims (
    key         TEXT PRIMARY KEY,
    call_sid    TEXT NOT NULL,
    claimed_at  BIGINT NOT NULL,
    answer      TEXT,
    answered_at BIGINT
);

CREATE INDEX webhook_claims_claimed_at ON webhook_claims (claimed_at);
