//! The SQLite history store's statements that read alerts through the
//! lookup views, in one place so that `plans` can check how SQLite runs
//! each of them.

/// One alert's row, by fingerprint (see [`super::fingerprints`] for the lookup).
/// Alerts are read through `alertkit_alerts_current`, which resolves a
/// verdict stored in an event (see [`super::verdicts`]).
pub(super) const SELECT_ALERT: &str = "SELECT * FROM alertkit_alerts_current \
     WHERE id = (SELECT alert_id FROM alertkit_fingerprints WHERE fingerprint = ?1)";

/// One alert's timeline rows, by its row id (see [`crate::sql::timeline`]).
pub(super) const TIMELINE: &str = "SELECT * FROM alertkit_events \
     WHERE alert_id = (SELECT alert_id FROM alertkit_fingerprints WHERE fingerprint = ?1) \
     ORDER BY id";

/// The stored rows of a batch's fingerprints (a JSON array of keys).
pub(super) const STORED: &str = "SELECT * FROM alertkit_alerts_current WHERE id IN (SELECT alert_id \
     FROM alertkit_fingerprints WHERE fingerprint IN (SELECT value FROM json_each(?1)))";

/// `attach_classifications`' `classified` events, for the items (`?1`,
/// JSON) whose instance is current. Each alert is looked up by a scalar
/// subquery: a join with the `alertkit_fingerprints` view would make SQLite
/// materialize all of it.
pub(super) const ATTACH_EVENTS: &str = "INSERT OR FAIL INTO alertkit_events \
     (alert_id, fingerprint, kind, at, status, starts_at, ends_at, annotations, classification) \
     SELECT a.id, a.fingerprint, 'classified', ?2, a.status, a.starts_at, a.ends_at, NULL, \
       j.value ->> '$.c' \
     FROM json_each(?1) AS j \
     JOIN alertkit_alerts a ON a.id = (SELECT alert_id FROM alertkit_fingerprints \
                                       WHERE fingerprint = j.value ->> '$.fp') \
       AND a.starts_at = j.value ->> '$.s' \
     ORDER BY j.key \
     RETURNING id, alert_id, fingerprint, starts_at";

/// Points alerts (`?1`: JSON `{a: alert id, e: event id, sev}`) at the
/// event holding their verdict.
pub(super) const ATTACH_NAMED: &str = "UPDATE OR FAIL alertkit_alerts SET classification = NULL, \
       classification_event = j.value ->> '$.e', \
       severity = coalesce(j.value ->> '$.sev', severity) \
     FROM json_each(?1) AS j WHERE alertkit_alerts.id = j.value ->> '$.a'";

/// A page of alerts by `last_changed`, newest first (filters `?1`–`?3`,
/// keyset cursor `?4`/`?5`, limit `?6`).
pub(super) const NEWEST_FIRST: &str = "SELECT * FROM alertkit_alerts_current \
     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR last_changed >= ?2) \
       AND (?3 IS NULL OR last_changed < ?3) \
       AND (?4 IS NULL OR (last_changed, fingerprint) < (?4, ?5)) \
     ORDER BY last_changed DESC, fingerprint DESC LIMIT ?6";
/// [`NEWEST_FIRST`], oldest first.
pub(super) const OLDEST_FIRST: &str = "SELECT * FROM alertkit_alerts_current \
     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR last_changed >= ?2) \
       AND (?3 IS NULL OR last_changed < ?3) \
       AND (?4 IS NULL OR (last_changed, fingerprint) > (?4, ?5)) \
     ORDER BY last_changed ASC, fingerprint ASC LIMIT ?6";

/// Turns the writer's inserts into updates of every mutable column.
pub(super) const UPSERT: &str = " ON CONFLICT (id) DO UPDATE SET \
       annotations = excluded.annotations, status = excluded.status, \
       starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
       last_seen = excluded.last_seen, last_changed = excluded.last_changed, \
       fire_count = excluded.fire_count, transitions = excluded.transitions, \
       classification = excluded.classification, \
       classification_event = excluded.classification_event, \
       generator_url = excluded.generator_url, severity = excluded.severity";
