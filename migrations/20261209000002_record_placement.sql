-- Where a hand-off put the call with the agents, where Vouch knows it: the
-- queue (a plain <Enqueue>'s, or the one a dial hand-off fell back to) and
-- the agent a dial hand-off rang. No customer data. The reports filter on
-- them, through these indexes (partial: a call still in the IVR, or sent to
-- self-service, has neither, and costs no index entry).
ALTER TABLE call_records ADD COLUMN queue TEXT;
ALTER TABLE call_records ADD COLUMN agent TEXT;
CREATE INDEX call_records_queue ON call_records (queue, started_at) WHERE queue IS NOT NULL;
CREATE INDEX call_records_agent ON call_records (agent, started_at) WHERE agent IS NOT NULL;
