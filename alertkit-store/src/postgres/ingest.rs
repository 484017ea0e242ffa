//! The Postgres write path: `record` and `attach_classifications`, each a
//! constant number of round trips whatever the batch size.
//!
//! `record` is four: `BEGIN` with the advisory locks (one simple query),
//! the read of the batch's current rows, one statement that inserts the new
//! rows, updates the changed ones, appends the events and enqueues the
//! outbox rows (data-modifying CTEs over `UNNEST` arrays), and `COMMIT`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use alertkit_core::{AlertRecord, Classification, Receipt, RecordOutcome, StateKey, StoreError};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;

use crate::sql::codec::{self, VerdictJson, db, fp_key, json, nanos, status_code};
use crate::sql::outbox::EnqueueRows;
use crate::sql::timeline::{self, AlertIds, EventRow};

use super::hourly;

/// Advisory-lock class of alertkit's row locks (`pg_advisory_xact_lock(class, bucket)`),
/// so they never collide with other applications' single-key locks.
const LOCK_CLASS: i32 = 0x616b; // "ak"

/// Buckets fingerprints hash into: bounds the locks one transaction takes
/// (Postgres' lock table is shared and small) while keeping writers of
/// unrelated alerts mostly apart.
const LOCK_BUCKETS: i64 = 32;

/// Opens a transaction holding the advisory locks of the alerts `keys`, in
/// one round trip: `BEGIN` and the lock calls go as one simple query (the
/// bucket numbers are integers formatted here, nothing from the input is
/// spliced). Buckets are locked in ascending order, so two writers can never
/// deadlock; the statements after this one take their snapshots after the
/// locks are held, so they see every earlier writer's commit.
pub(super) async fn begin_locked<'c>(
    pool: &'c PgPool,
    keys: &[i64],
) -> Result<Transaction<'c, Postgres>, StoreError> {
    let mut buckets: Vec<i64> = keys.iter().map(|k| k.rem_euclid(LOCK_BUCKETS)).collect();
    buckets.sort_unstable();
    buckets.dedup();
    let mut sql = String::from("BEGIN; SELECT pg_advisory_xact_lock(");
    let _ = write!(sql, "{LOCK_CLASS}, b) FROM UNNEST('{{");
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "{b}");
    }
    sql.push_str("}'::int[]) AS t(b) ORDER BY b");
    pool.begin_with(sqlx::AssertSqlSafe(sql)).await.map_err(db)
}

/// Opens a transaction holding every bucket's lock: no writer is between
/// its read and its write of any alert while it lasts.
pub(super) async fn begin_locked_all(
    pool: &PgPool,
) -> Result<Transaction<'_, Postgres>, StoreError> {
    let every: Vec<i64> = (0..LOCK_BUCKETS).collect();
    begin_locked(pool, &every).await
}

fn opt_nanos(field: &str, t: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    t.map(|t| nanos(field, t)).transpose()
}

/// New `alertkit_alerts` rows as arrays, for one `UNNEST` insert.
#[derive(Default)]
struct NewRows {
    fingerprint: Vec<i64>,
    labels: Vec<String>,
    annotations: Vec<String>,
    status: Vec<i64>,
    starts_at: Vec<i64>,
    ends_at: Vec<Option<i64>>,
    first_seen: Vec<i64>,
    last_seen: Vec<i64>,
    last_changed: Vec<i64>,
    fire_count: Vec<i64>,
    transitions: Vec<i64>,
    classification: Vec<Option<String>>,
    generator_url: Vec<String>,
    severity: Vec<&'static str>,
    namespace: Vec<String>,
}

