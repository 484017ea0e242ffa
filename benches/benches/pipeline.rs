//! The in-memory pipeline end to end: submit → dedup → record → ack →
//! classify → hand off → publish.
//!
//! Set-up, as the issue describes it: a multi-thread tokio runtime with two
//! workers (this is a 2-core machine), a bounded [`MemoryHistoryStore`],
//! [`DirectHandoff`] through a [`FanOut`] to one bounded [`RecordingPublisher`],
//! `PipelineConfig::default()`, and either [`LabelClassifier`] or no
//! classifier. No `metrics` recorder or `tracing` subscriber is installed,
//! so their cost is the facades' no-op path.
//!
//! One iteration submits [`BATCHES`] batches of [`PER_BATCH`] distinct alerts
//! from [`SUBMITTERS`] concurrent submitter tasks (like that many HTTP
//! connections) and is reported as `BATCHES * PER_BATCH` elements. Each
//! iteration's alerts carry a new `bench_round` label, so their fingerprints
//! were never seen: duplicate detection never short-circuits, every alert is
//! written to history and every one is published.
//!
//! # What is timed, and why
//!
//! `Ingest::submit` resolves when the batch is committed to history, *before*
//! it is classified and published. Timing only the acknowledgements would
//! leave classification and publishing running after the timer stops (and,
//! between iterations, overlapping the untimed fixture generation), so it
//! would overstate throughput until the bounded queues fill. Instead each
//! iteration spawns a fresh pipeline (untimed), then times from the first
//! `submit` until [`Pipeline::shutdown`] returns: shutdown stops intake and
//! drains every stage, so when it returns the publisher has seen every
//! notification (checked after each iteration). The figure therefore also
//! includes, once per iteration, the pipeline filling up and draining and its
//! stage tasks ending (dropping the recorder's duplicate-detection cache),
//! which a long-running pipeline would not pay: it errs low, the safe side
//! for a target.
//!
//! # The history store
//!
//! Memory must not grow across iterations, so the store is bounded either way;
//! two set-ups separate the pipeline from the store's eviction cost:
//!
//! - `pipeline/empty_store/*`: a new, empty [`MemoryHistoryStore`] per
//!   iteration (created and dropped untimed). Nothing is ever evicted: this is
//!   the pipeline's own cost, and a store that has not reached its bound yet.
//! - `pipeline/full_store/*`: one store shared by all iterations, filled to its
//!   `max_alerts` bound ([`STORE_MAX_ALERTS`]) before measuring, so every alert
//!   recorded in the timed section also evicts one: the steady state of a
//!   long-running in-memory store. The eviction victim search
//!   (`State::evict` in alertkit-core) scans the store from its oldest entry
//!   for a resolved alert, and in steady state the old entries are all firing,
//!   so each insert costs a scan of the whole store; these iterations take
//!   about a second, hence the small sample count. The bound is kept well
//!   below the default (100,000) so the benchmark finishes: the cost grows
//!   linearly with it.
//!
//! The publisher outlives the iterations and keeps only its last
//! [`PUBLISHER_CAPACITY`] notifications.
//!
//! - `pipeline/steady/*`: one long-running pipeline (and store, at the
//!   default 100,000-alert bound) across iterations; each iteration is timed
//!   from the first submit until the publisher has seen all of its
//!   notifications. This is the running server's throughput, without the
//!   per-iteration spawn and drain.
//!
//! Target (issue, 2-core machine): in-memory pipeline ≥ 300k alerts/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::{alerts, batches};
use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::{
    LabelClassifier, MemoryHistoryConfig, MemoryHistoryStore, RecordingPublisher,
};
use alertkit_core::pipeline::{Ingest, Pipeline, PipelineConfig};
use alertkit_core::{HistoryStore, Receipt, SourceBatch, Status};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use time::OffsetDateTime;
use tokio::runtime::Runtime;

/// Batches submitted per iteration.
const BATCHES: usize = 16;
/// Alerts per batch.
const PER_BATCH: usize = 100;
/// Concurrent submitter tasks per iteration; the batches are dealt out among them.
const SUBMITTERS: usize = 4;
/// Alerts per iteration.
const ALERTS: usize = BATCHES * PER_BATCH;
/// The history store's bound (`MemoryHistoryConfig::max_alerts`).
const STORE_MAX_ALERTS: usize = 10_000;
/// Notifications the recording publisher keeps.
const PUBLISHER_CAPACITY: usize = 1_024;

/// Source of fresh `bench_round` values, shared by every benchmark of the
/// process so no two iterations ever submit the same alert.
static ROUND: AtomicU64 = AtomicU64::new(1);

