-- Retention prunes the timeline by age.
CREATE INDEX alertkit_events_at ON alertkit_events (at);
