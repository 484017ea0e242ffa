//! The SQLite outbox: claims and settlements go through the single writer
//! connection, so claimers never race; leases still expire, so a crashed
//! process's rows are picked up by the next one.

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::{
    DeadLetter, DeadLetterQuery, Delivery, DeliveryAttempt, LeaseRef, Outbox, QueueDepth,
    Settlement,
};
use alertkit_core::{Fingerprint, Handoff, Notification, StoreError};
use async_trait::async_trait;
use sqlx::Row as _;
use time::OffsetDateTime;

use super::SqliteHistoryStore;
use super::writer::{self, Fields, sqlite};
use crate::sql::codec::{db, fp_key, json, nanos};
use crate::sql::outbox::{self, EnqueueRows, SettleBinds};
use rusqlite::params;

/// Inserts outbox rows (in the open transaction `conn`); a row for a
/// (target, change) already queued is kept.
pub(super) fn enqueue(
    conn: &rusqlite::Connection,
    rows: &EnqueueRows,
    now: i64,
) -> Result<(), StoreError> {
    // `OR FAIL`: no statement journal (the transaction is undone whole).
    let mut insert = conn
        .prepare(
            "INSERT OR FAIL INTO alertkit_outbox (target, dedup_key, fingerprint, kind, payload, \
             received_at, due_at, enqueued_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0) \
             ON CONFLICT (target, dedup_key) DO NOTHING",
        )
        .map_err(sqlite)?;
    for i in 0..rows.len() {
        insert
            .execute(rusqlite::params![
                rows.target[i],
                rows.dedup_key[i],
                rows.fingerprint[i],
                rows.kind[i],
                rows.payload[i],
                rows.received_at[i],
                rows.due_at[i],
                now,
            ])
            .map_err(sqlite)?;
    }
    Ok(())
}

fn now_nanos() -> Result<i64, StoreError> {
    nanos("now", OffsetDateTime::now_utc())
}

/// What a batch of held settlements (`?1`, a JSON array) does, in order;
/// `?2` is now. One statement per outcome, whatever the batch size.
const SETTLE_STEPS: [&str; 5] = [
    // Delivered or skipped: done.
    "UPDATE alertkit_outbox SET state = 2, done_at = ?2, locked_by = NULL, \
       last_error = j.value ->> '$.detail', last_status = j.value ->> '$.status' \
     FROM json_each(?1) AS j \
     WHERE alertkit_outbox.id = j.value ->> '$.id' \
       AND j.value ->> '$.outcome' IN ('delivered', 'skipped')",
    // What the target called its message, for later notifications.
    "INSERT INTO alertkit_delivery_refs (target, fingerprint, remote_ref, updated_at) \
     SELECT o.target, o.fingerprint, j.value ->> '$.remote', ?2 \
     FROM json_each(?1) AS j JOIN alertkit_outbox o ON o.id = j.value ->> '$.id' \
     WHERE j.value ->> '$.remote' IS NOT NULL AND j.value ->> '$.outcome' = 'delivered' \
     ON CONFLICT (target, fingerprint) DO UPDATE SET \
       remote_ref = excluded.remote_ref, updated_at = excluded.updated_at",
    // Retry: due again later.
    "UPDATE alertkit_outbox SET state = 0, due_at = j.value ->> '$.retry_at', locked_by = NULL, \
       last_error = j.value ->> '$.detail', last_status = j.value ->> '$.status' \
     FROM json_each(?1) AS j \
     WHERE alertkit_outbox.id = j.value ->> '$.id' AND j.value ->> '$.outcome' = 'retry'",
    // Dead: moved to the dead letters…
    "INSERT INTO alertkit_dead_letters \
     (id, target, dedup_key, fingerprint, kind, payload, received_at, enqueued_at, attempts, \
      last_error, last_status, died_at) \
     SELECT o.id, o.target, o.dedup_key, o.fingerprint, o.kind, o.payload, o.received_at, \
       o.enqueued_at, o.attempts, j.value ->> '$.detail', j.value ->> '$.status', ?2 \
     FROM json_each(?1) AS j JOIN alertkit_outbox o ON o.id = j.value ->> '$.id' \
     WHERE j.value ->> '$.outcome' = 'dead'",
    // …and out of the outbox.
    "DELETE FROM alertkit_outbox WHERE id IN (SELECT j.value ->> '$.id' FROM json_each(?1) AS j \
       WHERE j.value ->> '$.outcome' = 'dead') AND ?2 IS NOT NULL",
];