impl NewRows {
    fn push(&mut self, r: &AlertRecord, verdicts: &mut VerdictJson) -> Result<(), StoreError> {
        self.fingerprint.push(fp_key(r.fingerprint));
        self.labels.push(r.labels.to_json().to_owned());
        self.annotations.push(r.annotations.to_json().to_owned());
        self.status.push(status_code(r.status));
        self.starts_at.push(nanos("startsAt", r.starts_at)?);
        self.ends_at.push(opt_nanos("endsAt", r.ends_at)?);
        self.first_seen.push(nanos("first_seen", r.first_seen)?);
        self.last_seen.push(nanos("last_seen", r.last_seen)?);
        self.last_changed
            .push(nanos("last_changed", r.last_changed)?);
        self.fire_count.push(i64::from(r.fire_count));
        self.transitions.push(i64::from(r.transitions));
        self.classification
            .push(verdicts.get(r.classification.as_ref())?);
        self.generator_url
            .push(codec::url_text(&r.generator_url).into_owned());
        self.severity.push(r.severity().as_str());
        self.namespace.push(crate::sql::stats::namespace(&r.labels));
        Ok(())
    }
}

/// Updates of stored rows as arrays. Labels, `first_seen` and `namespace`
/// never change for a fingerprint and are not written; annotations,
/// classification and generator URL are sent only when they changed (`NULL`
/// / `false` keeps the stored value).
#[derive(Default)]
struct Updates {
    fingerprint: Vec<i64>,
    annotations: Vec<Option<String>>,
    status: Vec<i64>,
    starts_at: Vec<i64>,
    ends_at: Vec<Option<i64>>,
    last_seen: Vec<i64>,
    last_changed: Vec<i64>,
    fire_count: Vec<i64>,
    transitions: Vec<i64>,
    set_classification: Vec<bool>,
    classification: Vec<Option<String>>,
    generator_url: Vec<Option<String>>,
    severity: Vec<&'static str>,
}

impl Updates {
    fn push(
        &mut self,
        r: &AlertRecord,
        old: &AlertRecord,
        verdicts: &mut VerdictJson,
    ) -> Result<(), StoreError> {
        self.fingerprint.push(fp_key(r.fingerprint));
        self.annotations.push(if r.annotations == old.annotations {
            None
        } else {
            Some(r.annotations.to_json().to_owned())
        });
        self.status.push(status_code(r.status));
        self.starts_at.push(nanos("startsAt", r.starts_at)?);
        self.ends_at.push(opt_nanos("endsAt", r.ends_at)?);
        self.last_seen.push(nanos("last_seen", r.last_seen)?);
        self.last_changed
            .push(nanos("last_changed", r.last_changed)?);
        self.fire_count.push(i64::from(r.fire_count));
        self.transitions.push(i64::from(r.transitions));
        let same_verdict = match (&r.classification, &old.classification) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        };
        self.set_classification.push(!same_verdict);
        self.classification.push(if same_verdict {
            None
        } else {
            verdicts.get(r.classification.as_ref())?
        });
        self.generator_url
            .push(if r.generator_url == old.generator_url {
                None
            } else {
                Some(codec::url_text(&r.generator_url).into_owned())
            });
        self.severity.push(r.severity().as_str());
        Ok(())
    }
}

/// Timeline rows as arrays (see [`crate::sql::timeline`]).
#[derive(Default)]
struct Events {
    /// Known for stored alerts; a new alert's comes from its insert.
    alert_id: Vec<Option<i64>>,
    fingerprint: Vec<i64>,
    kind: Vec<&'static str>,
    at: Vec<i64>,
    status: Vec<i64>,
    starts_at: Vec<i64>,
    ends_at: Vec<Option<i64>>,
    annotations: Vec<Option<String>>,
    classification: Vec<Option<String>>,
}

