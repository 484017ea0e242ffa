//! History stores: durable ingest of batches of 100 new alerts.
//!
//! `store/sqlite/record_100`: one `HistoryStore::record` call (one
//! `BEGIN IMMEDIATE` … `COMMIT`) of 100 alerts with 10 realistic labels and
//! fresh fingerprints, into a SQLite file in the temp directory (WAL,
//! `synchronous=NORMAL`). The database grows across iterations, as a real
//! one does. `store/memory/record_100` is the same call on the in-memory
//! store, for scale.
//!
//! Target (store issue): SQLite durable ingest ≥ 150k alerts/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::alerts;
use alertkit_core::memory::MemoryHistoryStore;
use alertkit_core::{HistoryStore, Receipt};
use alertkit_store::SqliteHistoryStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;

const BATCH: usize = 100;

static ROUND: AtomicU64 = AtomicU64::new(1);

fn receipts() -> Vec<Receipt> {
    let received_at = OffsetDateTime::now_utc();
    alerts(BATCH, ROUND.fetch_add(1, Ordering::Relaxed))
        .into_iter()
        .map(|alert| Receipt { alert, received_at })
        .collect()
}

async fn run(store: &dyn HistoryStore, iters: u64) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let batch = receipts();
        let start = Instant::now();
        let out = store.record(&batch).await.expect("record");
        elapsed += start.elapsed();
        assert_eq!(out.changes.iter().flatten().count(), BATCH);
    }
    elapsed
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let path = std::env::temp_dir().join(format!("alertkit-bench-{}.db", std::process::id()));
    let sqlite = rt
        .block_on(SqliteHistoryStore::open(&format!(
            "sqlite://{}",
            path.display()
        )))
        .expect("open sqlite");
    let memory = Arc::new(MemoryHistoryStore::default());

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("sqlite/record_100", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let sqlite = sqlite.clone();
            async move { run(&sqlite, iters).await }
        });
    });
    group.bench_function("memory/record_100", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let memory = Arc::clone(&memory);
            async move { run(&*memory, iters).await }
        });
    });
    group.finish();
    rt.block_on(sqlite.close());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, store);
criterion_main!(benches);