/// `WHERE` clause of a [`DeadLetterQuery`] over `?1..?4`.
const DEAD_FILTER: &str = "(?1 IS NULL OR target = ?1) AND (?2 IS NULL OR died_at < ?2) \
     AND (?3 IS NULL OR id > ?3) \
     AND (json_array_length(?4) = 0 OR id IN (SELECT value FROM json_each(?4)))";

struct DeadBinds {
    target: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
    ids: String,
}

fn dead_binds(q: &DeadLetterQuery) -> Result<DeadBinds, StoreError> {
    Ok(DeadBinds {
        target: q.target.clone(),
        before: q.died_before.map(|t| nanos("died_before", t)).transpose()?,
        after: q.after_id,
        ids: json(&q.ids)?,
    })
}

/// The claimed outbox rows (`?1`: JSON ids) with what delivery needs: the
/// alert's current verdict and the target's reference for the alert.
pub(super) const CLAIMED: &str = "SELECT o.id, o.attempts, o.target, o.kind, o.payload, \
       o.received_at, o.enqueued_at, a.classification, r.remote_ref \
     FROM alertkit_outbox o \
     LEFT JOIN alertkit_alerts_current a ON a.id = \
       (SELECT alert_id FROM alertkit_fingerprints WHERE fingerprint = o.fingerprint) \
     LEFT JOIN alertkit_delivery_refs r ON r.target = o.target AND r.fingerprint = o.fingerprint \
     WHERE o.id IN (SELECT value FROM json_each(?1)) ORDER BY o.id";
/// Leases up to `?5` due rows of the targets in `?4` (JSON) to worker `?1`
/// until `?2` (`?3` is now), oldest first, but never a row behind an
/// unsettled one for the same target and alert (per-alert order).
const CLAIM: &str = "UPDATE alertkit_outbox SET state = 1, attempts = attempts + 1, locked_by = ?1, \
       due_at = ?2 \
     WHERE id IN (SELECT o.id FROM alertkit_outbox o \
       WHERE o.state < 2 AND o.due_at <= ?3 \
         AND o.target IN (SELECT value FROM json_each(?4)) \
         AND NOT EXISTS (SELECT 1 FROM alertkit_outbox p \
           WHERE p.target = o.target AND p.fingerprint = o.fingerprint \
             AND p.state < 2 AND p.id < o.id) \
       ORDER BY o.due_at, o.id LIMIT ?5) \
     RETURNING id";

/// Logs the settlements (`?1`, JSON; `?2` is now) of rows still leased for
/// the settled attempt, returning their ids.
const LOG_HELD: &str = "INSERT INTO alertkit_delivery_log \
     (delivery_id, target, fingerprint, kind, attempt, at, outcome, status, detail, latency_us) \
     SELECT o.id, o.target, o.fingerprint, o.kind, o.attempts, ?2, \
       j.value ->> '$.outcome', j.value ->> '$.status', j.value ->> '$.detail', \
       j.value ->> '$.latency' \
     FROM json_each(?1) AS j JOIN alertkit_outbox o \
       ON o.id = j.value ->> '$.id' AND o.attempts = j.value ->> '$.attempt' AND o.state = 1 \
     RETURNING delivery_id";

