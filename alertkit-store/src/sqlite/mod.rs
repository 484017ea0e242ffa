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
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;

use crate::sql::codec::{self, VerdictJson, db, fp_key, json, nanos, status_code};
use crate::sql::outbox::{EnqueueRows, OutboxOptions, OutboxState};
use crate::sql::timeline::{self, AlertIds, EventRow};
use fingerprints::Levels;
use queries::{
    ATTACH_EVENTS, ATTACH_NAMED, NEWEST_FIRST, OLDEST_FIRST, SELECT_ALERT, STORED, TIMELINE, UPSERT,
};
use verdicts::VerdictRefs;

mod checkpoint;
mod fingerprints;
mod journal;
mod outbox;
#[cfg(test)]
mod plans;
mod pool;
mod queries;
mod stats;
mod verdicts;

pub use journal::SqliteJournal;

/// The embedded migrations (`alertkit-store/migrations/sqlite`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How to open a [`SqliteHistoryStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// `sqlite://path/to/file.db` or a plain path; created if missing.
    pub url: String,
    /// Apply pending migrations when opening (default `true`).
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
/// committed. The state machine is [`AlertRecord::apply`], the same one the
/// in-memory store uses. List filters other than status and time range
/// (matchers, severity, text) are evaluated in Rust over rows read in
/// key order.
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

/// Rows per multi-row `INSERT`: every full chunk reuses one prepared
/// statement; each statement is one round trip to sqlx's SQLite worker.
///
/// The batch writes say `OR FAIL`: a multi-row statement that may abort
/// makes SQLite copy every page it touches into a statement journal so it
/// can undo just that statement (7–8 % of the writer's time in profiles).
/// Every write here runs inside a transaction that is rolled back whole on
/// any error, so undoing one statement is never needed.
const ROWS_PER_STATEMENT: usize = 64;

/// `head VALUES (?, …), (?, …) tail` for `rows` rows of `columns` columns.
pub(super) fn values_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    format!("{head} VALUES {}{tail}", vec![row; rows].join(", "))
}

/// One multi-row statement, bound and ready to run.
type Statement = sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

/// Runs one statement per chunk of `items`, binding the next chunk's
/// statement (JSON encoding, mostly) while SQLite's worker thread runs the
/// current one, instead of one after the other.
async fn execute_chunks<'a, T>(
    tx: &mut Transaction<'_, Sqlite>,
    items: &'a [T],
    mut build: impl FnMut(&'a [T]) -> Result<Statement, StoreError>,
) -> Result<(), StoreError> {
    let mut chunks = items.chunks(ROWS_PER_STATEMENT);
    let mut next = chunks.next().map(&mut build).transpose()?;
    while let Some(statement) = next {
        let following = chunks.next();
        let (done, built) = tokio::join!(statement.execute(&mut **tx), async {
            following.map(&mut build).transpose()
        });
        done.map_err(db)?;
        next = built?;
    }
    Ok(())
}

/// Appends the timeline rows `events` under the ids they are paired with
/// (see [`crate::sql::timeline`]).
async fn insert_events(
    tx: &mut Transaction<'_, Sqlite>,
    events: &[(i64, EventRow<'_>)],
    ids: &AlertIds,
    verdicts: &mut VerdictJson,
) -> Result<(), StoreError> {
    const HEAD: &str = "INSERT OR FAIL INTO alertkit_events \
         (id, alert_id, fingerprint, kind, at, status, starts_at, ends_at, annotations, \
          classification)";
    execute_chunks(tx, events, |chunk| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(values_sql(HEAD, 10, chunk.len(), "")));
        for (id, row) in chunk {
            let e = row.event;
            let key = fp_key(e.fingerprint);
            q = q
                .bind(id)
                .bind(ids.require(key)?)
                .bind(key)
                .bind(e.kind.as_str())
                .bind(nanos("at", e.at)?)
                .bind(status_code(e.status))
                .bind(nanos("startsAt", e.starts_at)?)
                .bind(e.ends_at.map(|t| nanos("endsAt", t)).transpose()?)
                .bind(e.annotations.as_ref().map(json).transpose()?)
                .bind(verdicts.get(row.verdict)?);
        }
        Ok(q)
    })
    .await
}

