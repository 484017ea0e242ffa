//! Connection pool statistics and the schema check of the Postgres store.

use super::PostgresHistoryStore;
use alertkit_core::StoreError;

use crate::PoolStatus;

impl PostgresHistoryStore {
    /// This replica's pool (`max` is `max_connections`); other replicas'
    /// connections to the same database are not counted.
    pub fn pool_status(&self) -> PoolStatus {
        PoolStatus::of(&self.pool)
    }

    /// Whether the database holds exactly the migrations this build
    /// embeds, as a store opened with `migrate = false` checks at open;
    /// for readiness probes, and to notice a database that another
    /// replica migrated further. The error is [`StoreError::Backend`]
    /// with a [`SchemaError`](crate::SchemaError) as its source (or the
    /// connection's error).
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        crate::sql::migrations::verify(
            &self.pool,
            crate::sql::migrations::POSTGRES_HAS_TABLE,
            &super::MIGRATOR,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use crate::{PostgresHistoryStore, PostgresOptions};

    /// Against the local server (`DATABASE_URL` overrides), in a schema of
    /// its own (named as the integration tests name theirs, so their
    /// clean-up drops it); skipped when the server is unreachable unless
    /// `ALERTKIT_REQUIRE_SERVICES` is set.
    #[tokio::test]
    async fn counts_this_replicas_pool() {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!(
            "alertkit_test_{}_{}_pool",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        let mut options = PostgresOptions::new(url.clone()).schema(schema);
        options.max_connections = 3;
        let store = match PostgresHistoryStore::open_with(options).await {
            Ok(s) => s,
            Err(e)
                if e.is_transient() && std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none() =>
            {
                eprintln!("skipped: PostgreSQL at {url} is unreachable: {e:?}");
                return;
            }
            Err(e) => panic!("PostgreSQL at {url}: {e:?}"),
        };
        assert_eq!(store.pool_status().max, 3);
        let held = store.pool.acquire().await.unwrap();
        let busy = store.pool_status();
        assert!(busy.in_use >= 1, "{busy:?}");
        assert!(busy.in_use + busy.idle <= busy.max, "{busy:?}");
        drop(held);
        store.close().await;
        let closed = store.pool_status();
        assert_eq!((closed.in_use, closed.idle), (0, 0), "{closed:?}");
    }
}
