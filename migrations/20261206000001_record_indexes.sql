-- The figures count calls by when they started (GET /api/stats, the
-- dashboard, reports); an erasure finds a customer's calls by their id.
CREATE INDEX call_records_started_at ON call_records (started_at);
CREATE INDEX call_records_customer_id ON call_records (customer_id);
