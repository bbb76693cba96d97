-- Login sessions, so a logout (or a removed user, or a changed password)
-- ends a session on every Vouch sharing this database. `id` is the random
-- id inside the signed cookie; `fingerprint` a keyed hash of the password
-- hash the user logged in with (never the hash itself).
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The audit log: who did what to which call or customer, and every login.
-- `id` sorts by time (microseconds in hex, then random digits). `target`
-- is `call:<CallSid>`, `user:<name>` or `customer:<keyed hash>`: never a
-- customer id in the clear. `detail` is a JSON object.
CREATE TABLE audit_log (
    id     TEXT PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
