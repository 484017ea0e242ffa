//! [`SqliteHistoryStore`]: alert history in one SQLite file (the Lite profile).

mod codec;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::{Cursor, HistoryPage};
use alertkit_core::{
    AlertRecord, Classification, EventKind, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore,
    Receipt, RecordOutcome, StateKey, StoreError,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use codec::{db, fp_key, json, nanos, status_code};

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
}

impl SqliteOptions {
    /// Defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            migrate: true,
            read_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Alert history in a SQLite database: WAL journal, `synchronous=NORMAL`
/// (survives a process crash; the last transactions may be lost on power
/// loss), a 5 s busy timeout, and **one writer connection**, so concurrent
/// writers queue instead of failing with "database is locked". Reads use a
/// separate pool and never block on writes.
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
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
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
            .connect_with(connect.read_only(true))
            .await
            .map_err(db)?;
        Ok(Self { write, read })
    }

    /// Closes both pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

const SELECT_ALERT: &str = "SELECT * FROM alertkit_alerts WHERE fingerprint = ?1";

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    e: &HistoryEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alertkit_events \
         (fingerprint, kind, at, status, starts_at, ends_at, annotations, classification) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(fp_key(e.fingerprint))
    .bind(e.kind.as_str())
    .bind(nanos("at", e.at)?)
    .bind(status_code(e.status))
    .bind(nanos("startsAt", e.starts_at)?)
    .bind(e.ends_at.map(|t| nanos("endsAt", t)).transpose()?)
    .bind(e.annotations.as_ref().map(json).transpose()?)
    .bind(e.classification.as_deref().map(json).transpose()?)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Writes every column of `rec` (insert or replace).