#[async_trait]
impl Outbox for SqliteHistoryStore {
    async fn claim(
        &self,
        worker: &str,
        targets: &[Arc<str>],
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        if targets.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        let names: Vec<&str> = targets.iter().map(|t| &**t).collect();
        let (lease_until, now) = (nanos("lease", now + lease)?, nanos("now", now)?);
        let (names, limit) = (json(&names)?, i64::try_from(limit).unwrap_or(i64::MAX));
        writer::transaction(&self.write, |conn| {
            let ids: Vec<i64> = conn
                .prepare(CLAIM)
                .and_then(|mut claim| {
                    claim
                        .query_map(params![worker, lease_until, now, names, limit], |r| {
                            r.get(0)
                        })?
                        .collect()
                })
                .map_err(sqlite)?;
            let mut claimed = conn.prepare(CLAIMED).map_err(sqlite)?;
            let mut rows = claimed.query([json(&ids)?]).map_err(sqlite)?;
            let mut out = Vec::with_capacity(ids.len());
            while let Some(row) = rows.next().map_err(sqlite)? {
                out.push(outbox::delivery(&Fields(row))?);
            }
            Ok(out)
        })
        .await
    }

    async fn settle(&self, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        let binds = settlements
            .iter()
            .map(SettleBinds::new)
            .collect::<Result<Vec<_>, _>>()?;
        if binds.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_nanos()?;
        let rows: Vec<serde_json::Value> = settlements
            .iter()
            .zip(&binds)
            .map(|(s, b)| {
                serde_json::json!({
                    "id": b.id, "attempt": b.attempt, "outcome": b.outcome, "status": b.status,
                    "detail": b.detail, "latency": b.latency_us, "retry_at": b.retry_at,
                    "remote": s.remote_id,
                })
            })
            .collect();
        let batch = json(&rows)?;
        let held = writer::transaction(&self.write, |conn| {
            // Logging first doubles as the fence: only rows still leased
            // for the settled attempt are logged, and only those are settled.
            let held: std::collections::HashSet<i64> = conn
                .prepare(LOG_HELD)
                .and_then(|mut log| log.query_map(params![batch, now], |r| r.get(0))?.collect())
                .map_err(sqlite)?;
            let kept: Vec<&serde_json::Value> = rows
                .iter()
                .filter(|r| r["id"].as_i64().is_some_and(|id| held.contains(&id)))
                .collect();
            if !kept.is_empty() {
                let kept = json(&kept)?;
                for sql in SETTLE_STEPS {
                    // Every step reads `?1`; not every one needs `?2`.
                    let mut step = conn.prepare(sql).map_err(sqlite)?;
                    step.raw_bind_parameter(1, &kept).map_err(sqlite)?;
                    if step.parameter_count() >= 2 {
                        step.raw_bind_parameter(2, now).map_err(sqlite)?;
                    }
                    step.raw_execute().map_err(sqlite)?;
                }
            }
            Ok(held)
        })
        .await?;
        Ok(binds.iter().map(|b| held.contains(&b.id)).collect())
    }

    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError> {
        let now = now_nanos()?;
        writer::transaction(&self.write, |conn| {
            let mut unlease = conn
                .prepare(
                    "UPDATE alertkit_outbox SET state = 0, attempts = attempts - 1, due_at = ?3, \
                       locked_by = NULL WHERE id = ?1 AND attempts = ?2 AND state = 1",
                )
                .map_err(sqlite)?;
            for l in leases {
                unlease
                    .execute(params![l.id, i64::from(l.attempt), now])
                    .map_err(sqlite)?;
            }
            Ok(())
        })
        .await?;
        self.outbox.wakeup.notify_waiters();
        Ok(())
    }

    async fn deliveries(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        sqlx::query("SELECT * FROM alertkit_delivery_log WHERE fingerprint = ?1 ORDER BY id")
            .bind(fp_key(fingerprint))
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(outbox::attempt)
            .collect()
    }

