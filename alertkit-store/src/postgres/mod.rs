//! [`PostgresHistoryStore`]: alert history in PostgreSQL (the Standard profile).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::HistoryPage;
use alertkit_core::{
    AlertRecord, Classification, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore, Receipt,
    RecordOutcome, StateKey, StoreError,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use time::OffsetDateTime;

use crate::sql::codec::{self, db, fp_key};
use crate::sql::outbox::{OutboxOptions, OutboxState};

mod hourly;
mod ingest;
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
    /// private CA (the Mozilla root bundle of `webpki-roots` is trusted too).
    pub url: String,
    /// Schema holding alertkit's tables (created if missing when
    /// migrating); `None` uses the connection's default `search_path`.
    pub schema: Option<String>,
    /// Apply pending migrations when opening (default `true`). When
    /// `false` (migrations applied separately), opening checks that the
    /// database holds exactly this build's migrations and otherwise fails
    /// with a [`SchemaError`](crate::SchemaError) naming the first
    /// difference. It needs no privilege beyond reading
    /// `_sqlx_migrations`: a role that may use the tables but not change
    /// the schema can open the store this way.
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
/// Each `record` is one transaction of four round trips whatever the batch
/// size (`BEGIN` with the locks, the read of the batch's rows, one write
/// statement over `UNNEST` arrays, `COMMIT`). Writers of the same
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
            // A connection back in the pool within the last second is used
            // as is (a health check is a round trip on every acquire); one
            // idle for longer is pinged first and replaced if it is dead.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= Duration::from_secs(1) {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(db)?;
        // Only when migrating: `CREATE SCHEMA IF NOT EXISTS` needs the
        // CREATE privilege on the database even when the schema exists, which
        // a role that may not migrate usually lacks.
        if let Some(schema) = options.schema.as_ref().filter(|_| options.migrate) {
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
        } else {
            crate::sql::migrations::verify(
                &pool,
                crate::sql::migrations::POSTGRES_HAS_TABLE,
                &MIGRATOR,
            )
            .await?;
        }
        Ok(Self {
            pool,
            outbox: Arc::default(),
        })
    }

    /// Deletes what `policy` no longer keeps, in batches of short
    /// transactions (no long locks; replicas may prune concurrently), and
    /// then the statistics counters of the hours it emptied.
    pub async fn prune(
        &self,
        policy: &crate::RetentionPolicy,
    ) -> Result<crate::PruneReport, StoreError> {
        let now = OffsetDateTime::now_utc();
        let report = self.prune_rows(policy, now).await?;
        let cutoff = policy
            .history
            .and_then(|keep| crate::sql::retention::cutoff(now, keep));
        if let Some(cutoff) = cutoff {
            hourly::drop_empty(&self.pool, cutoff, policy.batch).await?;
        }
        Ok(report)
    }

    async fn prune_rows(
        &self,
        policy: &crate::RetentionPolicy,
        now: OffsetDateTime,
    ) -> Result<crate::PruneReport, StoreError> {
        crate::sql::retention::run(policy, now, |i, cutoff, limit| {
            let prune = &crate::sql::retention::PRUNES[i];
            let sql = prune.sql.replace('?', "$");
            async move {
                let delete = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(cutoff)
                    .bind(limit);
                if !prune.deletes_alerts {
                    return Ok(delete
                        .execute(&self.pool)
                        .await
                        .map_err(db)?
                        .rows_affected());
                }
                // Writers read an alert and write it back under its
                // bucket's lock: holding every bucket keeps this delete
                // from landing in between (their events would then point
                // at a deleted row). Writers wait one short batch.
                let mut tx = ingest::begin_locked_all(&self.pool).await?;
                let n = delete.execute(&mut *tx).await.map_err(db)?.rows_affected();
                tx.commit().await.map_err(db)?;
                Ok(n)
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

#[async_trait]
impl HistoryStore for PostgresHistoryStore {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        ingest::record(&self.pool, &self.outbox, receipts, &[]).await
    }

    /// One transaction: the verdicts go into the rows and events the
    /// batch writes anyway (no second write of each row).
    async fn record_classified(
        &self,
        receipts: &[Receipt],
        verdicts: &[Option<Arc<Classification>>],
    ) -> Result<RecordOutcome, StoreError> {
        ingest::record(&self.pool, &self.outbox, receipts, verdicts).await
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        ingest::attach_classifications(&self.pool, items, at).await
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
        // By the alert's row id (see `crate::sql::timeline`).
        let rows = sqlx::query(
            "SELECT * FROM alertkit_events \
             WHERE alert_id = (SELECT id FROM alertkit_alerts WHERE fingerprint = $1) ORDER BY id",
        )
        .bind(fp_key(fingerprint))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        codec::timeline(&rows)
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
