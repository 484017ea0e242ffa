//! [`TieredCache`]: a fast local cache in front of a shared one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alertkit_core::{Cache, CacheError, CacheStats};
use async_trait::async_trait;
use bytes::Bytes;

/// Hits and misses of a [`TieredCache`], per tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// Lookups answered by L1.
    pub l1_hits: u64,
    /// Lookups L1 missed and L2 answered.
    pub l2_hits: u64,
    /// Lookups neither tier answered (including L2 failures).
    pub misses: u64,
    /// L2 operations that failed (each served from L1 or as a miss).
    pub l2_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    l1_hits: AtomicU64,
    l2_hits: AtomicU64,
    misses: AtomicU64,
    l2_errors: AtomicU64,
}

/// L1 (in-process, e.g. [`MemoryCache`](crate::MemoryCache)) in front of L2
/// (shared, e.g. `RedisCache`).
///
/// - A lookup tries L1, then L2; an L2 hit is copied into L1.
/// - Writes go to both. L1 keeps an entry at most `l1_ttl` (keep it short:
///   L1 is not invalidated when another replica changes L2).
/// - **L2 failures never fail the caller**: they are counted, a lookup
///   becomes a miss, a write still lands in L1. When L2 (Redis) is down the
///   cache keeps serving from L1.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use alertkit_core::Cache;
/// use alertkit_store::{MemoryCache, TieredCache};
///
/// // In production L2 is a RedisCache; any Cache works.
/// let cache = TieredCache::new(MemoryCache::new(1 << 20), MemoryCache::new(1 << 20), Duration::from_secs(60));
/// cache.set("k", "v".into(), Duration::from_secs(3600)).await.unwrap();
/// assert!(cache.get("k").await.unwrap().is_some());
/// assert_eq!(cache.tiered_stats().l1_hits, 1);
/// # });
/// ```
#[derive(Debug)]
pub struct TieredCache<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl: Duration,
    counters: Counters,
}

impl<L1: Cache, L2: Cache> TieredCache<L1, L2> {
    /// `l1` in front of `l2`; L1 entries live at most `l1_ttl`.
    pub fn new(l1: L1, l2: L2, l1_ttl: Duration) -> Self {
        Self {
            l1,
            l2,
            l1_ttl,
            counters: Counters::default(),
        }
    }

    /// The local tier.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The shared tier.
    pub fn l2(&self) -> &L2 {
        &self.l2
    }

    /// Per-tier counters.
    pub fn tiered_stats(&self) -> TieredStats {
        TieredStats {
            l1_hits: self.counters.l1_hits.load(Ordering::Relaxed),
            l2_hits: self.counters.l2_hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            l2_errors: self.counters.l2_errors.load(Ordering::Relaxed),
        }
    }

    fn l2_failed(&self, op: &str, e: &CacheError) {
        self.counters.l2_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("alertkit_cache_l2_errors_total").increment(1);
        tracing::debug!(op, error = %e, "L2 cache failed; continuing with L1");
    }
}

#[async_trait]
impl<L1: Cache, L2: Cache> Cache for TieredCache<L1, L2> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        if let Ok(Some(v)) = self.l1.get(key).await {
            self.counters.l1_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(v));
        }
        match self.l2.get(key).await {
            Ok(Some(v)) => {
                self.counters.l2_hits.fetch_add(1, Ordering::Relaxed);
                // The remaining L2 TTL is unknown; L1's own bound applies.
                let _ = self.l1.set(key, v.clone(), self.l1_ttl).await;
                Ok(Some(v))
            }
            Ok(None) => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => {
                self.l2_failed("get", &e);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.l1
            .set(key, value.clone(), ttl.min(self.l1_ttl))
            .await?;
        if let Err(e) = self.l2.set(key, value, ttl).await {
            self.l2_failed("set", &e);
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.l1.delete(key).await?;
        if let Err(e) = self.l2.delete(key).await {
            self.l2_failed("delete", &e);
        }
        Ok(())
    }

    fn stats(&self) -> CacheStats {
        let t = self.tiered_stats();
        let mut stats = CacheStats::default();
        stats.hits = t.l1_hits + t.l2_hits;
        stats.misses = t.misses;
        stats.errors = t.l2_errors;
        stats.evictions = self.l1.stats().evictions;
        stats.entries = self.l1.stats().entries;
        stats
    }
}
