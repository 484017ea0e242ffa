-- The timeline keyed by the alert's row id. A new alert's id is the next
-- from its identity sequence, so its first events append at the right edge
-- of the index; keyed by the random fingerprint, each event landed on a
-- random page (and, after every checkpoint, a full-page image in the WAL).
-- Retention finds old events through alertkit_events_stats (kind, at, ...),
-- one range per kind, so the index on `at` alone goes too. SQLite's 0006
-- makes the same change.
--
-- What changes for readers: an alert's timeline is reachable through its
-- alert row only. Pruning an alert deletes its timeline (even events newer
-- than the cutoff), and events of alerts pruned before this migration (no
-- row to key them by) are no longer returned; retention deletes them by age.
--
-- Upgrading: stop every replica of an earlier version first. This
-- migration holds an exclusive lock on alertkit_events while it rewrites
-- each row once (the old indexes are dropped first, so only the primary key
-- and the stats index take the new row versions; VACUUM afterwards returns
-- the space), and the check below refuses events written without alert_id,
-- which is what an earlier version would write.
DROP INDEX alertkit_events_fingerprint;
DROP INDEX alertkit_events_at;

ALTER TABLE alertkit_events ADD COLUMN alert_id BIGINT;

UPDATE alertkit_events e SET alert_id = a.id
    FROM alertkit_alerts a WHERE a.fingerprint = e.fingerprint;

-- New rows only (NOT VALID): rows of pruned alerts keep their NULL.
ALTER TABLE alertkit_events ADD CONSTRAINT alertkit_events_alert_id
    CHECK (alert_id IS NOT NULL) NOT VALID;

CREATE INDEX alertkit_events_alert ON alertkit_events (alert_id, id);

-- Pruning alerts takes their timelines with them, one statement per prune
-- batch. `SET search_path FROM CURRENT` pins the function's search_path to
-- the one this migration runs with (the store's schema, when it has one).
CREATE FUNCTION alertkit_alerts_pruned() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM alertkit_events e USING pruned p WHERE e.alert_id = p.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER alertkit_alerts_pruned AFTER DELETE ON alertkit_alerts
    REFERENCING OLD TABLE AS pruned
    FOR EACH STATEMENT EXECUTE FUNCTION alertkit_alerts_pruned();
