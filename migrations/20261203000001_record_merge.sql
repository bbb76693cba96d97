-- A row holding only a status callback that arrived before the call's
-- first webhook was written (1): never shown; the first webhook's write
-- completes it. Writes merge field by field into the stored row and the
-- database assigns the revision (compare-and-set on it).
ALTER TABLE call_records ADD COLUMN partial BIGINT NOT NULL DEFAULT 0;
