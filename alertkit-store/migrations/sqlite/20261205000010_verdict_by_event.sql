-- An alert's current verdict is usually the one its newest timeline row
-- already carries (a rule verdict is recorded with the firing it
-- classifies). The alert row then names that event instead of holding a
-- second copy of the verdict's JSON, about a quarter of the bytes a new
-- alert writes.
--
-- At most one of `classification` and `classification_event` is set:
-- `classification` holds the verdict itself, `classification_event` the
-- id of the `alertkit_events` row whose `classification` it is. Rows written
-- before this migration keep their verdicts in place.
ALTER TABLE alertkit_alerts ADD COLUMN classification_event INTEGER;

-- Every read of an alert goes through this view: `classification` is the
-- verdict wherever it is stored. SQLite evaluates the lookup only for rows
-- that name an event, and flattens the view into queries, so they keep
-- their indexes.
CREATE VIEW alertkit_alerts_current AS
    SELECT a.id, a.fingerprint, a.labels, a.annotations, a.status, a.starts_at, a.ends_at,
           a.first_seen, a.last_seen, a.last_changed, a.fire_count, a.transitions,
           coalesce(a.classification,
                    (SELECT e.classification FROM alertkit_events e
                     WHERE e.id = a.classification_event)) AS classification,
           a.classification_event, a.generator_url, a.severity, a.namespace
    FROM alertkit_alerts a;

-- Retention deletes old events, also of alerts that are still current: an
-- event an alert names hands its verdict to the alert row first, so no
-- prune (or hand-written DELETE) can lose a current verdict. A verdict the
-- row already holds (written by a binary that predates this column) wins.
CREATE TRIGGER alertkit_events_verdict_kept
    BEFORE DELETE ON alertkit_events
    WHEN old.classification IS NOT NULL
BEGIN
    UPDATE alertkit_alerts
    SET classification = coalesce(classification, old.classification),
        classification_event = NULL
    WHERE id = old.alert_id AND classification_event = old.id;
END;
