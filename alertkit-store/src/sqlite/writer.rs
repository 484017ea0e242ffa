//! The writer's synchronous path: a whole transaction runs on the calling
//! thread, through the write connection's own SQLite handle.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and
//! hands it every statement over a channel, so each statement costs two
//! thread wake-ups: on this project's 2-vCPU VM, 0.1–0.25 ms each (a
//! `BEGIN` took 0.24 ms), ten per batch of `record`. [`transaction`]
//! instead borrows the connection from its worker ([`lock_handle`]) and
//! runs the transaction's statements one after another on the calling
//! thread, each prepared once per transaction. It is still the one write
//! connection (the pool has one): `record` and the outbox's claims and
//! settlements use this path, and the rarer writes (retention, attach,
//! dead-letter replay, migrations) go through sqlx on the same connection,
//! so every write queues behind the others and none sees "database is
//! locked".
//!
//! [`lock_handle`]: sqlx::sqlite::SqliteConnection::lock_handle

use alertkit_core::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use sqlx::SqlitePool;

use crate::sql::codec::{db, sqlite_is_transient};

/// Runs `work` in one `BEGIN IMMEDIATE` transaction on the write
/// connection of `pool`, committing if it returns `Ok` and rolling back
/// otherwise (or if it panics).
///
/// The statements run on the calling thread: on a multi-thread runtime
/// inside [`tokio::task::block_in_place`] (the pipeline's history stage has
/// a thread of its own, where that costs nothing; on a runtime worker,
/// tokio moves the worker's other tasks to another thread first); on a
/// current-thread runtime directly, blocking it for the transaction (a few
/// milliseconds per thousand alerts).
pub(super) async fn transaction<R>(
    pool: &SqlitePool,
    work: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut conn = pool.acquire().await.map_err(db)?;
    let mut locked = conn.lock_handle().await.map_err(db)?;
    let raw = locked.as_raw_handle().as_ptr();
    run_blocking(|| {
        // SAFETY: `locked` guarantees that sqlx's worker makes no call on
        // this handle or its statements until it is dropped, after this
        // closure returns; the handle stays open meanwhile (the pool
        // connection is held). The `Connection` built here does not own
        // the handle: dropping it finalizes only the statements it
        // prepared, never the connection, and nothing it made outlives
        // the closure.
        #[allow(unsafe_code)]
        let mut conn = unsafe { Connection::from_handle(raw) }.map_err(sqlite)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        // `tx` rolls back when dropped without a commit: on error or panic.
        let out = work(&tx)?;
        tx.commit().map_err(sqlite)?;
        Ok(out)
    })
}

/// Runs `f` here, letting the runtime know it blocks (see [`transaction`]).
fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Maps SQLite errors as [`db`] maps sqlx's: see
/// [`sqlite_is_transient`]; the rest is a backend failure.
pub(super) fn sqlite(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error().map(|s| s.extended_code) {
        Some(code) if sqlite_is_transient(code) => StoreError::Unavailable(Box::new(e)),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// One row's columns by name, for [`crate::sql::codec::record`].
pub(super) struct Fields<'a, 'stmt>(pub(super) &'a rusqlite::Row<'stmt>);

impl crate::sql::codec::Columns for Fields<'_, '_> {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.0.get(name).map_err(sqlite)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.0.get(name).map_err(sqlite)
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.0.get(name).map_err(sqlite)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.0.get(name).map_err(sqlite)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    async fn pool() -> SqlitePool {
        let path = std::env::temp_dir().join(format!(
            "alertkit-writer-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::UNIX_EPOCH
                .elapsed()
                .unwrap()
                .as_nanos()
        ));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    async fn values(pool: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    fn insert(conn: &Connection, v: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
            .map(drop)
            .map_err(sqlite)
    }

    /// An error or a panic inside the transaction undoes it, and the
    /// connection goes back to sqlx usable, outside any transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_work_is_rolled_back_and_the_connection_stays_usable() {
        let pool = pool().await;
        transaction(&pool, |c| insert(c, 1)).await.unwrap();
        let failed = transaction(&pool, |c| {
            insert(c, 2)?;
            Err::<(), _>(StoreError::Invalid("no".into()))
        })
        .await;
        assert!(matches!(failed, Err(StoreError::Invalid(_))));
        let pool2 = pool.clone();
        let panicked = tokio::spawn(async move {
            transaction(&pool2, |c| {
                insert(c, 3)?;
                panic!("work panicked");
                #[allow(unreachable_code)]
                Ok(())
            })
            .await
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        // Still the one connection: sqlx's own statements and the writer's.
        sqlx::query("INSERT INTO t (v) VALUES (4)")
            .execute(&pool)
            .await
            .unwrap();
        transaction(&pool, |c| insert(c, 5)).await.unwrap();
        assert_eq!(values(&pool).await, [1, 4, 5]);
    }

    /// A full database is transient (503, retried), whichever path the
    /// write took, and loses nothing already committed.
    #[tokio::test]
    async fn a_full_database_is_unavailable_on_both_paths() {
        let pool = pool().await;
        transaction(&pool, |c| insert(c, 1)).await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .execute(&pool)
        .await
        .unwrap();
        let big = "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n \
                   WHERE v < 100000) INSERT INTO t (v) SELECT v FROM n";
        let sync = transaction(&pool, |c| c.execute(big, []).map(drop).map_err(sqlite)).await;
        assert!(
            matches!(sync, Err(StoreError::Unavailable(_))),
            "writer path: {sync:?}"
        );
        let via_sqlx = sqlx::query(big).execute(&pool).await.map_err(db);
        assert!(
            matches!(via_sqlx, Err(StoreError::Unavailable(_))),
            "sqlx path: {via_sqlx:?}"
        );
        assert_eq!(values(&pool).await, [1]);
    }

    /// On a current-thread runtime the work runs in place (no
    /// `block_in_place`, which that runtime refuses).
    #[tokio::test]
    async fn works_on_a_current_thread_runtime() {
        let pool = pool().await;
        let n = transaction(&pool, |c| {
            insert(c, 7)?;
            c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .map_err(sqlite)
        })
        .await
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(values(&pool).await, [7]);
    }
}
