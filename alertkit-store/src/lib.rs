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
    feature = "sqlite",
    doc = "| [`FileJournal`] | [`Journal`](alertkit_core::Journal) | yes (segment files beside the database; the server's) | `sqlite` |"
)]
#![cfg_attr(
    not(feature = "sqlite"),
    doc = "| `FileJournal` | `Journal` | yes (segment files beside the database; the server's) | `sqlite` |"
)]
#![cfg_attr(
    feature = "sqlite",
    doc = "| [`SqliteJournal`] | [`Journal`](alertkit_core::Journal) | yes (a file beside the database) | `sqlite` |"
)]
#![cfg_attr(
    not(feature = "sqlite"),
    doc = "| `SqliteJournal` | `Journal` | yes (a file beside the database) | `sqlite` |"
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
//! | `postgres` | the Postgres history store, embedded migrations, TLS through rustls (`sslmode=…` in the URL) | No |
//! | `redis` | the Redis cache and locks, TLS through rustls (`rediss://`) | No |
//!
//! Both SQL stores apply their pending migrations when they open. Opened
//! with `migrate = false` (migrations applied separately), they check
//! instead that the database holds exactly this build's migrations, and
//! refuse it with a `SchemaError` naming the first difference; an open
//! store runs the same check on demand (`check_schema`, for readiness
//! probes).
//!
//! **Status:** the in-memory implementations (from `alertkit-core`, re-exported
//! here), the SQLite and Postgres history stores with their durable outbox
//! ([`alertkit_core::Outbox`]: enqueued in the record transaction, leased,
//! fenced, dead letters, delivery log; see `OutboxOptions`), retention
//! (`RetentionPolicy`), the Redis cache with `RedisLocks`, and the tiered
//! cache are done and pass the core conformance suites, as do history
//! statistics ([`alertkit_core::traits::HistoryStats`]: counts, top firing,
//! flapping; aggregated in SQL over covering indexes, and on Postgres from
//! hourly counters the writers keep, for the whole hours of an interval).
//!
//! ```
//! use alertkit_store::{MemoryCache, MemoryHistoryStore};
//!
//! let store = MemoryHistoryStore::default();
//! let cache = MemoryCache::new(64 * 1024 * 1024);
//! # let _ = (store, cache);
//! ```

// One `unsafe` call, in `sqlite::writer` (with its safety argument);
// nothing else may use `unsafe`.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use alertkit_core::memory::{MemoryCache, MemoryHistoryConfig, MemoryHistoryStore};

mod tiered;
pub use tiered::{TieredCache, TieredStats};

mod pool;
pub use pool::PoolStatus;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::migrations::SchemaError;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::outbox::OutboxOptions;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::retention::{PruneReport, RetentionPolicy};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteHistoryStore, SqliteJournal, SqliteOptions};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod file_journal;
#[cfg(feature = "sqlite")]
pub use file_journal::FileJournal;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresHistoryStore, PostgresOptions};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{RedisCache, RedisLocks, RedisOptions};
