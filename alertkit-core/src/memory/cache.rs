//! [`MemoryCache`]: a TTL- and size-bounded in-process [`Cache`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::notification::RemovalCause;
use rustc_hash::FxBuildHasher;

use crate::{Cache, CacheError, CacheStats};

/// The hasher of [`MemoryCache`]'s map: FxHash instead of moka's default
/// SipHash-1-3, which took ~210 of the ~1 620 instructions of a hit in
/// `cache/memory/get_hit` (an 18-byte key; FxHash takes ~40).
/// FxHash is not HashDoS-resistant; that is acceptable here because the
/// keys are built by alertkit itself (`{namespace}:{fingerprint}:{inputs}`,
/// hex of hashes; see `classification_cache_key`), and a flood of colliding
/// keys could only slow lookups: the map stays bounded by `max_bytes`. Use a
/// cache with a keyed hasher for keys an untrusted party chooses.
type KeyHasher = FxBuildHasher;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<Arc<str>, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Entry,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &Arc<str>,
        value: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl Counters {
    /// Counts a lookup's answer as a hit or a miss, and passes it on.
    fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }
}

/// An in-process cache (moka) bounded by total size in bytes, with a TTL per entry.
///
/// Entries are weighed as key length + value length; when the bound is
/// exceeded the least useful entries (TinyLFU) are evicted and counted.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use alertkit_core::{Cache, memory::MemoryCache};
///
/// let cache = MemoryCache::new(64 * 1024 * 1024);
/// cache.set("k", "v".into(), Duration::from_secs(60)).await.unwrap();
/// assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
/// assert_eq!(cache.stats().hits, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    inner: moka::sync::Cache<Arc<str>, Entry, KeyHasher>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.inner.entry_count())
            .field("weighted_size", &self.inner.weighted_size())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of keys and values.
    pub fn new(max_bytes: u64) -> Self {
        let counters = Arc::new(Counters::default());
        let evictions = Arc::clone(&counters);
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Arc<str>, v: &Entry| {
                u32::try_from(k.len().saturating_add(v.value.len())).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build_with_hasher(KeyHasher::default());
        Self { inner, counters }
    }

    /// The value under `key`, if present and not expired — what
    /// [`Cache::get`] answers, without its boxed future (`async_trait`
    /// allocates one per call). Counts a hit or a miss the same way.
    ///
    /// ```
    /// use std::time::Duration;
    /// use alertkit_core::{Cache, memory::MemoryCache};
    /// use futures_util::FutureExt as _;
    ///
    /// let cache = MemoryCache::new(1 << 20);
    /// cache.set("k", "v".into(), Duration::from_secs(60)).now_or_never().unwrap().unwrap();
    /// assert_eq!(cache.get_now("k").as_deref(), Some(&b"v"[..]));
    /// assert!(cache.get_now("other").is_none());
    /// assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
    /// ```
    pub fn get_now(&self, key: &str) -> Option<Bytes> {
        self.counters.count(self.inner.get(key).map(|e| e.value))
    }

    /// Applies pending evictions and expiries now (they otherwise happen in
    /// small steps during other operations); useful before reading `stats`.
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(self.get_now(key))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        if ttl.is_zero() {
            self.inner.invalidate(key);
        } else {
            self.inner.insert(Arc::from(key), Entry { value, ttl });
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.inner.invalidate(key);
        Ok(())
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            errors: 0,
            entries: self.inner.entry_count(),
        }
    }
}

/// An in-process cache of decoded values: a lookup is a hash, a map probe
/// and an `Arc` clone — no encoding, no `async`, no allocation.
///
/// It is the L1 of [`ClassificationCacheLayer`](crate::layer::ClassificationCacheLayer)
/// (decoded verdicts in front of any byte [`Cache`]). Bounded by an estimated
/// size in bytes (the `weigher` gives each value's), one TTL for every entry;
/// when the bound is exceeded the least useful entries (TinyLFU) are evicted
/// and counted.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use alertkit_core::memory::MemoryValueCache;
///
/// let cache = MemoryValueCache::<u64, String>::new(1 << 20, Duration::from_secs(60), |v| v.len() as u32);
/// cache.insert(7, Arc::new("seven".to_owned()));
/// assert_eq!(cache.get(&7).as_deref().map(String::as_str), Some("seven"));
/// assert!(cache.get(&8).is_none());
/// assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
/// ```
pub struct MemoryValueCache<K, V> {
    inner: moka::sync::Cache<K, Arc<V>>,
    counters: Arc<Counters>,
}

impl<K, V> Clone for MemoryValueCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            counters: Arc::clone(&self.counters),
        }
    }
}

impl<K, V> std::fmt::Debug for MemoryValueCache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryValueCache")
            .field("entries", &self.inner.entry_count())
            .field("weighted_size", &self.inner.weighted_size())
            .finish()
    }
}

impl<K, V> MemoryValueCache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A cache holding at most `max_bytes` (as `weigher` estimates values;
    /// keys count as their size) for at most `ttl` each.
    pub fn new(max_bytes: u64, ttl: Duration, weigher: fn(&V) -> u32) -> Self {
        let counters = Arc::new(Counters::default());
        let evictions = Arc::clone(&counters);
        let key_size = u32::try_from(size_of::<K>()).unwrap_or(u32::MAX);
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |_k: &K, v: &Arc<V>| key_size.saturating_add(weigher(v)))
            .time_to_live(ttl)
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self { inner, counters }
    }

    /// The value under `key`, if present and not expired.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.counters.count(self.inner.get(key))
    }

    /// Stores `value` under `key` (replacing any previous value).
    pub fn insert(&self, key: K, value: Arc<V>) {
        self.inner.insert(key, value);
    }

    /// Removes `key`; removing a missing key does nothing.
    pub fn invalidate(&self, key: &K) {
        self.inner.invalidate(key);
    }

    /// Applies pending evictions and expiries now; useful before reading `stats`.
    pub fn run_pending_tasks(&self) {
        self.inner.run_pending_tasks();
    }

    /// Counters since creation (`errors` is always 0).
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            errors: 0,
            entries: self.inner.entry_count(),
        }
    }
}
