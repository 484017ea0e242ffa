//! [`PostgresHistoryStore`]: alert history in PostgreSQL (the Standard profile).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::HistoryPage;
use alertkit_core::{
    AlertRecord, Classification, EventKind, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore,
    Receipt, RecordOutcome, StateKey, StoreError,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};
use time::OffsetDateTime;

use crate::sql::codec::{self, db, fp_key, json, nanos, status_code};
use crate::sql::outbox::{EnqueueRows, OutboxOptions, OutboxState};

mod outbox;
mod pool;
mod stats;

/// The embedded migrations (`alertkit-store/migrations/postgres`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How to open a [`PostgresHistoryStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// `postgres://user@host:port/database`. TLS (rustls) is set in the URL
    /// as libpq does: `sslmode=require` (encrypt), `verify-ca` (and check the
    /// chain) or `verify-full` (and the host name), with `sslrootcert=` for a
    /// private CA; the system trust store is always added to it.
    pub url: String,
    /// Schema holding alertkit's tables (created if missing); `None` uses
    /// the connection's default `search_path`.
    pub schema: Option<String>,
    /// Apply pending migrations when opening (default `true`).
    pub migrate: bool,
    /// Pool size.
    pub max_connections: u32,
    /// How long a caller waits for a connection before [`StoreError::Timeout`].
    pub acquire_timeout: Duration,
}

impl PostgresOptions {
    /// Defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            migrate: true,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// Keeps alertkit's tables in `schema`.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}

/// Alert history in PostgreSQL, safe for several replicas on one database.
///
/// Each `record` is one transaction of a fixed number of statements whatever
/// the batch size (arrays bound with `UNNEST`). Writers of the same
/// fingerprints are serialised by transaction-scoped advisory locks on 32
/// fingerprint buckets, taken in bucket order (no deadlocks), so concurrent
/// replicas never record a receipt twice. The state machine
/// is [`AlertRecord::apply`], shared with every other store.
///
/// ```no_run
/// # async fn demo() -> Result<(), alertkit_core::StoreError> {
/// use alertkit_store::{PostgresHistoryStore, PostgresOptions};
///
/// let store = PostgresHistoryStore::open_with(
///     PostgresOptions::new("postgres://postgres@127.0.0.1:5432/alertkit").schema("alertkit"),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresHistoryStore {
    pool: PgPool,
    outbox: Arc<OutboxState>,
}

fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl PostgresHistoryStore {
    /// Connects to `url` and migrates, using the default schema.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(PostgresOptions::new(url)).await
    }

    /// Connects with explicit options.
    pub async fn open_with(options: PostgresOptions) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::InvalidQuery(format!("DATABASE_URL: {e}")))?;
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(StoreError::InvalidQuery(format!(
                    "schema: {schema:?} must be lowercase letters, digits and '_'"
                )));
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db)?;
        if let Some(schema) = &options.schema {
            // The name is validated above; identifiers cannot be bound.
            let ddl = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            sqlx::query(sqlx::AssertSqlSafe(ddl))
                .execute(&pool)
                .await
                .map_err(db)?;
        }
        if options.migrate {
            MIGRATOR
                .run(&pool)
                .await
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
        }
        Ok(Self {
            pool,
            outbox: Arc::default(),
        })
    }

    /// Deletes what `policy` no longer keeps, in batches of short
    /// transactions (no long locks; replicas may prune concurrently).
    pub async fn prune(
        &self,
        policy: &crate::RetentionPolicy,
    ) -> Result<crate::PruneReport, StoreError> {
        crate::sql::retention::run(policy, OffsetDateTime::now_utc(), |i, cutoff, limit| {
            let sql = crate::sql::retention::PRUNES[i].sql.replace('?', "$");
            async move {
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cutoff)
                    .bind(limit)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?
                    .rows_affected())
            }
        })
        .await
    }

    /// Sets which targets `record` enqueues notifications for (none by
    /// default), effective for the next batch. See [`OutboxOptions`].
    pub fn set_outbox(&self, options: OutboxOptions) {
        self.outbox.set(options);
    }

    /// The schema the store's tables live in.
    pub async fn current_schema(&self) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn opt_nanos(field: &str, t: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    t.map(|t| nanos(field, t)).transpose()
}

