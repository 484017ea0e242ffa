//! History stores, the durable publish outbox, and caches for alertkit.
//!
//! | Type | Trait | Durable | Feature |
//! |---|---|---|---|
//! | [`MemoryHistoryStore`] | [`HistoryStore`](alertkit_core::HistoryStore) | no | always |
//! | [`MemoryCache`] | [`Cache`](alertkit_core::Cache) | no | always |
//! | [`TieredCache`] | [`Cache`](alertkit_core::Cache): L1 in front of L2 | as L2 | always |
#![cfg_attr(
    feature = "sqlite",
    doc = "| [`SqliteHistoryStore`] | [`HistoryStore`](alertkit_core::HistoryStore) | yes (one file, WAL) | `sqlite` |"
)]
#![cfg_attr(
    not(feature = "sqlite"),
    doc = "| `SqliteHistoryStore` | `HistoryStore` | yes (one file, WAL) | `sqlite` |"
)]
#![cfg_attr(
    feature = "postgres",
    doc = "| [`PostgresHistoryStore`] | [`HistoryStore`](alertkit_core::HistoryStore) | yes (several replicas) | `postgres` |"
)]
#![cfg_attr(
    not(feature = "postgres"),
    doc = "| `PostgresHistoryStore` | `HistoryStore` | yes (several replicas) | `postgres` |"
)]
#![cfg_attr(
    feature = "redis",
    doc = "| [`RedisCache`] | [`Cache`](alertkit_core::Cache) | yes (shared by replicas) | `redis` |"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "| `RedisCache` | `Cache` | yes (shared by replicas) | `redis` |"
)]
//!
//! # Features
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `sqlite` | the SQLite history store, bundled SQLite, embedded migrations | No |
//! | `postgres` | the Postgres history store, embedded migrations (no TLS yet) | No |
//! | `redis` | the Redis cache | No |
//!
//! **Status:** the in-memory implementations (from `alertkit-core`, re-exported
//! here), the SQLite and Postgres history stores and the Redis cache are done
//! and pass the core conformance suites, with `RedisLocks` "seen
//! before" markers and fenced leases and the tiered cache. The durable
//! outbox, history statistics and retention are the rest of this crate's
//! work item.
//!
//! ```
//! use alertkit_store::{MemoryCache, MemoryHistoryStore};
//!
//! let store = MemoryHistoryStore::default();
//! let cache = MemoryCache::new(64 * 1024 * 1024);
//! # let _ = (store, cache);
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use alertkit_core::memory::{MemoryCache, MemoryHistoryConfig, MemoryHistoryStore};

mod tiered;
pub use tiered::{TieredCache, TieredStats};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::outbox::OutboxOptions;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::retention::{PruneReport, RetentionPolicy};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteHistoryStore, SqliteOptions};

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresHistoryStore, PostgresOptions};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{RedisCache, RedisLocks, RedisOptions};
