//! Caches: a hit in the in-memory cache, and Redis single and batch lookups.
//!
//! - `cache/memory/get_hit`: `Cache::get` (through the trait) of the 18-byte
//!   key `classification:key`, present in a `MemoryCache` with a 300-byte
//!   value (a classification's size). Timed: the `async_trait` future boxed
//!   per call (one allocation and free), polled once with `now_or_never` (no
//!   runtime round trip), the map lookup (key hash, moka's expiry check and
//!   read recording, its amortized housekeeping), the hit counter, and the
//!   `Bytes` clone and drop. This is the row the target refers to.
//! - `cache/memory/get_now_hit`: the same lookup through the synchronous
//!   `MemoryCache::get_now` (what `Cache::get` delegates to): everything
//!   above except the boxed future and its poll.
//! - `cache/redis/get_hit`: one `GET` round trip to the local Redis.
//! - `cache/redis/get_many_100`: `RedisCache::get_many` of 100 keys: one
//!   `MGET` round trip. Skipped when Redis is unreachable.
//!
//! Targets (store issue): memory cache hit < 200 ns; Redis batch get of 100
//! keys in one round trip.

use std::time::Duration;

use alertkit_core::Cache;
use alertkit_core::memory::MemoryCache;
use alertkit_store::{RedisCache, RedisOptions};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;

fn cache(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let value = Bytes::from(vec![b'x'; 300]);
    let ttl = Duration::from_secs(3600);
    let mut group = c.benchmark_group("cache");

    let memory = MemoryCache::new(64 * 1024 * 1024);
    rt.block_on(memory.set("classification:key", value.clone(), ttl))
        .expect("set");
    group.bench_function("memory/get_hit", |b| {
        b.iter(|| {
            memory
                .get("classification:key")
                .now_or_never()
                .expect("memory cache answers at once")
                .expect("hit")
        });
    });
    group.bench_function("memory/get_now_hit", |b| {
        b.iter(|| memory.get_now("classification:key").expect("hit"));
    });

    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("alertkit-bench:{}:", std::process::id());
    match rt.block_on(RedisCache::connect(RedisOptions::new(url).prefix(prefix))) {
        Ok(redis) => {
            let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
            for k in &keys {
                rt.block_on(redis.set(k, value.clone(), Duration::from_secs(300)))
                    .expect("set");
            }
            group.bench_function("redis/get_hit", |b| {
                b.to_async(&rt).iter(|| redis.get("k0"));
            });
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            group.bench_function("redis/get_many_100", |b| {
                b.to_async(&rt).iter(|| redis.get_many(&refs));
            });
        }
        Err(e) => eprintln!("skipping cache/redis: {e}"),
    }
    group.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
