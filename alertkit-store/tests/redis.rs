//! The Redis cache against the real server on 127.0.0.1:6379 (`REDIS_URL`
//! overrides). Each cache gets its own key prefix, so tests run in
//! parallel. Without a reachable server the tests are skipped with a printed
//! reason, unless `ALERTKIT_REQUIRE_SERVICES=1` (set by `.ci/run`).

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alertkit_core::Cache;
use alertkit_core::testing::conformance;
use alertkit_store::{RedisCache, RedisOptions};

fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn fresh() -> Option<RedisCache> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!(
        "alertkit-test:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    match RedisCache::connect(RedisOptions::new(url()).prefix(prefix)).await {
        Ok(cache) => Some(cache),
        Err(e) if std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none() => {
            eprintln!("skipped: Redis at {} is unreachable: {e:?}", url());
            None
        }
        Err(e) => panic!("Redis at {}: {e:?}", url()),
    }
}

#[test]
fn redis_cache_conforms() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    if rt.block_on(fresh()).is_none() {
        return;
    }
    drop(rt);
    conformance::cache(|| async { fresh().await.unwrap() });
}

#[tokio::test]
async fn batch_get_is_one_round_trip_in_order() {
    let Some(cache) = fresh().await else { return };
    cache
        .set("a", "1".into(), Duration::from_secs(60))
        .await
        .unwrap();
    cache
        .set("c", "3".into(), Duration::from_secs(60))
        .await
        .unwrap();
    let got = cache.get_many(&["a", "b", "c"]).await.unwrap();
    let got: Vec<Option<&[u8]>> = got.iter().map(|v| v.as_deref()).collect();
    assert_eq!(got, [Some(&b"1"[..]), None, Some(&b"3"[..])]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (2, 1));
}

#[tokio::test]
async fn every_key_is_prefixed_and_expires() {
    let Some(cache) = fresh().await else { return };
    cache
        .set("k", "v".into(), Duration::from_secs(30))
        .await
        .unwrap();
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("alertkit-test:{}:*", std::process::id()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_error() {
    let err = RedisCache::connect(RedisOptions::new("redis://127.0.0.1:1"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn seen_before_is_true_once_and_leases_are_fenced() {
    let Some(cache) = fresh().await else { return };
    let locks = cache.locks();
    let ttl = Duration::from_secs(30);
    let marks =
        futures_util::future::join_all((0..8).map(|_| locks.first_seen("group-key", ttl))).await;
    assert_eq!(
        marks.iter().filter(|m| *m.as_ref().unwrap()).count(),
        1,
        "exactly one first sighting"
    );

    assert!(locks.acquire("lease", "replica-a", ttl).await.unwrap());
    assert!(
        !locks.acquire("lease", "replica-b", ttl).await.unwrap(),
        "held by a"
    );
    assert!(
        !locks.release("lease", "replica-b").await.unwrap(),
        "b cannot release a's lease"
    );
    assert!(!locks.extend("lease", "replica-b", ttl).await.unwrap());
    assert!(locks.extend("lease", "replica-a", ttl).await.unwrap());
    assert!(locks.release("lease", "replica-a").await.unwrap());
    assert!(
        locks
            .acquire("lease", "replica-b", Duration::from_millis(200))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        locks.acquire("lease", "replica-a", ttl).await.unwrap(),
        "an expired lease can be taken"
    );
    assert!(
        !locks.release("lease", "replica-b").await.unwrap(),
        "the expired holder's release is refused"
    );
}
