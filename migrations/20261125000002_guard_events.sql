-- Security counters shared by every Vouch on this database: failed
-- verifications per customer (lockout) and unknown identifiers per caller
-- number (enumeration). `subject` is a customer id, or a keyed hash of a
-- caller's number (never the number itself). Nothing the caller keyed.
CREATE TABLE guard_events (
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);

CREATE INDEX guard_events_subject ON guard_events (kind, subject, at);
CREATE INDEX guard_events_at ON guard_events (at);

-- A call whose customer's verification was locked.
ALTER TABLE call_records ADD COLUMN lockout BIGINT NOT NULL DEFAULT 0;
