#![allow(clippy::unwrap_used)]
//! Replays a realistic notification storm (`support/storm.rs`: 10 000
//! deliveries over 50 distinct alerts, an HA pair of Alertmanagers, resolves,
//! re-fires and annotation changes) through the standard chain with a
//! counting fake LLM, and checks the cache hit rate (≥ 95 %) and that single
//! flight plus the cache make exactly one LLM call per distinct input.
//!
//! `cargo test -p alertkit-llm --test storm -- --nocapture` prints the counts.

#[path = "support/storm.rs"]
mod storm;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alertkit_core::layer::{ClassificationCacheStats, ClassificationKey};
use alertkit_core::memory::{LabelClassifier, MemoryCache};
use alertkit_core::{
    Alert, Cache, Category, Classification, ClassificationSource, Classifier, ClassifyError,
    Severity,
};
use alertkit_llm::{ChainBuilder, StandardChain};
use async_trait::async_trait;

/// An "LLM" that counts its calls and takes a few scheduler turns to answer.
#[derive(Default)]
struct CountingLlm {
    calls: AtomicUsize,
}

#[async_trait]
impl Classifier for CountingLlm {
    fn id(&self) -> &str {
        "fake-llm/storm"
    }

    async fn classify(&self, _alert: &Alert) -> Result<Classification, ClassifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
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

fn chain(llm: &Arc<CountingLlm>, l2: &Arc<MemoryCache>) -> Arc<StandardChain> {
    Arc::new(
        ChainBuilder::new(
            Arc::clone(llm) as Arc<dyn Classifier>,
            Arc::new(LabelClassifier),
        )
        .cache(
            Arc::clone(l2) as Arc<dyn Cache>,
            Duration::from_secs(6 * 3600),
        )
        .build(),
    )
}

/// Replays the storm minute by minute, each minute's deliveries at once;
/// delivery `n` of a minute goes to alertkit replica `n % chains.len()`.
async fn replay(chains: &[Arc<StandardChain>]) -> usize {
    let mut receipts = 0;
    for minute in storm::storm() {
        let mut tasks = tokio::task::JoinSet::new();
        for (n, alert) in minute.into_iter().enumerate() {
            let chain = Arc::clone(&chains[n % chains.len()]);
            tasks.spawn(async move { chain.classify(&alert).await });
        }
        while let Some(verdict) = tasks.join_next().await {
            let verdict = verdict.unwrap().unwrap();
            assert_eq!(
                verdict.severity,
                Severity::Critical,
                "every delivery got the LLM's verdict"
            );
            receipts += 1;
        }
    }
    receipts
}

fn distinct_inputs() -> usize {
    storm::storm()
        .iter()
        .flatten()
        .map(ClassificationKey::of)
        .collect::<HashSet<_>>()
        .len()
}

fn total(stats: impl IntoIterator<Item = ClassificationCacheStats>) -> (u64, u64, u64, u64) {
    stats.into_iter().fold((0, 0, 0, 0), |(a, b, c, d), s| {
        (a + s.l1_hits, b + s.l2_hits, c + s.misses, d + s.errors)
    })
}

fn report(
    name: &str,
    receipts: usize,
    (l1, l2, miss, errors): (u64, u64, u64, u64),
    calls: usize,
) -> f64 {
    let lookups = l1 + l2 + miss + errors;
    #[allow(clippy::cast_precision_loss)]
    let rate = (l1 + l2) as f64 / lookups as f64;
    println!(
        "{name}: {receipts} deliveries, {lookups} lookups: L1 {l1}, L2 {l2}, miss {miss}, errors {errors}; \
         hit rate {:.2} %; LLM calls {calls}",
        rate * 100.0
    );
    rate
}

#[test]
fn the_storm_is_realistic() {
    let minutes = storm::storm();
    let receipts: usize = minutes.iter().map(Vec::len).sum();
    assert_eq!(receipts, storm::RECEIPTS);
    let alerts: Vec<&Alert> = minutes.iter().flatten().collect();
    let fingerprints: HashSet<_> = alerts.iter().map(|a| a.fingerprint()).collect();
    assert_eq!(fingerprints.len(), storm::DISTINCT_ALERTS);
    let resolved = alerts.iter().filter(|a| a.ends_at.is_some()).count();
    let distinct = distinct_inputs();
    println!(
        "storm: {} minutes, {receipts} deliveries, {} resolved, {distinct} distinct inputs",
        minutes.len(),
        resolved
    );
    assert!(resolved > 100, "resolves and re-fires happen ({resolved})");
    assert!(
        distinct > storm::DISTINCT_ALERTS,
        "annotations change now and then ({distinct})"
    );
    assert_eq!(storm::storm(), minutes, "the storm is the same every time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_storm_hits_the_cache_95_percent_with_one_llm_call_per_input() {
    let llm = Arc::new(CountingLlm::default());
    let l2 = Arc::new(MemoryCache::new(16 << 20));
    let chain = chain(&llm, &l2);
    let receipts = replay(std::slice::from_ref(&chain)).await;
    let stats = chain.cache_stats().unwrap();
    let calls = llm.calls.load(Ordering::SeqCst);
    let rate = report("one replica", receipts, total([stats]), calls);
    assert_eq!(receipts, storm::RECEIPTS);
    // Single flight coalesces the HA pair's concurrent duplicates; the cache
    // answers every repeat: one call per distinct (fingerprint, annotations).
    assert_eq!(calls, distinct_inputs());
    assert!(rate >= 0.95, "hit rate {rate}");
    assert_eq!(stats.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_l2_still_hit_95_percent() {
    let llm = Arc::new(CountingLlm::default());
    let l2 = Arc::new(MemoryCache::new(16 << 20));
    let chains = [chain(&llm, &l2), chain(&llm, &l2)];
    let receipts = replay(&chains).await;
    let stats = chains.iter().map(|c| c.cache_stats().unwrap());
    let (l1, l2_hits, miss, errors) = total(stats);
    let calls = llm.calls.load(Ordering::SeqCst);
    let rate = report("two replicas", receipts, (l1, l2_hits, miss, errors), calls);
    assert!(rate >= 0.95, "hit rate {rate}");
    // Each replica coalesces its own misses; at worst both call once per input.
    let distinct = distinct_inputs();
    assert!(
        (distinct..=2 * distinct).contains(&calls),
        "{calls} calls for {distinct} inputs"
    );
    // Whether the replay's concurrent copies meet in L2 is a race; a third
    // replica with an empty L1 shows deterministically that L2 is shared.
    let third = chain(&llm, &l2);
    let last = storm::storm().pop().unwrap().pop().unwrap();
    third.classify(&last).await.unwrap();
    let stats = third.cache_stats().unwrap();
    assert_eq!((stats.l2_hits, stats.misses), (1, 0), "{stats:?}");
    assert_eq!(llm.calls.load(Ordering::SeqCst), calls, "no new LLM call");
}
