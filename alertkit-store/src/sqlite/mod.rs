//! [`SqliteHistoryStore`]: alert history in one SQLite file (the Lite profile).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::HistoryPage;
use alertkit_core::{
    AlertRecord, Classification, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore, Receipt,
    RecordOutcome, StateKey, StoreError,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::sql::codec::{self, db, fp_key, json, nanos};
use crate::sql::outbox::{OutboxOptions, OutboxState};
use fingerprints::Levels;
use queries::{ATTACH_EVENTS, ATTACH_NAMED, NEWEST_FIRST, OLDEST_FIRST, SELECT_ALERT, TIMELINE};

mod checkpoint;
mod fingerprints;
mod journal;
mod outbox;
#[cfg(test)]
mod plans;
mod pool;
mod queries;
mod record;
mod stats;
mod verdicts;
mod writer;

pub use journal::SqliteJournal;

/// The embedded migrations (`alertkit-store/migrations/sqlite`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How to open a [`SqliteHistoryStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// `sqlite://path/to/file.db` or a plain path; created if missing.
    pub url: String,
    /// Apply pending migrations when opening (default `true`). When
    /// `false` (migrations applied separately), opening checks that the
    /// database holds exactly this build's migrations and otherwise fails
    /// with a [`SchemaError`](crate::SchemaError) naming the first
    /// difference.
    pub migrate: bool,
    /// Concurrent readers (writes always go through one connection).
    pub read_connections: u32,
    /// How long a caller waits for a connection before [`StoreError::Timeout`].
    pub acquire_timeout: Duration,
    /// Fewest new fingerprints the small lookup table gathers before the
    /// writer merges them into the large one (default 16,384; the store
    /// raises it as the database grows). Lower it only to test merges.
    pub fingerprint_merge_min: u64,
}

impl SqliteOptions {
    /// Defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            migrate: true,
            read_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            fingerprint_merge_min: 16_384,
        }
    }
}

/// Alert history in a SQLite database: WAL journal, `synchronous=NORMAL`
/// (survives a process crash; the last transactions may be lost on power
/// loss), a 5 s busy timeout, and **one writer connection**, so concurrent
/// writers queue instead of failing with "database is locked". Reads use a
/// separate pool and never block on writes. A background task on its own
/// connection checkpoints the WAL every 250 ms, so the writer seldom
/// stops to copy pages or wait for an `fsync`.
///
/// Every `record` is one `BEGIN IMMEDIATE` transaction; it returns once
/// committed. Its statements run on the calling thread, through the write
/// connection's own handle (no hand-off to sqlx's worker thread per
/// statement): inside [`tokio::task::block_in_place`] on a multi-thread
/// runtime, in place on a current-thread one (which it then blocks for the
/// transaction, a few milliseconds per thousand alerts). The state machine
/// is [`AlertRecord::apply`], the same one the in-memory store uses. List
/// filters other than status and time range (matchers, severity, text) are
/// evaluated in Rust over rows read in key order.
///
/// ```no_run
/// # async fn demo() -> Result<(), alertkit_core::StoreError> {
/// use alertkit_store::SqliteHistoryStore;
///
/// let store = SqliteHistoryStore::open("sqlite://alertkit.db").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteHistoryStore {
    write: SqlitePool,
    read: SqlitePool,
    outbox: Arc<OutboxState>,
    levels: Arc<Levels>,
    /// Copies the WAL into the database file beside the writer.
    checkpointer: Arc<checkpoint::Checkpointer>,
}

