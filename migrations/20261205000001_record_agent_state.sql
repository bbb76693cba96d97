-- Where a handed-off call is with the agents, as Vouch sees it from the
-- routes Twilio requests for it: 'waiting' (its hold route), 'with_agent'
-- (a plain queue's connect document, a dialled agent's whisper, or the
-- Dial's action after an answered call); NULL before either. The agent
-- desk's live list shows it. Nothing the caller keyed.
ALTER TABLE call_records ADD COLUMN agent_state TEXT;
