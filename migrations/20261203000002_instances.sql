-- A heartbeat row per running Vouch, refreshed every few seconds, so each
-- instance sees the others sharing its database: several on one SQLite
-- file is a mistake to warn about (a fleet needs PostgreSQL). Rows are
-- deleted at a clean exit; stale ones after a day.
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    db_kind     TEXT NOT NULL
);