impl Events {
    fn push(
        &mut self,
        row: &EventRow<'_>,
        ids: &AlertIds,
        verdicts: &mut VerdictJson,
    ) -> Result<(), StoreError> {
        let e = row.event;
        let key = fp_key(e.fingerprint);
        self.alert_id.push(ids.get(key));
        self.fingerprint.push(key);
        self.kind.push(e.kind.as_str());
        self.at.push(nanos("at", e.at)?);
        self.status.push(status_code(e.status));
        self.starts_at.push(nanos("startsAt", e.starts_at)?);
        self.ends_at.push(opt_nanos("endsAt", e.ends_at)?);
        self.annotations
            .push(e.annotations.as_ref().map(|a| a.to_json().to_owned()));
        self.classification.push(verdicts.get(row.verdict)?);
        Ok(())
    }
}

/// The one write statement of a `record`. Every part is a data-modifying
/// CTE; they all run to completion, whether or not the outer query reads
/// them. New rows are plain inserts: the advisory locks keep every other
/// writer of these fingerprints out until commit, and the unique
/// fingerprint index still guards it. The last part adds the write's
/// deltas to the hourly statistics counters.
const WRITE: &str = concat!(
    "WITH \
    ins AS (INSERT INTO alertkit_alerts \
      (fingerprint, labels, annotations, status, starts_at, ends_at, first_seen, last_seen, \
       last_changed, fire_count, transitions, classification, generator_url, severity, namespace) \
      SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
        $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], \
        $12::text[], $13::text[], $14::text[], $15::text[]) \
      RETURNING id, fingerprint), \
    upd AS (UPDATE alertkit_alerts a SET \
        annotations = coalesce(u.annotations, a.annotations), status = u.status, \
        starts_at = u.starts_at, ends_at = u.ends_at, last_seen = u.last_seen, \
        last_changed = u.last_changed, fire_count = u.fire_count, transitions = u.transitions, \
        classification = CASE WHEN u.set_c THEN u.classification ELSE a.classification END, \
        generator_url = coalesce(u.generator_url, a.generator_url), severity = u.severity \
      FROM UNNEST($16::bigint[], $17::text[], $18::bigint[], $19::bigint[], $20::bigint[], \
        $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bool[], $26::text[], \
        $27::text[], $28::text[]) AS u(fingerprint, annotations, status, starts_at, ends_at, \
        last_seen, last_changed, fire_count, transitions, set_c, classification, \
        generator_url, severity) \
      WHERE a.fingerprint = u.fingerprint), \
    ev AS (INSERT INTO alertkit_events \
      (alert_id, fingerprint, kind, at, status, starts_at, ends_at, annotations, \
       classification) \
      SELECT coalesce(x.alert_id, ins.id), x.fingerprint, x.kind, x.at, x.status, \
        x.starts_at, x.ends_at, x.annotations, x.classification \
      FROM UNNEST($45::bigint[], $29::bigint[], $30::text[], $31::bigint[], $32::bigint[], \
        $33::bigint[], $34::bigint[], $35::text[], $36::text[]) WITH ORDINALITY \
        AS x(alert_id, fingerprint, kind, at, status, starts_at, ends_at, annotations, \
          classification, n) \
      LEFT JOIN ins ON ins.fingerprint = x.fingerprint \
      ORDER BY x.n), \
    q AS (INSERT INTO alertkit_outbox \
      (target, dedup_key, fingerprint, kind, payload, received_at, due_at, enqueued_at, state) \
      SELECT t, d, f, k, p, r, u, $44, 0 FROM UNNEST($37::text[], $38::text[], $39::bigint[], \
        $40::text[], $41::text[], $42::bigint[], $43::bigint[]) AS x(t, d, f, k, p, r, u) \
      ON CONFLICT (target, dedup_key) DO NOTHING), \
    st AS (",
    hourly::add_to_counters!(),
    hourly::unnest_deltas!(),
    hourly::counters_add_up!(),
    ") SELECT 1"
);

