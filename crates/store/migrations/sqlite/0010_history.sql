-- History: retention deletes events by the time they were stored, oldest first, and a replay by
-- filters reads a time range of them; both find their rows through this index rather than by
-- scanning the event log.
CREATE INDEX events_created ON events(created_at_ms);
