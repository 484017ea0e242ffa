//! [`SqliteJournal`]: an intake journal in a SQLite file.

use std::str::FromStr;
use std::time::Duration;

use alertkit_core::traits::{Journal, JournalEntry, decode_receipts, encode_receipts};
use alertkit_core::{Receipt, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::codec::db;

/// An intake [`Journal`] in its own SQLite file beside the history database
/// (`alertkit.db` → `alertkit.db.intake`), so appends never wait for the
/// history writer: one `INSERT` of the encoded group per append, rows in
/// sequence order (pages appended, then reused once consumed), the same
/// durability as the history file (WAL, `synchronous=NORMAL`: survives a
/// process crash).
///
/// `append` applies the [`SqliteHistoryStore`](crate::SqliteHistoryStore)'s
/// own validation first (times that fit its nanosecond columns), so an
/// acknowledged entry always records.
///
/// Prefer [`FileJournal`](crate::FileJournal) (the server's): here an append
/// that crosses SQLite's auto-checkpoint threshold waits for the checkpoint's
/// two `fsync`s, which set the acknowledgement's tail latency (26–40 ms p99
/// at 15k alerts/s against 6–8 ms; BENCHMARKS.md, fifth session).
/// [`FileJournal::open_beside`](crate::FileJournal::open_beside) moves this
/// journal's unconsumed entries over.
///
/// ```no_run
/// # async fn demo() -> Result<(), alertkit_core::StoreError> {
/// use std::sync::Arc;
/// use alertkit_core::layer::{DirectHandoff, FanOut};
/// use alertkit_core::pipeline::Pipeline;
/// use alertkit_store::{SqliteHistoryStore, SqliteJournal};
///
/// let store = Arc::new(SqliteHistoryStore::open("sqlite://alertkit.db").await?);
/// let journal = Arc::new(SqliteJournal::open_beside("sqlite://alertkit.db").await?);
/// let pipeline = Pipeline::builder(store, Arc::new(DirectHandoff::new(FanOut::new())))
///     .journal(journal)
///     .spawn();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteJournal {
    pool: SqlitePool,
    checkpointer: std::sync::Arc<super::checkpoint::Checkpointer>,
}

impl SqliteJournal {
    /// The path of the journal that belongs to the history database at
    /// `db_url`: the same path with `.intake` appended. In-memory databases
    /// have none.
    pub fn path_beside(db_url: &str) -> Result<String, StoreError> {
        let path = db_url
            .strip_prefix("sqlite://")
            .or_else(|| db_url.strip_prefix("sqlite:"))
            .unwrap_or(db_url);
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || db_url.contains("mode=memory") {
            return Err(StoreError::InvalidQuery(
                "DATABASE_URL: an in-memory SQLite database has no file to keep a journal beside"
                    .into(),
            ));
        }
        Ok(format!("{path}.intake"))
    }

    /// Opens the journal beside the history database at `db_url` (see
    /// [`path_beside`](Self::path_beside)).
    pub async fn open_beside(db_url: &str) -> Result<Self, StoreError> {
        Self::open(&Self::path_beside(db_url)?).await
    }

    /// Opens (creating it if needed) a journal file at `path`.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::InvalidQuery(format!("journal path: {e}")))?
            .create_if_missing(true)
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(connect.clone())
            .await
            .map_err(db)?;
        let checkpointer =
            super::checkpoint::Checkpointer::start(connect, Duration::from_millis(250)).await;
        // AUTOINCREMENT: sequence numbers never go back, even once every
        // entry is consumed.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS alertkit_intake (\
               seq  INTEGER PRIMARY KEY AUTOINCREMENT, \
               body BLOB NOT NULL) STRICT",
        )
        .execute(&pool)
        .await
        .map_err(db)?;
        Ok(Self { pool, checkpointer })
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.checkpointer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError> {
        crate::sql::check_times(receipts)?;
        let body = encode_receipts(receipts)?;
        let seq: i64 =
            sqlx::query_scalar("INSERT INTO alertkit_intake (body) VALUES (?1) RETURNING seq")
                .bind(body)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        u64::try_from(seq)
            .map_err(|_| StoreError::Backend(format!("negative journal sequence {seq}").into()))
    }

    async fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, body FROM alertkit_intake ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.into_iter()
            .map(|(seq, body)| {
                let seq = u64::try_from(seq).map_err(|_| {
                    StoreError::Backend(format!("negative journal sequence {seq}").into())
                })?;
                Ok(JournalEntry::new(seq, decode_receipts(&body)?))
            })
            .collect()
    }

    async fn consume(&self, seq: u64) -> Result<(), StoreError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM alertkit_intake WHERE seq <= ?1")
            .bind(seq)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// The journal's table answers a query.
    async fn check(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM alertkit_intake LIMIT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(db)
    }
}