/// `HistoryStore::record_classified` for Postgres (`record` with no
/// verdicts): the verdicts go into the rows and events the statement
/// writes anyway, in the same transaction.
pub(super) async fn record(
    pool: &PgPool,
    outbox: &crate::sql::outbox::OutboxState,
    receipts: &[Receipt],
    verdicts: &[Option<Arc<Classification>>],
) -> Result<RecordOutcome, StoreError> {
    crate::sql::check_times(receipts)?;
    if receipts.is_empty() {
        return Ok(RecordOutcome::default());
    }
    let keys: Vec<i64> = receipts
        .iter()
        .map(|r| fp_key(r.alert.fingerprint()))
        .collect();
    let mut tx = begin_locked(pool, &keys).await?;
    let rows = sqlx::query("SELECT * FROM alertkit_alerts WHERE fingerprint = ANY($1)")
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    // The rows as read, to write only what the batch moved.
    let mut before: HashMap<i64, AlertRecord> = HashMap::with_capacity(rows.len());
    let mut ids = AlertIds::with_capacity(rows.len());
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        let record = codec::record(row)?;
        ids.insert(fp_key(record.fingerprint), row.try_get("id").map_err(db)?);
        before.insert(fp_key(record.fingerprint), record.clone());
        stored.push(record);
    }
    drop(rows);
    let batch = crate::sql::apply_batch(receipts, &keys, stored, verdicts);
    let now = OffsetDateTime::now_utc();
    let queued = EnqueueRows::build(&outbox.options(), receipts, &batch.changes, now)?;
    let mut verdicts = VerdictJson::default();
    let mut new = NewRows::default();
    let mut upd = Updates::default();
    let mut deltas = hourly::Deltas::default();
    for r in &batch.records {
        match before.get(&fp_key(r.fingerprint)) {
            None => {
                new.push(r, &mut verdicts)?;
                deltas.alert(r, 1)?;
            }
            // An exact replay of what is stored (a stale receipt): nothing to write.
            Some(old) if old == r => {}
            Some(old) => {
                upd.push(r, old, &mut verdicts)?;
                deltas.alert(old, -1)?;
                deltas.alert(r, 1)?;
            }
        }
    }
    let mut ev = Events::default();
    for row in timeline::rows(&batch.events) {
        ev.push(&row, &ids, &mut verdicts)?;
    }
    for (((kind, at), starts_at), ends_at) in ev
        .kind
        .iter()
        .zip(&ev.at)
        .zip(&ev.starts_at)
        .zip(&ev.ends_at)
    {
        deltas.event(kind, *at, *starts_at, *ends_at);
    }
    let write = sqlx::query(WRITE)
        .bind(new.fingerprint)
        .bind(new.labels)
        .bind(new.annotations)
        .bind(new.status)
        .bind(new.starts_at)
        .bind(new.ends_at)
        .bind(new.first_seen)
        .bind(new.last_seen)
        .bind(new.last_changed)
        .bind(new.fire_count)
        .bind(new.transitions)
        .bind(new.classification)
        .bind(new.generator_url)
        .bind(new.severity)
        .bind(new.namespace)
        .bind(upd.fingerprint)
        .bind(upd.annotations)
        .bind(upd.status)
        .bind(upd.starts_at)
        .bind(upd.ends_at)
        .bind(upd.last_seen)
        .bind(upd.last_changed)
        .bind(upd.fire_count)
        .bind(upd.transitions)
        .bind(upd.set_classification)
        .bind(upd.classification)
        .bind(upd.generator_url)
        .bind(upd.severity)
        .bind(ev.fingerprint)
        .bind(ev.kind)
        .bind(ev.at)
        .bind(ev.status)
        .bind(ev.starts_at)
        .bind(ev.ends_at)
        .bind(ev.annotations)
        .bind(ev.classification)
        .bind(&queued.target)
        .bind(&queued.dedup_key)
        .bind(&queued.fingerprint)
        .bind(&queued.kind)
        .bind(&queued.payload)
        .bind(&queued.received_at)
        .bind(&queued.due_at)
        .bind(nanos("now", now)?)
        .bind(ev.alert_id);
    deltas
        .rows()
        .bind(write)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(RecordOutcome {
        changes: batch.changes,
    })
}

