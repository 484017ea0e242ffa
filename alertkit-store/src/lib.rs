//! History stores, the durable publish outbox, and caches for alertkit.
//!
//! **Status:** this crate currently offers the in-memory implementations,
//! which live in `alertkit-core` and are re-exported here so applications can
//! depend on one crate for storage. The SQLite (embedded default) and
//! Postgres history stores with the durable outbox, and the Redis and tiered
//! caches, are the next work item; they will arrive behind the features
//! `sqlite`, `postgres` and `redis`, and will pass the same conformance suites
//! (`alertkit_core::testing::conformance`) the in-memory ones pass.
//!
//! | Type | Trait | Durable |
//! |---|---|---|
//! | [`MemoryHistoryStore`] | [`HistoryStore`](alertkit_core::HistoryStore) | no |
//! | [`MemoryCache`] | [`Cache`](alertkit_core::Cache) | no |
//!
//! ```
//! use alertkit_store::{MemoryCache, MemoryHistoryStore};
//!
//! let store = MemoryHistoryStore::default();
//! let cache = MemoryCache::new(64 * 1024 * 1024);
//! # let _ = (store, cache);
//! ```

#![forbid(unsafe_code)]

pub use alertkit_core::memory::{MemoryCache, MemoryHistoryConfig, MemoryHistoryStore};