impl SqliteHistoryStore {
    /// Opens (creating it if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::new(url)).await
    }

    /// Opens with explicit options.
    pub async fn open_with(options: SqliteOptions) -> Result<Self, StoreError> {
        let url = if options.url.starts_with("sqlite:") {
            options.url.clone()
        } else {
            format!("sqlite://{}", options.url)
        };
        let connect = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::InvalidQuery(format!("DATABASE_URL: {e}")))?
            .create_if_missing(true)
            // 16 KiB pages for new databases: a batch writes a quarter as
            // many WAL frames (one write call each) as with 4 KiB pages.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // 64 MiB of page cache per connection and reads through mmap:
            // random fingerprints touch pages all over the tables.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "memory")
            // The background checkpointer copies the WAL into the database
            // file off the writer's path; the writer's own checkpoint (and
            // its fsync) is only the backstop, past 16,384 pages of WAL
            // (256 MiB with 16 KiB pages; databases created with 4 KiB
            // pages keep them, and a 64 MiB threshold).
            .pragma("wal_autocheckpoint", "16384");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(db)?;
        if options.migrate {
            MIGRATOR
                .run(&write)
                .await
                .map_err(|e| StoreError::Backend(Box::new(e)))?;
        } else {
            crate::sql::migrations::verify(
                &write,
                crate::sql::migrations::SQLITE_HAS_TABLE,
                &MIGRATOR,
            )
            .await?;
        }
        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone().read_only(true))
            .await
            .map_err(db)?;
        let levels = Levels::open(&write, options.fingerprint_merge_min).await?;
        let checkpointer =
            checkpoint::Checkpointer::start(connect, Duration::from_millis(250)).await;
        Ok(Self {
            checkpointer,
            write,
            read,
            outbox: Arc::default(),
            levels: Arc::new(levels),
        })
    }

    /// Deletes what `policy` no longer keeps, in batches of short
    /// transactions through the writer (ingest interleaves with them).
    pub async fn prune(
        &self,
        policy: &crate::RetentionPolicy,
    ) -> Result<crate::PruneReport, StoreError> {
        let report =
            crate::sql::retention::run(policy, OffsetDateTime::now_utc(), |i, cutoff, limit| {
                let sql = crate::sql::retention::PRUNES[i].sql;
                async move {
                    Ok(sqlx::query(sql)
                        .bind(cutoff)
                        .bind(limit)
                        .execute(&self.write)
                        .await
                        .map_err(db)?
                        .rows_affected())
                }
            })
            .await?;
        self.levels.pruned(report.alerts);
        Ok(report)
    }

    /// Sets which targets `record` enqueues notifications for (none by
    /// default), effective for the next batch. See [`OutboxOptions`].
    pub fn set_outbox(&self, options: OutboxOptions) {
        self.outbox.set(options);
    }

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.checkpointer.close().await;
        self.write.close().await;
        self.read.close().await;
    }
}

#[async_trait]
impl HistoryStore for SqliteHistoryStore {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        self.record_classified(receipts, &[]).await
    }

    /// One transaction: the verdicts go into the rows and events the
    /// batch writes anyway (no second write of each row).
    async fn record_classified(
        &self,
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
        let outbox = self.outbox.options();
        let mut step = self.levels.plan();
        let written = writer::transaction(&self.write, |conn| {
            record::write(conn, receipts, &keys, verdicts, &outbox, &mut step)
        })
        .await?;
        self.levels.committed(step, written.inserted);
        Ok(written.outcome)
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let at_nanos = nanos("at", at)?;
        // The batch as one JSON array: two statements whatever its size
        // (each statement is a round trip to sqlx's SQLite worker).
        let mut rows = Vec::with_capacity(items.len());
        for (key, c) in items {
            let Ok(starts_at) = i64::try_from(key.starts_at) else {
                continue;
            };
            rows.push(serde_json::json!({
                "fp": fp_key(key.fingerprint), "s": starts_at, "c": json(&**c)?,
            }));
        }
        let mut attached = vec![false; items.len()];
        if rows.is_empty() {
            return Ok(attached);
        }
        let batch = json(&rows)?;
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        // The timeline entries first (they need the rows' status and
        // times); items whose instance is no longer current match no row.
        let logged: Vec<(i64, i64, i64, i64)> = sqlx::query_as(ATTACH_EVENTS)
            .bind(&batch)
            .bind(at_nanos)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        if !logged.is_empty() {
            let named = verdicts::newest_attached(items, &logged);
            sqlx::query(ATTACH_NAMED)
                .bind(json(&named)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        let done: std::collections::HashSet<(i64, i64)> =
            logged.into_iter().map(|(_, _, fp, s)| (fp, s)).collect();
        for (slot, (key, _)) in attached.iter_mut().zip(items) {
            *slot = i64::try_from(key.starts_at)
                .is_ok_and(|s| done.contains(&(fp_key(key.fingerprint), s)));
        }
        Ok(attached)
    }

    async fn get(&self, fingerprint: Fingerprint) -> Result<Option<AlertRecord>, StoreError> {
        sqlx::query(SELECT_ALERT)
            .bind(fp_key(fingerprint))
            .fetch_optional(&self.read)
            .await
            .map_err(db)?
            .as_ref()
            .map(codec::record)
            .transpose()
    }

    async fn timeline(&self, fingerprint: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError> {
        let rows = sqlx::query(TIMELINE)
            .bind(fp_key(fingerprint))
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        codec::timeline(&rows)
    }

    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
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
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
            let records = rows.iter().map(codec::record).collect::<Result<_, _>>()?;
            if scan.feed(records)? {
                return Ok(scan.finish());
            }
        }
    }
}