async fn upsert_alert(
    tx: &mut Transaction<'_, Sqlite>,
    rec: &AlertRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO alertkit_alerts \
         (fingerprint, labels, annotations, status, starts_at, ends_at, first_seen, last_seen, \
          last_changed, fire_count, transitions, classification, generator_url) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(fp_key(rec.fingerprint))
    .bind(json(&rec.labels)?)
    .bind(json(&rec.annotations)?)
    .bind(status_code(rec.status))
    .bind(nanos("startsAt", rec.starts_at)?)
    .bind(rec.ends_at.map(|t| nanos("endsAt", t)).transpose()?)
    .bind(nanos("first_seen", rec.first_seen)?)
    .bind(nanos("last_seen", rec.last_seen)?)
    .bind(nanos("last_changed", rec.last_changed)?)
    .bind(i64::from(rec.fire_count))
    .bind(i64::from(rec.transitions))
    .bind(rec.classification.as_deref().map(json).transpose()?)
    .bind(&*rec.generator_url)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Records one receipt inside `tx`.
async fn record_one(
    tx: &mut Transaction<'_, Sqlite>,
    r: &Receipt,
) -> Result<Option<EventKind>, StoreError> {
    // Reject unstorable times before touching anything.
    nanos("startsAt", r.alert.starts_at)?;
    if let Some(e) = r.alert.ends_at {
        nanos("endsAt", e)?;
    }
    let existing = sqlx::query(SELECT_ALERT)
        .bind(fp_key(r.alert.fingerprint()))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    let (rec, change) = match existing {
        None => {
            let (rec, kind) = AlertRecord::first(r);
            (rec, Some(kind))
        }
        Some(row) => {
            let mut rec = codec::record(&row)?;
            let before = rec.last_seen;
            let change = rec.apply(r);
            if change.is_none() {
                if rec.last_seen != before {
                    sqlx::query("UPDATE alertkit_alerts SET last_seen = ?2 WHERE fingerprint = ?1")
                        .bind(fp_key(rec.fingerprint))
                        .bind(nanos("last_seen", rec.last_seen)?)
                        .execute(&mut **tx)
                        .await
                        .map_err(db)?;
                }
                return Ok(None);
            }
            (rec, change)
        }
    };
    upsert_alert(tx, &rec).await?;
    if let Some(kind) = change {
        insert_event(tx, &HistoryEvent::from_receipt(kind, r)).await?;
    }
    Ok(change)
}

#[async_trait]
impl HistoryStore for SqliteHistoryStore {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut changes = Vec::with_capacity(receipts.len());
        for (i, r) in receipts.iter().enumerate() {
            let change = record_one(&mut tx, r).await.map_err(|e| match e {
                StoreError::Invalid(m) => StoreError::Invalid(format!("receipts[{i}].{m}")),
                other => other,
            })?;
            changes.push(change);
        }
        tx.commit().await.map_err(db)?;
        Ok(RecordOutcome { changes })
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let at_nanos = nanos("at", at)?;
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut attached = Vec::with_capacity(items.len());
        for (key, classification) in items {
            let Ok(starts_at) = i64::try_from(key.starts_at) else {
                attached.push(false);
                continue;
            };
            let encoded = json(&**classification)?;
            let row = sqlx::query(
                "UPDATE alertkit_alerts SET classification = ?3 \
                 WHERE fingerprint = ?1 AND starts_at = ?2 RETURNING status, ends_at",
            )
            .bind(fp_key(key.fingerprint))
            .bind(starts_at)
            .bind(&encoded)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let Some(row) = row else {
                attached.push(false);
                continue;
            };
            use sqlx::Row as _;
            sqlx::query(
                "INSERT INTO alertkit_events \
                 (fingerprint, kind, at, status, starts_at, ends_at, annotations, classification) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
            )
            .bind(fp_key(key.fingerprint))
            .bind(EventKind::Classified.as_str())
            .bind(at_nanos)
            .bind(row.try_get::<i64, _>("status").map_err(db)?)
            .bind(starts_at)
            .bind(row.try_get::<Option<i64>, _>("ends_at").map_err(db)?)
            .bind(&encoded)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            attached.push(true);
        }
        tx.commit().await.map_err(db)?;
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
        sqlx::query("SELECT * FROM alertkit_events WHERE fingerprint = ?1 ORDER BY id")
            .bind(fp_key(fingerprint))
            .fetch_all(&self.read)
            .await
            .map_err(db)?
            .iter()
            .map(codec::event)
            .collect()
    }

    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        const CHUNK: i64 = 256;
        const NEWEST_FIRST: &str = "SELECT * FROM alertkit_alerts \
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR last_changed >= ?2) \
               AND (?3 IS NULL OR last_changed < ?3) \
               AND (?4 IS NULL OR (last_changed, fingerprint) < (?4, ?5)) \
             ORDER BY last_changed DESC, fingerprint DESC LIMIT ?6";
        const OLDEST_FIRST: &str = "SELECT * FROM alertkit_alerts \
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR last_changed >= ?2) \
               AND (?3 IS NULL OR last_changed < ?3) \
               AND (?4 IS NULL OR (last_changed, fingerprint) > (?4, ?5)) \
             ORDER BY last_changed ASC, fingerprint ASC LIMIT ?6";
        let limit = match query.limit {
            0 => 100,
            n => n.min(1000),
        };
        let since = query.since.map(|t| nanos("since", t)).transpose()?;
        let until = query.until.map(|t| nanos("until", t)).transpose()?;
        let mut after = query
            .after
            .map(|c| {
                i64::try_from(c.last_changed)
                    .map(|n| (n, fp_key(c.fingerprint)))
                    .map_err(|_| StoreError::InvalidQuery("after: cursor out of range".into()))
            })
            .transpose()?;
        let sql = if query.oldest_first {
            OLDEST_FIRST
        } else {
            NEWEST_FIRST
        };
        let mut records = Vec::with_capacity(limit.min(64));
        let mut more = false;
        'scan: loop {
            let rows = sqlx::query(sql)
                .bind(query.status.map(status_code))
                .bind(since)
                .bind(until)
                .bind(after.map(|a| a.0))
                .bind(after.map(|a| a.1))
                .bind(CHUNK)
                .fetch_all(&self.read)
                .await
                .map_err(db)?;
            let exhausted = (rows.len() as i64) < CHUNK;
            for row in &rows {
                let rec = codec::record(row)?;
                after = Some((
                    nanos("last_changed", rec.last_changed)?,
                    fp_key(rec.fingerprint),
                ));
                if !query.matches(&rec) {
                    continue;
                }
                if records.len() == limit {
                    more = true;
                    break 'scan;
                }
                records.push(rec);
            }
            if exhausted {
                break;
            }
        }
        let next = if more {
            records.last().map(Cursor::after)
        } else {
            None
        };
        Ok(HistoryPage { records, next })
    }
}
