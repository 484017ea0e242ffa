//! Outbox drain: how fast delivery workers empty a SQLite outbox.
//!
//! `outbox/sqlite/drain_5000`: 5,000 notifications (10-label alerts, fresh
//! fingerprints) are recorded with one target enqueued (outside the timing),
//! then a [`Deliverer`] with default settings (claims of 256, 16 attempts in
//! flight) drains them to an in-process sink that accepts at once. The time
//! covers claim, attempt and settle transactions until the outbox is empty,
//! so the figure is the machinery's ceiling on this machine; a real target
//! adds its own latency per attempt (divided by the concurrency).
//!
//! Target (publish issue): ≥ 5k deliveries/s with SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::alerts;
use alertkit_core::memory::RecordingPublisher;
use alertkit_core::{HistoryStore, Outbox, Receipt};
use alertkit_publish::delivery::{Deliverer, DeliveryConfig, DeliveryTarget};
use alertkit_store::{OutboxOptions, SqliteHistoryStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;

const N: usize = 5000;

static ROUND: AtomicU64 = AtomicU64::new(1_000_000);

async fn fill(store: &SqliteHistoryStore) {
    let now = OffsetDateTime::now_utc();
    for chunk in alerts(N, ROUND.fetch_add(1, Ordering::Relaxed)).chunks(500) {
        let receipts: Vec<Receipt> = chunk
            .iter()
            .cloned()
            .map(|a| Receipt::new(a, now))
            .collect();
        store.record(&receipts).await.expect("record");
    }
}

async fn drained(store: &SqliteHistoryStore) {
    loop {
        let depth = store.depth().await.expect("depth");
        if depth.iter().all(|d| d.pending == 0 && d.in_flight == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn outbox(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let path =
        std::env::temp_dir().join(format!("alertkit-outbox-bench-{}.db", std::process::id()));
    let store = rt
        .block_on(SqliteHistoryStore::open(&format!(
            "sqlite://{}",
            path.display()
        )))
        .expect("sqlite store");
    store.set_outbox(OutboxOptions::new(["sink"], Duration::ZERO));
    let store = Arc::new(store);
    let mut group = c.benchmark_group("outbox/sqlite");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    group.bench_function(format!("drain_{N}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    fill(&store).await;
                    let sink = Arc::new(RecordingPublisher::new("sink", 16));
                    let start = Instant::now();
                    let d = Deliverer::spawn(
                        Arc::clone(&store) as Arc<dyn Outbox>,
                        vec![DeliveryTarget::new(sink)],
                        DeliveryConfig::new("bench").with_poll(Duration::from_millis(1)),
                    );
                    drained(&store).await;
                    elapsed += start.elapsed();
                    d.shutdown().await;
                }
                elapsed
            })
        });
    });
    group.finish();
    rt.block_on(store.close());
    // The WAL and its index too (each run left ~275 MB of WAL behind).
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, outbox);
criterion_main!(benches);
