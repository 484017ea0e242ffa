//! Connection pool statistics and the schema check of the SQLite store.

use super::SqliteHistoryStore;
use alertkit_core::StoreError;

use crate::PoolStatus;

impl SqliteHistoryStore {
    /// The writer connection and the readers together: `max` is
    /// `read_connections + 1`. A busy writer (one `in_use`) is normal under
    /// ingest; readers all in use means queries are queueing.
    pub fn pool_status(&self) -> PoolStatus {
        PoolStatus::of(&self.write).plus(PoolStatus::of(&self.read))
    }

    /// Whether the database holds exactly the migrations this build
    /// embeds, as a store opened with `migrate = false` checks at open;
    /// for readiness probes, and to notice a database that another
    /// replica migrated further. The error is [`StoreError::Backend`]
    /// with a [`SchemaError`](crate::SchemaError) as its source (or the
    /// connection's error).
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        crate::sql::migrations::verify(
            &self.read,
            crate::sql::migrations::SQLITE_HAS_TABLE,
            &super::MIGRATOR,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use crate::{SqliteHistoryStore, SqliteOptions};

    #[tokio::test]
    async fn counts_the_writer_and_the_readers() {
        let dir = std::env::temp_dir().join(format!("alertkit-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut options = SqliteOptions::new(format!("sqlite://{}/pool.db", dir.display()));
        options.read_connections = 3;
        let store = SqliteHistoryStore::open_with(options).await.unwrap();
        let status = store.pool_status();
        assert_eq!(status.max, 4, "{status:?}");
        assert!(status.in_use + status.idle <= status.max, "{status:?}");

        let writer = store.write.acquire().await.unwrap();
        let reader = store.read.acquire().await.unwrap();
        let busy = store.pool_status();
        assert!(busy.in_use >= 2, "{busy:?}");
        assert!(busy.in_use + busy.idle <= busy.max, "{busy:?}");
        drop((writer, reader));
        store.close().await;
        let closed = store.pool_status();
        assert_eq!((closed.in_use, closed.idle), (0, 0), "{closed:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