/// `alertkit_alerts` columns as arrays, for one `UNNEST` insert.
#[derive(Default)]
struct AlertColumns {
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

impl AlertColumns {
    fn push(&mut self, r: &AlertRecord) -> Result<(), StoreError> {
        self.fingerprint.push(fp_key(r.fingerprint));
        self.labels.push(json(&r.labels)?);
        self.annotations.push(json(&r.annotations)?);
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
            .push(r.classification.as_deref().map(json).transpose()?);
        self.generator_url
            .push(codec::url_text(&r.generator_url).into_owned());
        self.severity.push(r.severity().as_str());
        self.namespace.push(crate::sql::stats::namespace(&r.labels));
        Ok(())
    }
}

async fn upsert_alerts(
    tx: &mut Transaction<'_, Postgres>,
    records: &[AlertRecord],
) -> Result<(), StoreError> {
    let mut c = AlertColumns::default();
    for r in records {
        c.push(r)?;
    }
    sqlx::query(
        "INSERT INTO alertkit_alerts \
         (fingerprint, labels, annotations, status, starts_at, ends_at, first_seen, last_seen, \
          last_changed, fire_count, transitions, classification, generator_url, severity, \
          namespace) \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
           $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], \
           $12::text[], $13::text[], $14::text[], $15::text[]) \
         ON CONFLICT (fingerprint) DO UPDATE SET \
           annotations = EXCLUDED.annotations, status = EXCLUDED.status, \
           starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, \
           last_seen = EXCLUDED.last_seen, last_changed = EXCLUDED.last_changed, \
           fire_count = EXCLUDED.fire_count, transitions = EXCLUDED.transitions, \
           classification = EXCLUDED.classification, generator_url = EXCLUDED.generator_url, \
           severity = EXCLUDED.severity",
    )
    .bind(c.fingerprint)
    .bind(c.labels)
    .bind(c.annotations)
    .bind(c.status)
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(c.first_seen)
    .bind(c.last_seen)
    .bind(c.last_changed)
    .bind(c.fire_count)
    .bind(c.transitions)
    .bind(c.classification)
    .bind(c.generator_url)
    .bind(c.severity)
    .bind(c.namespace)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    events: &[HistoryEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut fp = Vec::new();
    let mut kind = Vec::new();
    let mut at = Vec::new();
    let mut status = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut annotations = Vec::new();
    let mut classification = Vec::new();
    for e in events {
        fp.push(fp_key(e.fingerprint));
        kind.push(e.kind.as_str());
        at.push(nanos("at", e.at)?);
        status.push(status_code(e.status));
        starts.push(nanos("startsAt", e.starts_at)?);
        ends.push(opt_nanos("endsAt", e.ends_at)?);
        annotations.push(e.annotations.as_ref().map(json).transpose()?);
        classification.push(e.classification.as_deref().map(json).transpose()?);
    }
    sqlx::query(
        "INSERT INTO alertkit_events \
         (fingerprint, kind, at, status, starts_at, ends_at, annotations, classification) \
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], \
           $5::bigint[], $6::bigint[], $7::text[], $8::text[])",
    )
    .bind(fp)
    .bind(kind)
    .bind(at)
    .bind(status)
    .bind(starts)
    .bind(ends)
    .bind(annotations)
    .bind(classification)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Advisory-lock class of alertkit's row locks (`pg_advisory_xact_lock(class, bucket)`),
/// so they never collide with other applications' single-key locks.
const LOCK_CLASS: i32 = 0x616b; // "ak"

/// Buckets fingerprints hash into: bounds the locks one transaction takes
/// (Postgres' lock table is shared and small) while keeping writers of
/// unrelated alerts mostly apart.
const LOCK_BUCKETS: i64 = 32;

/// Locks the buckets of the alerts `keys` for this transaction, in bucket
/// order (so two writers can never deadlock).
async fn lock(tx: &mut Transaction<'_, Postgres>, keys: &[i64]) -> Result<(), StoreError> {
    let mut buckets: Vec<i32> = keys
        .iter()
        .map(|k| i32::try_from(k.rem_euclid(LOCK_BUCKETS)).unwrap_or(0))
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    sqlx::query("SELECT pg_advisory_xact_lock($1, b) FROM UNNEST($2::int[]) AS t(b) ORDER BY b")
        .bind(LOCK_CLASS)
        .bind(buckets)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}

#[async_trait]
impl HistoryStore for PostgresHistoryStore {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        crate::sql::check_times(receipts)?;
        if receipts.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let keys: Vec<i64> = receipts
            .iter()
            .map(|r| fp_key(r.alert.fingerprint()))
            .collect();
        let mut tx = self.pool.begin().await.map_err(db)?;
        lock(&mut tx, &keys).await?;
        let rows = sqlx::query("SELECT * FROM alertkit_alerts WHERE fingerprint = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let stored = rows.iter().map(codec::record).collect::<Result<_, _>>()?;
        let batch = crate::sql::apply_batch(receipts, &keys, stored);
        let now = OffsetDateTime::now_utc();
        let queued = EnqueueRows::build(&self.outbox.options(), receipts, &batch.changes, now)?;
        upsert_alerts(&mut tx, &batch.records).await?;
        insert_events(&mut tx, &batch.events).await?;
        if queued.len() > 0 {
            outbox::enqueue(&mut tx, &queued, nanos("now", now)?).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(RecordOutcome {
            changes: batch.changes,
        })
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let at_nanos = nanos("at", at)?;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let keys: Vec<i64> = items.iter().map(|(k, _)| fp_key(k.fingerprint)).collect();
        lock(&mut tx, &keys).await?;
        let mut attached = Vec::with_capacity(items.len());
        let mut events = Vec::new();
        for (key, classification) in items {
            let Ok(starts_at) = i64::try_from(key.starts_at) else {
                attached.push(false);
                continue;
            };
            let row = sqlx::query(
                "UPDATE alertkit_alerts SET classification = $3, severity = $4 \
                 WHERE fingerprint = $1 AND starts_at = $2 RETURNING status, starts_at, ends_at",
            )
            .bind(fp_key(key.fingerprint))
            .bind(starts_at)
            .bind(json(&**classification)?)
            .bind(classification.severity.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let Some(row) = row else {
                attached.push(false);
                continue;
            };
            let mut e = codec::event_from_parts(
                key.fingerprint,
                EventKind::Classified,
                at_nanos,
                row.try_get("status").map_err(db)?,
                row.try_get("starts_at").map_err(db)?,
                row.try_get("ends_at").map_err(db)?,
            )?;
            e.classification = Some(Arc::clone(classification));
            events.push(e);
            attached.push(true);
        }
        insert_events(&mut tx, &events).await?;
        tx.commit().await.map_err(db)?;
        Ok(attached)
    }

    async fn get(&self, fingerprint: Fingerprint) -> Result<Option<AlertRecord>, StoreError> {
        sqlx::query("SELECT * FROM alertkit_alerts WHERE fingerprint = $1")
            .bind(fp_key(fingerprint))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(codec::record)
            .transpose()
    }

    async fn timeline(&self, fingerprint: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError> {
        sqlx::query("SELECT * FROM alertkit_events WHERE fingerprint = $1 ORDER BY id")
            .bind(fp_key(fingerprint))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(codec::event)
            .collect()
    }

    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        const NEWEST_FIRST: &str = "SELECT * FROM alertkit_alerts \
             WHERE ($1::bigint IS NULL OR status = $1) AND ($2::bigint IS NULL OR last_changed >= $2) \
               AND ($3::bigint IS NULL OR last_changed < $3) \
               AND ($4::bigint IS NULL OR (last_changed, fingerprint) < ($4, $5::bigint)) \
             ORDER BY last_changed DESC, fingerprint DESC LIMIT $6";
        const OLDEST_FIRST: &str = "SELECT * FROM alertkit_alerts \
             WHERE ($1::bigint IS NULL OR status = $1) AND ($2::bigint IS NULL OR last_changed >= $2) \
               AND ($3::bigint IS NULL OR last_changed < $3) \
               AND ($4::bigint IS NULL OR (last_changed, fingerprint) > ($4, $5::bigint)) \
             ORDER BY last_changed ASC, fingerprint ASC LIMIT $6";
        let sql = if query.oldest_first {
            OLDEST_FIRST
        } else {
            NEWEST_FIRST
        };
        let plan = crate::sql::ListPlan::new(query)?;
        let mut scan = plan.start();
        loop {
            let rows = sqlx::query(sql)
                .bind(plan.status)
                .bind(plan.since)
                .bind(plan.until)
                .bind(scan.after.map(|a| a.0))
                .bind(scan.after.map(|a| a.1))
                .bind(crate::sql::LIST_CHUNK)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
            let records = rows.iter().map(codec::record).collect::<Result<_, _>>()?;
            if scan.feed(records)? {
                return Ok(scan.finish());
            }
        }
    }
}
