//! The Postgres outbox: replicas claim with `FOR UPDATE SKIP LOCKED`, so two
//! claimers never get the same row; a crashed replica's leases expire and its
//! rows become due for the others.

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

use super::PostgresHistoryStore;
use crate::sql::codec::{db, fp_key, nanos};
use crate::sql::outbox::{self, SettleBinds};

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

/// Settlements as arrays, for the one `SETTLE` statement.
#[derive(Default)]
struct SettleColumns {
    id: Vec<i64>,
    attempt: Vec<i64>,
    outcome: Vec<&'static str>,
    status: Vec<Option<i64>>,
    detail: Vec<Option<String>>,
    latency_us: Vec<i64>,
    retry_at: Vec<Option<i64>>,
    remote: Vec<Option<String>>,
}

impl SettleColumns {
    fn push(&mut self, s: &Settlement, b: &SettleBinds) {
        self.id.push(b.id);
        self.attempt.push(b.attempt);
        self.outcome.push(b.outcome);
        self.status.push(b.status);
        self.detail.push(b.detail.clone());
        self.latency_us.push(b.latency_us);
        self.retry_at.push(b.retry_at);
        self.remote.push(s.remote_id.clone());
    }
}

/// Settles a batch in one statement. `f` is the fence: the rows still
/// leased for the settled attempt, locked (`FOR UPDATE`, so a concurrent
/// reclaim is waited for and re-checked); only those are logged and
/// settled. Delivered and skipped rows are done (keeping the target's id
/// for the message, the last one per alert and target winning), retries are
/// due again at their time, dead rows move to the dead letters. Returns the
/// leases (id, attempt) settled.
const SETTLE: &str = "WITH \
    s AS (SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
        $5::text[], $6::bigint[], $7::bigint[], $8::text[]) \
      WITH ORDINALITY AS s(id, attempt, outcome, status, detail, latency_us, retry_at, remote, n)), \
    f AS (SELECT o.id, o.target, o.dedup_key, o.fingerprint, o.kind, o.payload, o.received_at, \
        o.enqueued_at, o.attempts, s.outcome, s.status, s.detail, s.latency_us, s.retry_at, \
        s.remote, s.n \
      FROM alertkit_outbox o JOIN s ON o.id = s.id AND o.attempts = s.attempt \
      WHERE o.state = 1 FOR UPDATE OF o), \
    log AS (INSERT INTO alertkit_delivery_log \
        (delivery_id, target, fingerprint, kind, attempt, at, outcome, status, detail, \
         latency_us) \
      SELECT id, target, fingerprint, kind, attempts, $9, outcome, status, detail, latency_us \
      FROM f ORDER BY n RETURNING delivery_id, attempt), \
    done AS (UPDATE alertkit_outbox o SET state = 2, done_at = $9, locked_by = NULL, \
        last_error = f.detail, last_status = f.status \
      FROM f WHERE o.id = f.id AND f.outcome IN ('delivered', 'skipped')), \
    refs AS (INSERT INTO alertkit_delivery_refs (target, fingerprint, remote_ref, updated_at) \
      SELECT DISTINCT ON (target, fingerprint) target, fingerprint, remote, $9 FROM f \
      WHERE remote IS NOT NULL AND outcome IN ('delivered', 'skipped') \
      ORDER BY target, fingerprint, n DESC \
      ON CONFLICT (target, fingerprint) DO UPDATE SET \
        remote_ref = excluded.remote_ref, updated_at = excluded.updated_at), \
    retry AS (UPDATE alertkit_outbox o SET state = 0, due_at = f.retry_at, locked_by = NULL, \
        last_error = f.detail, last_status = f.status \
      FROM f WHERE o.id = f.id AND f.outcome = 'retry'), \
    dead AS (INSERT INTO alertkit_dead_letters \
        (id, target, dedup_key, fingerprint, kind, payload, received_at, enqueued_at, attempts, \
         last_error, last_status, died_at) \
      SELECT id, target, dedup_key, fingerprint, kind, payload, received_at, enqueued_at, \
        attempts, detail, status, $9 FROM f WHERE outcome = 'dead'), \
    gone AS (DELETE FROM alertkit_outbox o USING f WHERE o.id = f.id AND f.outcome = 'dead') \
    SELECT delivery_id, attempt FROM log";

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
        let mut cols = SettleColumns::default();
        // A lease settled twice in one call counts once, as if applied in
        // order (the second finds it no longer in flight).
        let mut seen = std::collections::HashSet::with_capacity(binds.len());
        for (s, b) in settlements.iter().zip(&binds) {
            if seen.insert((b.id, b.attempt)) {
                cols.push(s, b);
            }
        }
        if cols.id.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_nanos()?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let held: Vec<(i64, i64)> = sqlx::query_as(SETTLE)
            .bind(&cols.id)
            .bind(&cols.attempt)
            .bind(&cols.outcome)
            .bind(&cols.status)
            .bind(&cols.detail)
            .bind(&cols.latency_us)
            .bind(&cols.retry_at)
            .bind(&cols.remote)
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let held: std::collections::HashSet<(i64, i64)> = held.into_iter().collect();
        let mut first = std::collections::HashSet::with_capacity(binds.len());
        Ok(binds
            .iter()
            .map(|b| first.insert((b.id, b.attempt)) && held.contains(&(b.id, b.attempt)))
            .collect())
    }

    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError> {
        let now = now_nanos()?;
        let ids: Vec<i64> = leases.iter().map(|l| l.id).collect();
        let attempts: Vec<i64> = leases.iter().map(|l| i64::from(l.attempt)).collect();
        // One statement; a lease listed twice is returned once.
        sqlx::query(
            "UPDATE alertkit_outbox o SET state = 0, attempts = o.attempts - 1, due_at = $3, \
               locked_by = NULL FROM UNNEST($1::bigint[], $2::bigint[]) AS l(id, attempt) \
             WHERE o.id = l.id AND o.attempts = l.attempt AND o.state = 1",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
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
