-- alertkit outbox: one row per (target, notifiable change), enqueued in the
-- transaction that records the change. Times are Unix nanoseconds.

CREATE TABLE alertkit_outbox (
    id           INTEGER PRIMARY KEY,
    target       TEXT    NOT NULL,
    dedup_key    TEXT    NOT NULL,   -- the state change (Notification::dedup_key)
    fingerprint  INTEGER NOT NULL,
    kind         TEXT    NOT NULL,   -- firing, resolved, refired
    payload      TEXT    NOT NULL,   -- a one-alert Alertmanager v4 webhook message
    received_at  INTEGER NOT NULL,
    enqueued_at  INTEGER NOT NULL,
    state        INTEGER NOT NULL,   -- 0 pending, 1 in flight, 2 done
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       INTEGER NOT NULL,   -- pending: when it may be claimed; in flight: lease end
    locked_by    TEXT,
    last_error   TEXT,
    last_status  INTEGER,
    done_at      INTEGER,
    UNIQUE (dedup_key, target)  -- also serves the hand-off lookup by dedup_key
) STRICT;

CREATE INDEX alertkit_outbox_due ON alertkit_outbox (due_at, id) WHERE state < 2;
CREATE INDEX alertkit_outbox_order ON alertkit_outbox (target, fingerprint, id) WHERE state < 2;
CREATE INDEX alertkit_outbox_done ON alertkit_outbox (done_at) WHERE state = 2;

CREATE TABLE alertkit_dead_letters (
    id           INTEGER PRIMARY KEY,  -- the outbox row's id
    target       TEXT    NOT NULL,
    dedup_key    TEXT    NOT NULL,
    fingerprint  INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    enqueued_at  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    last_status  INTEGER,
    died_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX alertkit_dead_letters_died ON alertkit_dead_letters (died_at);

-- Every attempt at every target: the notification audit trail.
CREATE TABLE alertkit_delivery_log (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL,
    target       TEXT    NOT NULL,
    fingerprint  INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    outcome      TEXT    NOT NULL,   -- delivered, skipped, retry, dead
    status       INTEGER,
    detail       TEXT,
    latency_us   INTEGER NOT NULL
) STRICT;

CREATE INDEX alertkit_delivery_log_fingerprint ON alertkit_delivery_log (fingerprint, id);
CREATE INDEX alertkit_delivery_log_at ON alertkit_delivery_log (at);

-- What each target called its message about an alert (Slack channel:ts,
-- Rootly alert id), so a resolve can update what the firing created.
CREATE TABLE alertkit_delivery_refs (
    target       TEXT    NOT NULL,
    fingerprint  INTEGER NOT NULL,
    remote_ref   TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (target, fingerprint)
) STRICT;
