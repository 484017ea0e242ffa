-- Fingerprint lookups in two levels instead of one unique index on
-- alertkit_alerts (physical only; every query sees the same rows).
--
-- Fingerprints are random, so a unique index on them takes every new alert
-- onto a random page of the index. A WAL commit writes each page it dirtied
-- in full, so once the index has more pages than a batch has new alerts,
-- every new alert costs a 16 KiB page image in the WAL (and again at the
-- checkpoint): ingest slowed and wrote more per alert as the database grew.
--
-- Now new alerts' fingerprints go into a small table, `…_recent`, whose few
-- pages every batch rewrites anyway; the store moves them into the large
-- `…_settled` table a sixteenth of the fingerprint range at a time, so that
-- each settled page is rewritten once per many thousand new alerts rather
-- than once per batch (see `sqlite/fingerprints.rs`). The view
-- `alertkit_fingerprints` is both; SQLite pushes `fingerprint = ?` and
-- `fingerprint IN (…)` into each table's primary key.

CREATE TABLE alertkit_fingerprints_recent (
    fingerprint INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL
) STRICT;

CREATE TABLE alertkit_fingerprints_settled (
    fingerprint INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL
) STRICT;

CREATE VIEW alertkit_fingerprints AS
    SELECT fingerprint, alert_id FROM alertkit_fingerprints_recent
    UNION ALL
    SELECT fingerprint, alert_id FROM alertkit_fingerprints_settled;

-- alertkit_alerts without its UNIQUE fingerprint (a column constraint
-- cannot be dropped in place: the table is rebuilt, with the same rowids).
CREATE TABLE alertkit_alerts_rebuilt (
    id             INTEGER PRIMARY KEY,
    fingerprint    INTEGER NOT NULL,
    labels         TEXT    NOT NULL,
    annotations    TEXT    NOT NULL,
    status         INTEGER NOT NULL,
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    last_changed   INTEGER NOT NULL,
    fire_count     INTEGER NOT NULL,
    transitions    INTEGER NOT NULL,
    classification TEXT,
    generator_url  TEXT    NOT NULL,
    severity       TEXT    NOT NULL DEFAULT 'unknown',
    namespace      TEXT    NOT NULL DEFAULT ''
) STRICT;

INSERT INTO alertkit_alerts_rebuilt
    (id, fingerprint, labels, annotations, status, starts_at, ends_at, first_seen,
     last_seen, last_changed, fire_count, transitions, classification, generator_url,
     severity, namespace)
SELECT id, fingerprint, labels, annotations, status, starts_at, ends_at, first_seen,
       last_seen, last_changed, fire_count, transitions, classification, generator_url,
       severity, namespace
FROM alertkit_alerts ORDER BY id;

INSERT INTO alertkit_fingerprints_settled (fingerprint, alert_id)
SELECT fingerprint, id FROM alertkit_alerts ORDER BY fingerprint;

-- Dropping the old table drops its indexes and its trigger too.
DROP TABLE alertkit_alerts;
ALTER TABLE alertkit_alerts_rebuilt RENAME TO alertkit_alerts;

CREATE INDEX alertkit_alerts_last_changed
    ON alertkit_alerts (last_changed, fingerprint, status, severity);
CREATE INDEX alertkit_alerts_namespace ON alertkit_alerts (namespace, last_changed);

-- Every new alert row is mapped, and one fingerprint has one row: the
-- database itself refuses a second, whichever code writes. (FAIL, not
-- ABORT: an abortable statement makes SQLite keep a statement journal.)
CREATE TRIGGER alertkit_alerts_mapped AFTER INSERT ON alertkit_alerts
BEGIN
    SELECT RAISE(FAIL, 'UNIQUE constraint failed: alertkit_alerts.fingerprint')
    WHERE EXISTS (SELECT 1 FROM alertkit_fingerprints_settled
                  WHERE fingerprint = new.fingerprint);
    INSERT INTO alertkit_fingerprints_recent (fingerprint, alert_id)
    VALUES (new.fingerprint, new.id);
END;

-- A fingerprint never changes; refuse it rather than leave a stale mapping.
CREATE TRIGGER alertkit_alerts_fingerprint_fixed
    BEFORE UPDATE OF fingerprint ON alertkit_alerts
    WHEN new.fingerprint IS NOT old.fingerprint
BEGIN
    SELECT RAISE(FAIL, 'an alert''s fingerprint cannot change');
END;

CREATE TRIGGER alertkit_alerts_pruned AFTER DELETE ON alertkit_alerts
BEGIN
    DELETE FROM alertkit_events WHERE alert_id = old.id;
    DELETE FROM alertkit_fingerprints_recent WHERE fingerprint = old.fingerprint;
    DELETE FROM alertkit_fingerprints_settled WHERE fingerprint = old.fingerprint;
END;
