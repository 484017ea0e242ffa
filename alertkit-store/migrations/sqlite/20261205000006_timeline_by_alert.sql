-- The timeline keyed by the alert's row id. A new alert's id is the next in
-- sequence, so its first events append at the end of the index; keyed by
-- the random fingerprint, each event landed on a random page, the largest
-- single cost of writing one. Retention finds old events through
-- alertkit_events_stats (kind, at, ...), one range per kind, so the index on
-- `at` alone goes too. Postgres's 0006 makes the same change.
--
-- What changes for readers: an alert's timeline is reachable through its
-- alert row only. Pruning an alert deletes its timeline (even events newer
-- than the cutoff), and events of alerts pruned before this migration
-- (no row to key them by) are no longer returned; retention deletes them
-- by age.
DROP INDEX alertkit_events_fingerprint;
DROP INDEX alertkit_events_at;

ALTER TABLE alertkit_events ADD COLUMN alert_id INTEGER;

UPDATE alertkit_events SET alert_id =
    (SELECT a.id FROM alertkit_alerts a WHERE a.fingerprint = alertkit_events.fingerprint);

CREATE INDEX alertkit_events_alert ON alertkit_events (alert_id, id);

-- Row ids may be reused once the highest is deleted: an alert's events go
-- with it, so a later alert never inherits them.
CREATE TRIGGER alertkit_alerts_pruned AFTER DELETE ON alertkit_alerts
BEGIN
    DELETE FROM alertkit_events WHERE alert_id = old.id;
END;
