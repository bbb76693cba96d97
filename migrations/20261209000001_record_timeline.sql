-- A call's timeline, for the supervisors' view of one call: what each step
-- did and when (the kind of each entry, never its digits; each CRM
-- question's answer class and wait; the prompts played; the hand-off;
-- agent states and status callbacks), as a JSON array; NULL when empty.
-- A release before this one neither reads nor writes it, so a rolling
-- upgrade keeps what this release wrote.
ALTER TABLE call_records ADD COLUMN timeline TEXT;
