-- alertkit history: one current-state row per alert, and an append-only timeline.
-- Times are Unix nanoseconds from the application clock. Fingerprints are the
-- u64 with its sign bit flipped, so INTEGER order equals fingerprint order.

CREATE TABLE alertkit_alerts (
    -- Rows are appended in rowid order; fingerprints are random, so they get
    -- a compact unique index instead of ordering the (wide) rows themselves.
    id             INTEGER PRIMARY KEY,
    fingerprint    INTEGER NOT NULL UNIQUE,
    labels         TEXT    NOT NULL,   -- JSON object, names sorted
    annotations    TEXT    NOT NULL,   -- JSON object, names sorted
    status         INTEGER NOT NULL,   -- 0 firing, 1 resolved
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    last_changed   INTEGER NOT NULL,
    fire_count     INTEGER NOT NULL,
    transitions    INTEGER NOT NULL,
    classification TEXT,               -- JSON, the latest verdict
    generator_url  TEXT    NOT NULL
) STRICT;

CREATE INDEX alertkit_alerts_last_changed ON alertkit_alerts (last_changed, fingerprint);

CREATE TABLE alertkit_events (
    id             INTEGER PRIMARY KEY,
    fingerprint    INTEGER NOT NULL,
    kind           TEXT    NOT NULL,   -- firing, resolved, refired, annotations_changed, classified
    at             INTEGER NOT NULL,
    status         INTEGER NOT NULL,
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER,
    annotations    TEXT,
    classification TEXT
) STRICT;

CREATE INDEX alertkit_events_fingerprint ON alertkit_events (fingerprint, id);