    async fn dead_letters(&self, query: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        let b = dead_binds(query)?;
        let limit = match query.limit {
            0 => 100,
            n => n.min(1000),
        };
        let sql =
            format!("SELECT * FROM alertkit_dead_letters WHERE {DEAD_FILTER} ORDER BY id LIMIT ?5");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(b.target)
            .bind(b.before)
            .bind(b.after)
            .bind(b.ids)
            .bind(i64::try_from(limit).unwrap_or(1000))
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(outbox::dead_letter)
            .collect()
    }

    async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        let b = dead_binds(query)?;
        let now = now_nanos()?;
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let insert = format!(
            "INSERT INTO alertkit_outbox \
             (target, dedup_key, fingerprint, kind, payload, received_at, enqueued_at, state, \
              attempts, due_at) \
             SELECT target, dedup_key, fingerprint, kind, payload, received_at, ?5, 0, 0, ?5 \
             FROM alertkit_dead_letters WHERE {DEAD_FILTER} \
             ON CONFLICT (target, dedup_key) DO UPDATE SET state = 0, attempts = 0, \
               due_at = excluded.due_at, locked_by = NULL"
        );
        let replayed = sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(&b.target)
            .bind(b.before)
            .bind(b.after)
            .bind(&b.ids)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        let delete = format!("DELETE FROM alertkit_dead_letters WHERE {DEAD_FILTER}");
        sqlx::query(sqlx::AssertSqlSafe(delete))
            .bind(b.target)
            .bind(b.before)
            .bind(b.after)
            .bind(b.ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.outbox.wakeup.notify_waiters();
        Ok(replayed)
    }

    async fn purge_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        let b = dead_binds(query)?;
        let delete = format!("DELETE FROM alertkit_dead_letters WHERE {DEAD_FILTER}");
        Ok(sqlx::query(sqlx::AssertSqlSafe(delete))
            .bind(b.target)
            .bind(b.before)
            .bind(b.after)
            .bind(b.ids)
            .execute(&self.write)
            .await
            .map_err(db)?
            .rows_affected())
    }

    async fn depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, SUM(pending) AS pending, SUM(in_flight) AS in_flight, \
               SUM(dead) AS dead FROM ( \
               SELECT target, CASE WHEN state = 0 THEN 1 ELSE 0 END AS pending, \
                 CASE WHEN state = 1 THEN 1 ELSE 0 END AS in_flight, 0 AS dead \
               FROM alertkit_outbox WHERE state < 2 \
               UNION ALL SELECT target, 0, 0, 1 FROM alertkit_dead_letters) \
             GROUP BY target ORDER BY target",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let count = |c: &str| -> Result<u64, StoreError> {
                    Ok(u64::try_from(r.try_get::<i64, _>(c).map_err(db)?).unwrap_or(0))
                };
                Ok(QueueDepth::new(
                    r.try_get::<String, _>("target").map_err(db)?,
                    count("pending")?,
                    count("in_flight")?,
                    count("dead")?,
                ))
            })
            .collect()
    }

    fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.outbox.wakeup)
    }
}

/// The pipeline's hand-off: the changes are classified (or their wait ran
/// out), so their held rows are due now.
#[async_trait]
impl Handoff for SqliteHistoryStore {
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        if notifications.is_empty() || self.outbox.options().targets.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = notifications.iter().map(Notification::dedup_key).collect();
        let now = now_nanos()?;
        sqlx::query(
            "UPDATE alertkit_outbox SET due_at = ?1 \
             WHERE dedup_key IN (SELECT value FROM json_each(?2)) \
               AND state = 0 AND attempts = 0 AND due_at > ?1",
        )
        .bind(now)
        .bind(json(&keys)?)
        .execute(&self.write)
        .await
        .map_err(db)?;
        self.outbox.wakeup.notify_waiters();
        Ok(())
    }
}
