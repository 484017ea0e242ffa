-- The timeline keyed by the alert's row id (physical only; the logical
-- schema is unchanged). A new alert's id is the next in sequence, so its
-- first events append at the end of the index; keyed by the random
-- fingerprint, each event landed on a random page, the largest single cost
-- of writing one. Postgres's 0006 makes the same change.
ALTER TABLE alertkit_events ADD COLUMN alert_id INTEGER;

-- Events whose alert row is already pruned keep a NULL id: no timeline can
-- reach them any more, and retention deletes them by age.
UPDATE alertkit_events SET alert_id =
    (SELECT a.id FROM alertkit_alerts a WHERE a.fingerprint = alertkit_events.fingerprint);

DROP INDEX alertkit_events_fingerprint;
CREATE INDEX alertkit_events_alert ON alertkit_events (alert_id, id);

-- Pruning an alert takes its timeline with it (row ids may be reused, and
-- a timeline is only reachable through its alert).
CREATE TRIGGER alertkit_alerts_pruned AFTER DELETE ON alertkit_alerts
BEGIN
    DELETE FROM alertkit_events WHERE alert_id = old.id;
END;
