-- alertkit outbox: the same logical schema as the SQLite store. One row per
-- (target, notifiable change), enqueued in the transaction that records it.

CREATE TABLE alertkit_outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target       TEXT    NOT NULL,
    dedup_key    TEXT    NOT NULL,   -- the state change (Notification::dedup_key)
    fingerprint  BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,   -- firing, resolved, refired
    payload      TEXT    NOT NULL,   -- a one-alert Alertmanager v4 webhook message
    received_at  BIGINT  NOT NULL,
    enqueued_at  BIGINT  NOT NULL,
    state        BIGINT  NOT NULL,   -- 0 pending, 1 in flight, 2 done
    attempts     BIGINT  NOT NULL DEFAULT 0,
    due_at       BIGINT  NOT NULL,   -- pending: when it may be claimed; in flight: lease end
    locked_by    TEXT,
    last_error   TEXT,
    last_status  BIGINT,
    done_at      BIGINT,
    UNIQUE (dedup_key, target)  -- also serves the hand-off lookup by dedup_key
);

CREATE INDEX alertkit_outbox_due ON alertkit_outbox (due_at, id) WHERE state < 2;
CREATE INDEX alertkit_outbox_order ON alertkit_outbox (target, fingerprint, id) WHERE state < 2;
CREATE INDEX alertkit_outbox_done ON alertkit_outbox (done_at) WHERE state = 2;

CREATE TABLE alertkit_dead_letters (
    id           BIGINT PRIMARY KEY,        -- the outbox row's id
    target       TEXT    NOT NULL,
    dedup_key    TEXT    NOT NULL,
    fingerprint  BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    enqueued_at  BIGINT  NOT NULL,
    attempts     BIGINT  NOT NULL,
    last_error   TEXT,
    last_status  BIGINT,
    died_at      BIGINT  NOT NULL
);

CREATE INDEX alertkit_dead_letters_died ON alertkit_dead_letters (died_at);

-- Every attempt at every target: the notification audit trail.
CREATE TABLE alertkit_delivery_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  BIGINT  NOT NULL,
    target       TEXT    NOT NULL,
    fingerprint  BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    attempt      BIGINT  NOT NULL,
    at           BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL,   -- delivered, skipped, retry, dead
    status       BIGINT,
    detail       TEXT,
    latency_us   BIGINT  NOT NULL
);

CREATE INDEX alertkit_delivery_log_fingerprint ON alertkit_delivery_log (fingerprint, id);
CREATE INDEX alertkit_delivery_log_at ON alertkit_delivery_log (at);

-- What each target called its message about an alert (Slack channel:ts,
-- Rootly alert id), so a resolve can update what the firing created.
CREATE TABLE alertkit_delivery_refs (
    target       TEXT    NOT NULL,
    fingerprint  BIGINT  NOT NULL,
    remote_ref   TEXT    NOT NULL,
    updated_at   BIGINT  NOT NULL,
    PRIMARY KEY (target, fingerprint)
);
