-- alertkit history: the same logical schema as the SQLite store.
-- Times are Unix nanoseconds from the application clock. Fingerprints are the
-- u64 with its sign bit flipped, so BIGINT order equals fingerprint order.

CREATE TABLE alertkit_alerts (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint    BIGINT NOT NULL UNIQUE,
    labels         TEXT   NOT NULL,   -- JSON object, names sorted
    annotations    TEXT   NOT NULL,   -- JSON object, names sorted
    status         BIGINT NOT NULL,   -- 0 firing, 1 resolved
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    last_changed   BIGINT NOT NULL,
    fire_count     BIGINT NOT NULL,
    transitions    BIGINT NOT NULL,
    classification TEXT,              -- JSON, the latest verdict
    generator_url  TEXT   NOT NULL
);

CREATE INDEX alertkit_alerts_last_changed ON alertkit_alerts (last_changed, fingerprint);

CREATE TABLE alertkit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint    BIGINT NOT NULL,
    kind           TEXT   NOT NULL,   -- firing, resolved, refired, annotations_changed, classified
    at             BIGINT NOT NULL,
    status         BIGINT NOT NULL,
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT,
    annotations    TEXT,
    classification TEXT
);

CREATE INDEX alertkit_events_fingerprint ON alertkit_events (fingerprint, id);