/// The statement of [`attach_classifications`]. `moved` reads the rows as
/// they were before it (every part of a statement shares one snapshot).
const ATTACH: &str = concat!(
    "WITH i AS (SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[]) \
       WITH ORDINALITY AS i(fp, s, c, sev, n)), \
     ev AS (INSERT INTO alertkit_events \
       (alert_id, fingerprint, kind, at, status, starts_at, ends_at, classification) \
       SELECT a.id, a.fingerprint, 'classified', $5, a.status, a.starts_at, a.ends_at, i.c \
       FROM i JOIN alertkit_alerts a ON a.fingerprint = i.fp AND a.starts_at = i.s \
       ORDER BY i.n \
       RETURNING fingerprint, starts_at), \
     last AS (SELECT DISTINCT ON (fp, s) fp, s, c, sev FROM i ORDER BY fp, s, n DESC), \
     upd AS (UPDATE alertkit_alerts a SET classification = l.c, severity = l.sev \
       FROM last l WHERE a.fingerprint = l.fp AND a.starts_at = l.s), \
     moved AS (SELECT a.last_changed AS t, a.namespace AS ns, a.severity AS was, l.sev AS now \
       FROM last l JOIN alertkit_alerts a ON a.fingerprint = l.fp AND a.starts_at = l.s \
       WHERE a.severity <> l.sev), \
     st AS (",
    hourly::add_to_counters!(),
    "SELECT 0, t / 3600000000000 - (t % 3600000000000 < 0)::int AS h, ns, 0, 0, \
       sum((now = 'critical')::int - (was = 'critical')::int), \
       sum((now = 'warning')::int - (was = 'warning')::int), \
       sum((now = 'info')::int - (was = 'info')::int), \
       sum((now = 'noise')::int - (was = 'noise')::int), 0, 0, 0, 0 \
     FROM moved GROUP BY h, ns ORDER BY h, ns",
    hourly::counters_add_up!(),
    ") SELECT fingerprint, starts_at FROM ev"
);

/// `HistoryStore::attach_classifications` for Postgres: one statement
/// appends the `classified` events (in item order), sets each alert's
/// current verdict (the last item for an instance wins, as if applied in
/// order) and moves the alerts whose severity changes between the hourly
/// statistics counters; items whose instance is no longer current match
/// no row.
pub(super) async fn attach_classifications(
    pool: &PgPool,
    items: &[(StateKey, Arc<Classification>)],
    at: OffsetDateTime,
) -> Result<Vec<bool>, StoreError> {
    let at_nanos = nanos("at", at)?;
    let mut fp = Vec::with_capacity(items.len());
    let mut starts = Vec::with_capacity(items.len());
    let mut verdict = Vec::with_capacity(items.len());
    let mut severity = Vec::with_capacity(items.len());
    for (key, c) in items {
        let Ok(s) = i64::try_from(key.starts_at) else {
            continue;
        };
        fp.push(fp_key(key.fingerprint));
        starts.push(s);
        verdict.push(json(&**c)?);
        severity.push(c.severity.as_str());
    }
    let mut attached = vec![false; items.len()];
    if fp.is_empty() {
        return Ok(attached);
    }
    let mut tx = begin_locked(pool, &fp).await?;
    let logged: Vec<(i64, i64)> = sqlx::query_as(ATTACH)
        .bind(&fp)
        .bind(&starts)
        .bind(&verdict)
        .bind(&severity)
        .bind(at_nanos)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    let done: std::collections::HashSet<(i64, i64)> = logged.into_iter().collect();
    for (slot, (key, _)) in attached.iter_mut().zip(items) {
        *slot = i64::try_from(key.starts_at)
            .is_ok_and(|s| done.contains(&(fp_key(key.fingerprint), s)));
    }
    Ok(attached)
}
