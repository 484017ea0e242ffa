//! The tiered cache: conformance (memory over memory, memory over Redis) and
//! serving from L1 while L2 is down.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alertkit_core::testing::conformance;
use alertkit_core::{Cache, CacheError, CacheStats};
use alertkit_store::{MemoryCache, TieredCache};
use bytes::Bytes;

#[test]
fn memory_over_memory_conforms() {
    conformance::cache(|| async {
        TieredCache::new(
            MemoryCache::new(1 << 24),
            MemoryCache::new(1 << 24),
            Duration::from_secs(60),
        )
    });
}

/// A real in-memory L2 that can be switched off, as Redis going down looks
/// to the tiered cache.
#[derive(Debug)]
struct Switchable {
    inner: MemoryCache,
    down: AtomicBool,
}

impl Switchable {
    fn check(&self) -> Result<(), CacheError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(CacheError::Unavailable("connection refused".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Cache for Switchable {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        self.check()?;
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.check()?;
        self.inner.delete(key).await
    }
    fn stats(&self) -> CacheStats {
        self.inner.stats()
    }
}

#[tokio::test]
async fn keeps_serving_from_l1_when_l2_is_down() {
    let l2 = Switchable {
        inner: MemoryCache::new(1 << 20),
        down: AtomicBool::new(false),
    };
    let cache = TieredCache::new(MemoryCache::new(1 << 20), l2, Duration::from_secs(60));
    let ttl = Duration::from_secs(3600);
    cache.set("before", "1".into(), ttl).await.unwrap();

    cache_l2(&cache).down.store(true, Ordering::SeqCst);
    assert_eq!(
        cache.get("before").await.unwrap().as_deref(),
        Some(&b"1"[..]),
        "L1 still answers"
    );
    cache.set("during", "2".into(), ttl).await.unwrap();
    assert_eq!(
        cache.get("during").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        cache.get("never").await.unwrap(),
        None,
        "an L2 failure is a miss, not an error"
    );
    let stats = cache.tiered_stats();
    assert_eq!(stats.l1_hits, 2);
    assert!(stats.l2_errors >= 2, "{stats:?}");

    cache_l2(&cache).down.store(false, Ordering::SeqCst);
    cache_l2(&cache)
        .inner
        .set("shared", "3".into(), ttl)
        .await
        .unwrap(); // written by another replica
    assert_eq!(
        cache.get("shared").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(cache.tiered_stats().l2_hits, 1);
    assert_eq!(
        cache.get("shared").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        cache.tiered_stats().l1_hits,
        3,
        "the L2 hit was copied into L1"
    );
}

fn cache_l2(cache: &TieredCache<MemoryCache, Switchable>) -> &Switchable {
    cache.l2()
}

#[cfg(feature = "redis")]
#[test]
fn memory_over_redis_conforms() {
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let probe = rt.block_on(alertkit_store::RedisCache::connect(
        alertkit_store::RedisOptions::new(url.clone()),
    ));
    if let Err(e) = probe {
        assert!(
            std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none(),
            "Redis at {url}: {e:?}"
        );
        eprintln!("skipped: Redis at {url} is unreachable: {e:?}");
        return;
    }
    drop(rt);
    conformance::cache(|| {
        let url = url.clone();
        async move {
            let prefix = format!(
                "alertkit-test:tiered:{}:{}:",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            );
            let l2 = alertkit_store::RedisCache::connect(
                alertkit_store::RedisOptions::new(url).prefix(prefix),
            )
            .await
            .unwrap();
            TieredCache::new(MemoryCache::new(1 << 24), l2, Duration::from_secs(60))
        }
    });
}
