//! A realistic notification storm replayed through the standard chain.
//!
//! The storm (`alertkit-llm/tests/support/storm.rs`): 10 000 deliveries over
//! 50 distinct alerts from an HA pair of Alertmanagers, minute by minute for
//! 215 minutes, with resolves, re-fires and occasional annotation changes.
//! Each minute's deliveries are classified concurrently by a fresh
//! `StandardChain` (L1 of decoded verdicts, then the L2 byte cache, then
//! single flight, then a counting fake LLM that answers after a few
//! scheduler turns; rules as fallback).
//!
//! - Before timing, each variant replays the storm once and prints the hit
//!   rate (L1 / L2 / miss) and the LLM calls: the figure the llm issue asks
//!   for (≥ 95 %).
//! - `storm/replay_10k/memory`: time to replay the whole storm with a
//!   `MemoryCache` as L2 (criterion reports per replay; divide by 10 000).
//! - `storm/replay_10k/redis`: the same with the local Redis as L2 (skipped
//!   when Redis is unreachable); misses pay a `GET` and a `SET`. Each run
//!   writes under its own key prefix; entries live 10 minutes (the replay
//!   takes milliseconds, so no entry expires during it).

#[path = "../../alertkit-llm/tests/support/storm.rs"]
#[allow(dead_code)]
mod storm;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alertkit_core::memory::{LabelClassifier, MemoryCache};
use alertkit_core::{
    Alert, Cache, Category, Classification, ClassificationSource, Classifier, ClassifyError,
    Severity,
};
use alertkit_llm::{ChainBuilder, StandardChain};
use alertkit_store::{RedisCache, RedisOptions};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// An "LLM" that counts its calls and takes a few scheduler turns to answer.
#[derive(Default)]
struct CountingLlm {
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl Classifier for CountingLlm {
    fn id(&self) -> &str {
        "fake-llm/storm"
    }

    async fn classify(&self, _alert: &Alert) -> Result<Classification, ClassifyError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        Ok(Classification::new(
            Severity::Critical,
            Category::Errors,
            0.8,
            ClassificationSource::Llm,
        )
        .with_summary("storm verdict")
        .with_recommendations(["look at the dashboard"]))
    }
}

fn chain(llm: &Arc<CountingLlm>, l2: Arc<dyn Cache>) -> Arc<StandardChain> {
    Arc::new(
        ChainBuilder::new(
            Arc::clone(llm) as Arc<dyn Classifier>,
            Arc::new(LabelClassifier),
        )
        .cache(l2, Duration::from_secs(600))
        .build(),
    )
}

async fn replay(chain: &Arc<StandardChain>, minutes: &[Vec<Alert>]) {
    for minute in minutes {
        let mut tasks = tokio::task::JoinSet::new();
        for alert in minute {
            let (chain, alert) = (Arc::clone(chain), alert.clone());
            tasks.spawn(async move { chain.classify(&alert).await });
        }
        while let Some(r) = tasks.join_next().await {
            let verdict = r.expect("task").expect("classified");
            assert_eq!(verdict.severity, Severity::Critical);
        }
    }
}

/// Makes the L2 cache for run `n` (a fresh key prefix for Redis).
type MakeL2 = Arc<dyn Fn(u64) -> Arc<dyn Cache>>;

fn storm(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let minutes = storm::storm();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut l2s: Vec<(&str, MakeL2)> = vec![(
        "memory",
        Arc::new(|_| Arc::new(MemoryCache::new(16 << 20)) as Arc<dyn Cache>),
    )];
    match rt.block_on(RedisCache::connect(RedisOptions::new(url.clone()))) {
        Ok(_) => {
            let url = url.clone();
            let handle = rt.handle().clone();
            let pid = std::process::id();
            l2s.push((
                "redis",
                Arc::new(move |run| {
                    let options =
                        RedisOptions::new(url.clone()).prefix(format!("bench-storm-{pid}-{run}:"));
                    let redis = handle
                        .block_on(RedisCache::connect(options))
                        .expect("redis reachable");
                    Arc::new(redis) as Arc<dyn Cache>
                }),
            ));
        }
        Err(e) => eprintln!("skipping storm/redis: {e}"),
    }
    let mut group = c.benchmark_group("storm");
    group.sample_size(10);
    for (name, make_l2) in l2s {
        let llm = Arc::new(CountingLlm::default());
        let probe = chain(&llm, make_l2(0));
        rt.block_on(replay(&probe, &minutes));
        if let Some(s) = probe.cache_stats() {
            eprintln!(
                "storm/{name}: {} lookups: L1 {} / L2 {} / miss {} / errors {}; hit rate {:.2} %; LLM calls {}",
                s.lookups(),
                s.l1_hits,
                s.l2_hits,
                s.misses,
                s.errors,
                s.hit_rate() * 100.0,
                llm.calls.load(Ordering::Relaxed)
            );
        }
        let mut run = 0;
        group.bench_function(format!("replay_10k/{name}"), |b| {
            b.iter_batched(
                || {
                    run += 1;
                    chain(&Arc::new(CountingLlm::default()), make_l2(run))
                },
                |fresh| rt.block_on(replay(&fresh, &minutes)),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, storm);
criterion_main!(benches);
