//! The standard classification chain on a cache hit.
//!
//! - `classify/chain/l1_hit`: `StandardChain::classify` of a kube-prometheus
//!   alert whose verdict (a 300-byte classification with a summary and two
//!   recommendations) is in the chain's L1 of decoded verdicts: input hash,
//!   L1 lookup, copy of the verdict, through the `Classifier` trait (its
//!   `async_trait` box included), polled once without a runtime round trip.
//!   (The single flight sits behind the cache: hits do not reach it.)
//! - `classify/chain/l1_hit_tokio`: the same, awaited on a tokio runtime.
//! - `classify/chain/l2_hit`: the same alert through a chain built without
//!   L1 (`ChainBuilder::l1(0, …)`): every hit walks the tower stack, builds
//!   the string key, asks the `MemoryCache` (async trait) and decodes JSON —
//!   the path every hit took before L1.
//! - The parts of a hit, alone: `classify/part/key` (`ClassificationKey::of`,
//!   the hash an L1 hit pays), `classify/part/cache_key`
//!   (`classification_cache_key`, the string an L2 lookup needs),
//!   `classify/part/memory_get` (the `MemoryCache` lookup) and
//!   `classify/part/decode` (JSON to `Classification`).
//!
//! The LLM is never called (its URL points at a closed port); the breaker is
//! the default one. Target (llm issue): an L1 hit through the chain < 1 µs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::layer::{ClassificationKey, classification_cache_key};
use alertkit_core::memory::{LabelClassifier, MemoryCache};
use alertkit_core::{Cache, Category, Classification, ClassificationSource, Classifier, Severity};
use alertkit_llm::ChainBuilder;
use alertkit_llm::openai::{LlmClassifier, LlmConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt as _;

fn classify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let alert = alertkit_benches::alerts(1, 0).remove(0);
    let llm = LlmClassifier::new(LlmConfig::new("http://127.0.0.1:9/v1", "gpt-4o-mini"))
        .expect("llm config");
    let namespace = llm.id().to_owned();
    let cache = Arc::new(MemoryCache::new(64 * 1024 * 1024));
    let verdict = Classification::new(
        Severity::Critical,
        Category::Availability,
        0.87,
        ClassificationSource::Llm,
    )
    .with_summary("checkout pods are crash-looping after the last deploy")
    .with_recommendations([
        "kubectl -n payments describe pod checkout-0",
        "roll back the checkout deployment if the crash started with it",
    ])
    .with_model("gpt-4o-mini");
    let bytes = serde_json::to_vec(&verdict).expect("encode");
    rt.block_on(cache.set(
        &classification_cache_key(&namespace, &alert),
        bytes.clone().into(),
        Duration::from_secs(3600),
    ))
    .expect("set");
    let probe = Arc::clone(&cache);
    let llm: Arc<dyn Classifier> = Arc::new(llm);
    let chain = ChainBuilder::new(Arc::clone(&llm), Arc::new(LabelClassifier))
        .cache(
            Arc::clone(&cache) as Arc<dyn Cache>,
            Duration::from_secs(3600),
        )
        .build();
    let l2_only = ChainBuilder::new(llm, Arc::new(LabelClassifier))
        .cache(cache, Duration::from_secs(3600))
        .l1(0, Duration::ZERO)
        .build();
    let hit = chain
        .classify(&alert)
        .now_or_never()
        .expect("a hit answers at once")
        .expect("classified");
    assert_eq!(hit.source, ClassificationSource::Cache);
    assert_eq!(hit.severity, Severity::Critical);

    let mut group = c.benchmark_group("classify");
    group.bench_function("chain/l1_hit", |b| {
        b.iter(|| {
            chain
                .classify(black_box(&alert))
                .now_or_never()
                .expect("a hit answers at once")
                .expect("classified")
        });
    });
    group.bench_function("chain/l1_hit_tokio", |b| {
        b.to_async(&rt).iter(|| chain.classify(black_box(&alert)));
    });
    group.bench_function("chain/l2_hit", |b| {
        b.iter(|| {
            l2_only
                .classify(black_box(&alert))
                .now_or_never()
                .expect("a memory hit answers at once")
                .expect("classified")
        });
    });
    let stats = chain.cache_stats().expect("a cache");
    assert!(stats.l1_hits > 0 && stats.l2_hits == 1 && stats.misses == 0);
    group.bench_function("part/key", |b| {
        b.iter(|| ClassificationKey::of(black_box(&alert)));
    });
    group.bench_function("part/cache_key", |b| {
        b.iter(|| classification_cache_key(black_box(&namespace), black_box(&alert)));
    });
    let key = classification_cache_key(&namespace, &alert);
    group.bench_function("part/memory_get", |b| {
        b.iter(|| {
            probe
                .get(black_box(&key))
                .now_or_never()
                .expect("memory cache answers at once")
                .expect("hit")
        });
    });
    group.bench_function("part/decode", |b| {
        b.iter(|| serde_json::from_slice::<Classification>(black_box(&bytes)).expect("decode"));
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
