//! The Postgres outbox: replicas claim with `FOR UPDATE SKIP LOCKED`, so two
//! claimers never get the same row; a crashed replica's leases expire and its
//! rows become due for the others.

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::{
    AttemptOutcome, DeadLetter, DeadLetterQuery, Delivery, DeliveryAttempt, LeaseRef, Outbox,
    QueueDepth, Settlement,
};
use alertkit_core::{Fingerprint, Handoff, Notification, StoreError};
use async_trait::async_trait;
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

use super::PostgresHistoryStore;
use crate::sql::codec::{db, fp_key, nanos};
use crate::sql::outbox::{self, EnqueueRows, SettleBinds};

/// Inserts outbox rows in one statement; a row for a (target, change)
/// already queued is kept.
pub(super) async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    rows: &EnqueueRows,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alertkit_outbox \
         (target, dedup_key, fingerprint, kind, payload, received_at, due_at, enqueued_at, state) \
         SELECT t, d, f, k, p, r, u, $8, 0 FROM UNNEST($1::text[], $2::text[], $3::bigint[], \
           $4::text[], $5::text[], $6::bigint[], $7::bigint[]) AS x(t, d, f, k, p, r, u) \
         ON CONFLICT (target, dedup_key) DO NOTHING",
    )
    .bind(&rows.target)
    .bind(&rows.dedup_key)
    .bind(&rows.fingerprint)
    .bind(&rows.kind)
    .bind(&rows.payload)
    .bind(&rows.received_at)
    .bind(&rows.due_at)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

fn now_nanos() -> Result<i64, StoreError> {
    nanos("now", OffsetDateTime::now_utc())
}

/// `WHERE` clause of a [`DeadLetterQuery`] over `$1..$4`.
const DEAD_FILTER: &str = "($1::text IS NULL OR target = $1) \
     AND ($2::bigint IS NULL OR died_at < $2) AND ($3::bigint IS NULL OR id > $3) \
     AND (cardinality($4::bigint[]) = 0 OR id = ANY($4))";

struct DeadBinds {
    target: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
    ids: Vec<i64>,
}

fn dead_binds(q: &DeadLetterQuery) -> Result<DeadBinds, StoreError> {
    Ok(DeadBinds {
        target: q.target.clone(),
        before: q.died_before.map(|t| nanos("died_before", t)).transpose()?,
        after: q.after_id,
        ids: q.ids.clone(),
    })
}

