-- The timeline keyed by the alert's row id (physical only; the logical
-- schema is unchanged). A new alert's id is the next from its identity
-- sequence, so its first events append at the right edge of the index;
-- keyed by the random fingerprint, each event landed on a random page (and,
-- after every checkpoint, a full-page image in the WAL). SQLite's 0006
-- makes the same change.
ALTER TABLE alertkit_events ADD COLUMN alert_id BIGINT;

-- Events whose alert row is already pruned keep a NULL id: no timeline can
-- reach them any more, and retention deletes them by age.
UPDATE alertkit_events e SET alert_id = a.id
    FROM alertkit_alerts a WHERE a.fingerprint = e.fingerprint;

DROP INDEX alertkit_events_fingerprint;
CREATE INDEX alertkit_events_alert ON alertkit_events (alert_id, id);

-- Pruning alerts takes their timelines with them, one statement per prune
-- batch. The function resolves table names in the schema it was created in.
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
