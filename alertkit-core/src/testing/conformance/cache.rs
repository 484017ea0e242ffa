//! The [`Cache`] conformance suite.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{check, ensure, ok, once, runtime};
use crate::Cache;

const LONG: Duration = Duration::from_secs(3600);

/// Runs every [`Cache`] check against fresh caches from `make`.
///
/// Checks: get/set/overwrite/delete, hit and miss counters, TTL expiry,
/// keys that differ only slightly never collide, arbitrary binary values
/// (empty included) read back exactly, and concurrent readers and writers.
pub fn cache<F, Fut, C>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
    C: Cache,
{
    let rt = runtime();
    let make = &make;
    once(&rt, "basics", async { basics(make().await).await });
    once(&rt, "ttl_expiry", async { ttl_expiry(make().await).await });
    once(&rt, "concurrency", async {
        concurrency(make().await).await
    });
    check(
        &rt,
        "binary_values",
        32,
        vec(("\\PC{1,40}", vec(any::<u8>(), 0..2048)), 1..16),
        |entries| async move { binary_values(make().await, entries).await },
    );
}

async fn basics(cache: impl Cache) -> Result<(), TestCaseError> {
    let before = cache.stats();
    ensure(ok("get", cache.get("missing").await)?.is_none(), || {
        "a missing key returned a value".into()
    })?;
    ok(
        "set",
        cache.set("k", Bytes::from_static(b"one"), LONG).await,
    )?;
    let got = ok("get", cache.get("k").await)?;
    ensure(got.as_deref() == Some(&b"one"[..]), || {
        format!("get after set returned {got:?}")
    })?;
    ok(
        "set",
        cache.set("k", Bytes::from_static(b"two"), LONG).await,
    )?;
    let got = ok("get", cache.get("k").await)?;
    ensure(got.as_deref() == Some(&b"two"[..]), || {
        format!("overwrite not visible: {got:?}")
    })?;
    for similar in ["K", "k ", "k:", " k", "kk"] {
        ensure(ok("get", cache.get(similar).await)?.is_none(), || {
            format!("key {similar:?} collides with \"k\"")
        })?;
    }
    ok("delete", cache.delete("k").await)?;
    ensure(ok("get", cache.get("k").await)?.is_none(), || {
        "deleted key still present".into()
    })?;
    ok("delete", cache.delete("never-set").await)?;
    let after = cache.stats();
    ensure(after.hits >= before.hits + 2, || {
        format!(
            "hits went {} → {}, want at least +2",
            before.hits, after.hits
        )
    })?;
    ensure(after.misses >= before.misses + 7, || {
        format!(
            "misses went {} → {}, want at least +7",
            before.misses, after.misses
        )
    })
}

async fn ttl_expiry(cache: impl Cache) -> Result<(), TestCaseError> {
    ok(
        "set",
        cache
            .set(
                "short",
                Bytes::from_static(b"x"),
                Duration::from_millis(300),
            )
            .await,
    )?;
    ok(
        "set",
        cache.set("long", Bytes::from_static(b"y"), LONG).await,
    )?;
    ensure(ok("get", cache.get("short").await)?.is_some(), || {
        "entry gone before its TTL".into()
    })?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    ensure(ok("get", cache.get("short").await)?.is_none(), || {
        "entry still present 1 s after its 300 ms TTL".into()
    })?;
    ensure(ok("get", cache.get("long").await)?.is_some(), || {
        "long-lived entry expired early".into()
    })
}

async fn concurrency(cache: impl Cache) -> Result<(), TestCaseError> {
    let cache = Arc::new(cache);
    let mut tasks = Vec::new();
    for w in 0..16u8 {
        let cache = Arc::clone(&cache);
        tasks.push(tokio::spawn(async move {
            for i in 0..100u8 {
                let key = format!("key-{}", i % 10);
                cache.set(&key, Bytes::from(vec![w, i]), LONG).await?;
                if let Some(v) = cache.get(&key).await?
                    && v.len() != 2
                {
                    return Ok(Some(format!("torn value {v:?} under {key}")));
                }
            }
            Ok::<_, crate::CacheError>(None)
        }));
    }
    for t in tasks {
        let r = t
            .await
            .map_err(|e| TestCaseError::fail(format!("task panicked: {e}")))?;
        if let Some(problem) = ok("concurrent set/get", r)? {
            return Err(TestCaseError::fail(problem));
        }
    }
    for i in 0..10 {
        let v = ok("get", cache.get(&format!("key-{i}")).await)?;
        ensure(
            v.as_ref().is_some_and(|v| v.len() == 2 && v[1] % 10 == i),
            || format!("key-{i} holds {v:?}, not a value written to it"),
        )?;
    }
    Ok(())
}

async fn binary_values(
    cache: impl Cache,
    entries: Vec<(String, Vec<u8>)>,
) -> Result<(), TestCaseError> {
    let mut last = std::collections::HashMap::new();
    for (k, v) in &entries {
        ok("set", cache.set(k, Bytes::from(v.clone()), LONG).await)?;
        last.insert(k.clone(), v.clone());
    }
    for (k, v) in &last {
        let got = ok("get", cache.get(k).await)?;
        ensure(got.as_deref() == Some(v.as_slice()), || {
            format!("value under {k:?} not read back exactly")
        })?;
    }
    Ok(())
}