/// How [`write_alerts`] writes its rows.
#[derive(Clone, Copy)]
enum AlertWrite {
    /// New rows (mapped to their fingerprints by [`Levels::map`]).
    Insert,
    /// Stored rows: inserts made upserts on their ids by [`UPSERT`].
    Upsert,
}

/// Writes `records`, under the ids in `ids`; a verdict an event stores
/// (per `refs`) is named, not copied.
async fn write_alerts(
    tx: &mut Transaction<'_, Sqlite>,
    records: &[AlertRecord],
    ids: &AlertIds,
    how: AlertWrite,
    refs: &VerdictRefs,
    verdicts: &mut VerdictJson,
) -> Result<(), StoreError> {
    const HEAD: &str = "INSERT OR FAIL INTO alertkit_alerts (id, fingerprint, labels, \
         annotations, status, starts_at, ends_at, first_seen, last_seen, last_changed, \
         fire_count, transitions, classification, classification_event, generator_url, \
         severity, namespace)";
    let tail = match how {
        AlertWrite::Insert => "",
        AlertWrite::Upsert => UPSERT,
    };
    execute_chunks(tx, records, |chunk| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(values_sql(HEAD, 17, chunk.len(), tail)));
        for r in chunk {
            let key = fp_key(r.fingerprint);
            let verdict = r.classification.as_ref();
            let event = verdict.and_then(|v| refs.event_for(key, v));
            let inline = if event.is_some() { None } else { verdict };
            q = q
                .bind(ids.require(key)?)
                .bind(key)
                .bind(json(&r.labels)?)
                .bind(json(&r.annotations)?)
                .bind(status_code(r.status))
                .bind(nanos("startsAt", r.starts_at)?)
                .bind(r.ends_at.map(|t| nanos("endsAt", t)).transpose()?)
                .bind(nanos("first_seen", r.first_seen)?)
                .bind(nanos("last_seen", r.last_seen)?)
                .bind(nanos("last_changed", r.last_changed)?)
                .bind(i64::from(r.fire_count))
                .bind(i64::from(r.transitions))
                .bind(verdicts.get(inline)?)
                .bind(event)
                .bind(codec::url_text(&r.generator_url).into_owned())
                .bind(r.severity().as_str())
                .bind(crate::sql::stats::namespace(&r.labels));
        }
        Ok(q)
    })
    .await
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
        // Few statements per batch: every statement is a round trip to
        // sqlx's SQLite worker thread.
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let rows = sqlx::query(STORED)
            .bind(json(&keys)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        // New rows get the next ids in sequence (this is the only writer),
        // so their timeline rows append at the end of its index; events are
        // numbered here too, so that alert rows can name them.
        let (last_id, last_event): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT coalesce(max(id), 0) FROM alertkit_alerts), \
                    (SELECT coalesce(max(id), 0) FROM alertkit_events)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let mut ids = AlertIds::with_capacity(receipts.len());
        let mut refs = VerdictRefs::default();
        let mut stored = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = codec::record(row)?;
            let key = fp_key(record.fingerprint);
            ids.insert(key, row.try_get("id").map_err(db)?);
            let event: Option<i64> = row.try_get("classification_event").map_err(db)?;
            if let (Some(verdict), Some(event)) = (&record.classification, event) {
                refs.note(key, verdict, event);
            }
            stored.push(record);
        }
        drop(rows);
        let batch = crate::sql::apply_batch(receipts, &keys, stored, verdicts);
        let now = OffsetDateTime::now_utc();
        let queued = EnqueueRows::build(&self.outbox.options(), receipts, &batch.changes, now)?;
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
        let mut step = self.levels.plan();
        let (insert, upsert) = (AlertWrite::Insert, AlertWrite::Upsert);
        write_alerts(&mut tx, &inserted, &ids, insert, &refs, &mut verdicts).await?;
        Levels::map(&mut tx, &mapped).await?;
        write_alerts(&mut tx, &updated, &ids, upsert, &refs, &mut verdicts).await?;
        insert_events(&mut tx, &events, &ids, &mut verdicts).await?;
        if queued.len() > 0 {
            outbox::enqueue(&mut tx, &queued, nanos("now", now)?).await?;
        }
        Levels::run(&mut step, &mut tx).await?;
        tx.commit().await.map_err(db)?;
        self.levels.committed(step, inserted.len());
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
