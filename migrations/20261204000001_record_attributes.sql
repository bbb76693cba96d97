-- The customer's extra attributes the CRM returned (segment, tier…, the
-- names the configuration gives them): a JSON object of strings, NULL when
-- none. They belong to the record: erasure and retention delete them with
-- the row. Nothing the caller keyed.
ALTER TABLE call_records ADD COLUMN attributes TEXT;
