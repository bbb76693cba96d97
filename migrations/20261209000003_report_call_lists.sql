-- Scheduled call lists ([[reports.schedule]] calls = true, of the lines
-- that opt in): a stored file that lists calls holds customer data. It is
-- marked, and the calls it lists are kept beside it, so that an erasure
-- rewrites every stored file that lists the customer's calls without them,
-- and retention deletes it with the records. A release before this one
-- writes report files with lists_calls = 0 (it writes no call lists).
ALTER TABLE report_files ADD COLUMN lists_calls BIGINT NOT NULL DEFAULT 0;

CREATE TABLE report_file_calls (
    call_sid TEXT NOT NULL,
    name     TEXT NOT NULL,
    PRIMARY KEY (call_sid, name)
);