#[async_trait]
impl Outbox for PostgresHistoryStore {
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH c AS (SELECT o.id FROM alertkit_outbox o \
               WHERE o.state < 2 AND o.due_at <= $3 AND o.target = ANY($4) \
                 AND NOT EXISTS (SELECT 1 FROM alertkit_outbox p \
                   WHERE p.target = o.target AND p.fingerprint = o.fingerprint \
                     AND p.state < 2 AND p.id < o.id) \
               ORDER BY o.due_at, o.id LIMIT $5 FOR UPDATE OF o SKIP LOCKED) \
             UPDATE alertkit_outbox u SET state = 1, attempts = u.attempts + 1, locked_by = $1, \
               due_at = $2 FROM c WHERE u.id = c.id RETURNING u.id",
        )
        .bind(worker)
        .bind(nanos("lease", now + lease)?)
        .bind(nanos("now", now)?)
        .bind(&names)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let rows = sqlx::query(
            "SELECT o.id, o.attempts, o.target, o.kind, o.payload, o.received_at, o.enqueued_at, \
               a.classification, r.remote_ref \
             FROM alertkit_outbox o \
             LEFT JOIN alertkit_alerts a ON a.fingerprint = o.fingerprint \
             LEFT JOIN alertkit_delivery_refs r \
               ON r.target = o.target AND r.fingerprint = o.fingerprint \
             WHERE o.id = ANY($1) ORDER BY o.id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter().map(outbox::delivery).collect()
    }

    async fn settle(&self, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        let binds = settlements
            .iter()
            .map(SettleBinds::new)
            .collect::<Result<Vec<_>, _>>()?;
        let now = now_nanos()?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut held = Vec::with_capacity(binds.len());
        for (s, b) in settlements.iter().zip(&binds) {
            // Logging first doubles as the fence: no row, no lease.
            let logged = sqlx::query(
                "INSERT INTO alertkit_delivery_log \
                 (delivery_id, target, fingerprint, kind, attempt, at, outcome, status, detail, \
                  latency_us) \
                 SELECT id, target, fingerprint, kind, attempts, $3::bigint, $4::text, $5::bigint, \
                   $6::text, $7::bigint \
                 FROM alertkit_outbox WHERE id = $1 AND attempts = $2 AND state = 1",
            )
            .bind(b.id)
            .bind(b.attempt)
            .bind(now)
            .bind(b.outcome)
            .bind(b.status)
            .bind(&b.detail)
            .bind(b.latency_us)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if logged == 0 {
                held.push(false);
                continue;
            }
            match s.outcome {
                AttemptOutcome::Delivered | AttemptOutcome::Skipped => {
                    sqlx::query(
                        "UPDATE alertkit_outbox SET state = 2, done_at = $2, locked_by = NULL, \
                           last_error = $3, last_status = $4 WHERE id = $1",
                    )
                    .bind(b.id)
                    .bind(now)
                    .bind(&b.detail)
                    .bind(b.status)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    if let Some(remote) = &s.remote_id {
                        sqlx::query(
                            "INSERT INTO alertkit_delivery_refs \
                               (target, fingerprint, remote_ref, updated_at) \
                             SELECT target, fingerprint, $2::text, $3::bigint FROM alertkit_outbox WHERE id = $1 \
                             ON CONFLICT (target, fingerprint) DO UPDATE SET \
                               remote_ref = excluded.remote_ref, updated_at = excluded.updated_at",
                        )
                        .bind(b.id)
                        .bind(remote)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    }
                }
                AttemptOutcome::Retry => {
                    sqlx::query(
                        "UPDATE alertkit_outbox SET state = 0, due_at = $2, locked_by = NULL, \
                           last_error = $3, last_status = $4 WHERE id = $1",
                    )
                    .bind(b.id)
                    .bind(b.retry_at)
                    .bind(&b.detail)
                    .bind(b.status)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                }
                AttemptOutcome::Dead => {
                    sqlx::query(
                        "INSERT INTO alertkit_dead_letters \
                         (id, target, dedup_key, fingerprint, kind, payload, received_at, \
                          enqueued_at, attempts, last_error, last_status, died_at) \
                         SELECT id, target, dedup_key, fingerprint, kind, payload, received_at, \
                           enqueued_at, attempts, $2::text, $3::bigint, $4::bigint FROM alertkit_outbox WHERE id = $1",
                    )
                    .bind(b.id)
                    .bind(&b.detail)
                    .bind(b.status)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    sqlx::query("DELETE FROM alertkit_outbox WHERE id = $1")
                        .bind(b.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
            }
            held.push(true);
        }
        tx.commit().await.map_err(db)?;
        Ok(held)
    }

    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError> {
        let now = now_nanos()?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        for l in leases {
            sqlx::query(
                "UPDATE alertkit_outbox SET state = 0, attempts = attempts - 1, due_at = $3, \
                   locked_by = NULL WHERE id = $1 AND attempts = $2 AND state = 1",
            )
            .bind(l.id)
            .bind(i64::from(l.attempt))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        self.outbox.wakeup.notify_waiters();
        Ok(())
    }

    async fn deliveries(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        sqlx::query("SELECT * FROM alertkit_delivery_log WHERE fingerprint = $1 ORDER BY id")
            .bind(fp_key(fingerprint))
            .fetch_all(&self.pool)
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
            format!("SELECT * FROM alertkit_dead_letters WHERE {DEAD_FILTER} ORDER BY id LIMIT $5");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(b.target)
            .bind(b.before)
            .bind(b.after)
            .bind(b.ids)
            .bind(i64::try_from(limit).unwrap_or(1000))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(outbox::dead_letter)
            .collect()
    }

    async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        let b = dead_binds(query)?;
        let now = now_nanos()?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let insert = format!(
            "INSERT INTO alertkit_outbox \
             (target, dedup_key, fingerprint, kind, payload, received_at, enqueued_at, state, \
              attempts, due_at) \
             SELECT target, dedup_key, fingerprint, kind, payload, received_at, $5::bigint, 0, 0, $5::bigint \
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
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected())
    }

    async fn depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, SUM(pending)::bigint AS pending, SUM(in_flight)::bigint AS in_flight, \
               SUM(dead)::bigint AS dead FROM ( \
               SELECT target, CASE WHEN state = 0 THEN 1 ELSE 0 END AS pending, \
                 CASE WHEN state = 1 THEN 1 ELSE 0 END AS in_flight, 0 AS dead \
               FROM alertkit_outbox WHERE state < 2 \
               UNION ALL SELECT target, 0, 0, 1 FROM alertkit_dead_letters) AS q \
             GROUP BY target ORDER BY target",
        )
        .fetch_all(&self.pool)
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
impl Handoff for PostgresHistoryStore {
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        if notifications.is_empty() || self.outbox.options().targets.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = notifications.iter().map(Notification::dedup_key).collect();
        let now = now_nanos()?;
        sqlx::query(
            "UPDATE alertkit_outbox SET due_at = $1 \
             WHERE dedup_key = ANY($2) \
               AND state = 0 AND attempts = 0 AND due_at > $1",
        )
        .bind(now)
        .bind(&keys)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        self.outbox.wakeup.notify_waiters();
        Ok(())
    }
}