fn next_round() -> u64 {
    ROUND.fetch_add(1, Ordering::Relaxed)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn empty_store() -> Arc<MemoryHistoryStore> {
    Arc::new(MemoryHistoryStore::new(MemoryHistoryConfig {
        max_alerts: STORE_MAX_ALERTS,
        ..MemoryHistoryConfig::default()
    }))
}

/// A store filled to its bound with alerts no iteration will send again.
///
/// They are all firing: that is what a store at its bound converges to, as
/// resolved alerts are evicted first (and the first iterations would
/// otherwise be cheaper than the steady state while they evict those).
async fn full_store() -> Arc<MemoryHistoryStore> {
    let store = empty_store();
    let received_at = OffsetDateTime::now_utc();
    let receipts: Vec<Receipt> = alerts(STORE_MAX_ALERTS, next_round())
        .into_iter()
        .map(|mut alert| {
            alert.status = Status::Firing;
            alert.ends_at = None;
            Receipt::new(alert, received_at)
        })
        .collect();
    store.record(&receipts).await.expect("memory store records");
    assert_eq!(store.len(), STORE_MAX_ALERTS);
    store
}

/// A running pipeline over `store`, publishing to `publisher`.
fn spawn(
    store: &Arc<MemoryHistoryStore>,
    publisher: &Arc<RecordingPublisher>,
    classify: bool,
) -> Pipeline {
    let handoff = Arc::new(DirectHandoff::new(
        FanOut::new().with_publisher(Arc::clone(publisher)),
    ));
    // `PipelineConfig` is `#[non_exhaustive]`: outside alertkit-core it can
    // only be obtained from `Default` (and then mutated); the defaults are
    // what a service gets, so they are used unchanged.
    let builder = Pipeline::builder(Arc::clone(store) as Arc<dyn HistoryStore>, handoff)
        .config(PipelineConfig::default());
    if classify {
        builder.classifier(Arc::new(LabelClassifier)).spawn()
    } else {
        builder.spawn()
    }
}

/// One iteration's batches, dealt round-robin to the submitters (untimed).
fn prepare() -> Vec<Vec<SourceBatch>> {
    let mut groups: Vec<Vec<SourceBatch>> = (0..SUBMITTERS).map(|_| Vec::new()).collect();
    for (i, batch) in batches(BATCHES, PER_BATCH, next_round())
        .into_iter()
        .enumerate()
    {
        groups[i % SUBMITTERS].push(batch);
    }
    groups
}

/// Submits every group from its own task and waits for all acknowledgements;
/// returns how many alerts changed history.
async fn submit_all(ingest: Ingest, groups: Vec<Vec<SourceBatch>>) -> usize {
    let submitters: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                let mut changed = 0;
                for batch in group {
                    changed += ingest
                        .submit(batch)
                        .await
                        .expect("batch accepted")
                        .changed
                        .unwrap_or_default();
                }
                changed
            })
        })
        .collect();
    let mut changed = 0;
    for submitter in submitters {
        changed += submitter.await.expect("submitter task");
    }
    changed
}

/// Times `iters` iterations: untimed fixture generation and pipeline spawn,
/// then submit + acks + drain (see the module docs).
async fn run(
    iters: u64,
    shared_store: Option<&Arc<MemoryHistoryStore>>,
    publisher: &Arc<RecordingPublisher>,
    classify: bool,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let work = prepare();
        let store = shared_store.map_or_else(empty_store, Arc::clone);
        let pipeline = spawn(&store, publisher, classify);
        let published_before = publisher.total();
        let start = Instant::now();
        let changed = submit_all(pipeline.ingest(), work).await;
        pipeline.shutdown().await;
        elapsed += start.elapsed();
        assert_eq!(changed, ALERTS, "every alert is new");
        assert_eq!(
            publisher.total() - published_before,
            ALERTS as u64,
            "every alert is published before shutdown returns"
        );
        assert!(store.len() <= STORE_MAX_ALERTS);
        // A per-iteration store is dropped here, after the timer stopped.
        drop(store);
    }
    elapsed
}

/// Times `iters` iterations against one long-running pipeline: each
/// iteration submits its batches and stops the clock when the publisher has
/// seen every notification (polled every 50 µs), without shutting down.
async fn run_steady(
    iters: u64,
    store: &Arc<MemoryHistoryStore>,
    publisher: &Arc<RecordingPublisher>,
    classify: bool,
) -> Duration {
    let pipeline = spawn(store, publisher, classify);
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let work = prepare();
        let target = publisher.total() + ALERTS as u64;
        let start = Instant::now();
        let changed = submit_all(pipeline.ingest(), work).await;
        while publisher.total() < target {
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
        elapsed += start.elapsed();
        assert_eq!(changed, ALERTS, "every alert is new");
    }
    pipeline.shutdown().await;
    elapsed
}

fn bench_variants(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    shared_store: Option<&Arc<MemoryHistoryStore>>,
) {
    group.throughput(Throughput::Elements(ALERTS as u64));
    for (name, classify) in [("label_classifier", true), ("no_classifier", false)] {
        let publisher = Arc::new(RecordingPublisher::new("recording", PUBLISHER_CAPACITY));
        group.bench_function(name, |b| {
            b.to_async(rt)
                .iter_custom(|iters| run(iters, shared_store, &publisher, classify));
        });
    }
}

fn pipeline(c: &mut Criterion) {
    let rt = runtime();

    let mut group = c.benchmark_group("pipeline/empty_store");
    bench_variants(&mut group, &rt, None);
    group.finish();

    // A long-running pipeline over a store at the default bound (100,000
    // alerts): it fills during the first iterations, then evicts.
    let mut group = c.benchmark_group("pipeline/steady");
    group.throughput(Throughput::Elements(ALERTS as u64));
    let steady_store = Arc::new(MemoryHistoryStore::new(MemoryHistoryConfig::default()));
    for (name, classify) in [("label_classifier", true), ("no_classifier", false)] {
        let publisher = Arc::new(RecordingPublisher::new("recording", PUBLISHER_CAPACITY));
        let store = Arc::clone(&steady_store);
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| run_steady(iters, &store, &publisher, classify));
        });
    }
    group.finish();
    drop(steady_store);

    let store = rt.block_on(full_store());
    let mut group = c.benchmark_group("pipeline/full_store");
    // Each iteration takes about a second (see the module docs).
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    bench_variants(&mut group, &rt, Some(&store));
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
