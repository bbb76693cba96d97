-- A reservation's token: a try is counted (reserved) before the CRM is
-- asked, and a reservation the CRM's answer does not count (an identifier
-- found, a CRM error) is taken back by its token. Random, never keyed input.
ALTER TABLE guard_events ADD COLUMN token TEXT;
