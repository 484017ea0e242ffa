//! `record`'s transaction: one batch of receipts written by the writer's
//! synchronous path ([`super::writer`]), one prepared statement per table.

use std::sync::Arc;

use alertkit_core::{AlertRecord, Annotations, Classification, Receipt, RecordOutcome, StoreError};
use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::fingerprints::{Levels, Step};
use super::queries::{STORED, UPSERT};
use super::verdicts::VerdictRefs;
use super::writer::{Fields, sqlite};
use crate::sql::codec::{self, VerdictJson, fp_key, json, nanos, status_code};
use crate::sql::outbox::EnqueueRows;
use crate::sql::timeline::{self, AlertIds, EventRow};

/// What a committed batch tells the store about itself.
pub(super) struct Written {
    pub(super) outcome: RecordOutcome,
    /// New alerts (for the fingerprint levels' counts).
    pub(super) inserted: usize,
}

/// Writes `receipts` (with their fingerprint `keys` and `verdicts`, see
/// [`crate::sql::apply_batch`]) inside the open transaction `conn`,
/// enqueueing `outbox` rows for their notifiable changes as
/// [`EnqueueRows::build`] decides, and moving `step`'s share of the
/// fingerprint merge.
pub(super) fn write(
    conn: &Connection,
    receipts: &[Receipt],
    keys: &[i64],
    verdicts: &[Option<Arc<Classification>>],
    outbox: &crate::sql::outbox::OutboxOptions,
    step: &mut Step,
) -> Result<Written, StoreError> {
    let mut ids = AlertIds::with_capacity(receipts.len());
    let mut refs = VerdictRefs::default();
    let mut stored = Vec::new();
    {
        let mut select = conn.prepare(STORED).map_err(sqlite)?;
        let mut rows = select.query([json(&keys)?]).map_err(sqlite)?;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let record = codec::record(&Fields(row))?;
            let key = fp_key(record.fingerprint);
            ids.insert(key, row.get("id").map_err(sqlite)?);
            let event: Option<i64> = row.get("classification_event").map_err(sqlite)?;
            if let (Some(verdict), Some(event)) = (&record.classification, event) {
                refs.note(key, verdict, event);
            }
            stored.push(record);
        }
    }
    // New rows get the next ids in sequence (this is the only writer), so
    // their timeline rows append at the end of its index; events are
    // numbered here too, so that alert rows can name them.
    let (last_id, last_event): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM alertkit_alerts), \
                    (SELECT coalesce(max(id), 0) FROM alertkit_events)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sqlite)?;
    let batch = crate::sql::apply_batch(receipts, keys, stored, verdicts);
    let now = OffsetDateTime::now_utc();
    let queued = EnqueueRows::build(outbox, receipts, &batch.changes, now)?;
    // New rows by plain inserts (an upsert statement keeps a statement
    // journal even when it never updates), stored rows by upsert.
    let (updated, inserted): (Vec<AlertRecord>, Vec<AlertRecord>) = batch
        .records
        .into_iter()
        .partition(|r| ids.get(fp_key(r.fingerprint)).is_some());
    let mapped: Vec<(i64, i64)> = (last_id + 1..)
        .zip(&inserted)
        .map(|(id, r)| (fp_key(r.fingerprint), id))
        .collect();
    for &(key, id) in &mapped {
        ids.insert(key, id);
    }
    let events: Vec<(i64, EventRow<'_>)> = (last_event + 1..)
        .zip(timeline::rows(&batch.events))
        .collect();
    for (id, row) in &events {
        if let Some(verdict) = row.verdict {
            refs.note(fp_key(row.event.fingerprint), verdict, *id);
        }
    }
    let mut verdicts = VerdictJson::default();
    let mut alerts = AlertRows {
        ids: &ids,
        refs: &refs,
        verdicts: &mut verdicts,
    };
    alerts.write(conn, &inserted, "")?;
    Levels::map(conn, &mapped)?;
    alerts.write(conn, &updated, UPSERT)?;
    insert_events(conn, &events, &ids, &mut verdicts)?;
    if queued.len() > 0 {
        super::outbox::enqueue(conn, &queued, nanos("now", now)?)?;
    }
    Levels::run(step, conn)?;
    Ok(Written {
        outcome: RecordOutcome {
            changes: batch.changes,
        },
        inserted: inserted.len(),
    })
}

/// Writes alert rows under the ids in `ids`; a verdict an event stores (per
/// `refs`) is named, not copied.
struct AlertRows<'a> {
    ids: &'a AlertIds,
    refs: &'a VerdictRefs,
    verdicts: &'a mut VerdictJson,
}

impl AlertRows<'_> {
    /// Inserts `records`; `tail` is empty for new rows, or [`UPSERT`] to
    /// make the inserts updates of stored rows.
    fn write(
        &mut self,
        conn: &Connection,
        records: &[AlertRecord],
        tail: &str,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        // `OR FAIL`: the transaction is rolled back whole on any error, so
        // SQLite need not keep a statement journal to undo one statement.
        let sql = format!(
            "INSERT OR FAIL INTO alertkit_alerts (id, fingerprint, labels, annotations, status, \
             starts_at, ends_at, first_seen, last_seen, last_changed, fire_count, transitions, \
             classification, classification_event, generator_url, severity, namespace) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)\
             {tail}"
        );
        let mut insert = conn.prepare(&sql).map_err(sqlite)?;
        for r in records {
            let key = fp_key(r.fingerprint);
            let verdict = r.classification.as_ref();
            let event = verdict.and_then(|v| self.refs.event_for(key, v));
            let inline = if event.is_some() { None } else { verdict };
            insert
                .execute(params![
                    self.ids.require(key)?,
                    key,
                    r.labels.to_json(),
                    r.annotations.to_json(),
                    status_code(r.status),
                    nanos("startsAt", r.starts_at)?,
                    r.ends_at.map(|t| nanos("endsAt", t)).transpose()?,
                    nanos("first_seen", r.first_seen)?,
                    nanos("last_seen", r.last_seen)?,
                    nanos("last_changed", r.last_changed)?,
                    i64::from(r.fire_count),
                    i64::from(r.transitions),
                    self.verdicts.get(inline)?,
                    event,
                    codec::url_text(&r.generator_url),
                    r.severity().as_str(),
                    crate::sql::stats::namespace(&r.labels),
                ])
                .map_err(sqlite)?;
        }
        Ok(())
    }
}

/// Appends the timeline rows `events` under the ids they are paired with
/// (see [`crate::sql::timeline`]).
fn insert_events(
    conn: &Connection,
    events: &[(i64, EventRow<'_>)],
    ids: &AlertIds,
    verdicts: &mut VerdictJson,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = conn
        .prepare(
            "INSERT OR FAIL INTO alertkit_events (id, alert_id, fingerprint, kind, at, status, \
             starts_at, ends_at, annotations, classification) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(sqlite)?;
    for (id, row) in events {
        let e = row.event;
        let key = fp_key(e.fingerprint);
        insert
            .execute(params![
                id,
                ids.require(key)?,
                key,
                e.kind.as_str(),
                nanos("at", e.at)?,
                status_code(e.status),
                nanos("startsAt", e.starts_at)?,
                e.ends_at.map(|t| nanos("endsAt", t)).transpose()?,
                e.annotations.as_ref().map(Annotations::to_json),
                verdicts.get(row.verdict)?,
            ])
            .map_err(sqlite)?;
    }
    Ok(())
}
