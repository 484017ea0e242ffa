//! History stores: durable ingest of batches of 100 new alerts.
//!
//! `store/sqlite/record_{100,1000}`: one `HistoryStore::record` call (one
//! `BEGIN IMMEDIATE` … `COMMIT`) of 100 or 1,000 alerts with 10 realistic labels and
//! fresh fingerprints, into a SQLite file in the temp directory (WAL,
//! `synchronous=NORMAL`). The database grows across iterations, as a real
//! one does. `store/postgres/*` is the same on the local
//! PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! a fresh schema; skipped when unreachable). `store/memory/*` is
//! the in-memory store, for scale.
//!
//! Targets (store issue): SQLite durable ingest ≥ 150k alerts/s; Postgres ≥ 50k alerts/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::alerts;
use alertkit_core::memory::MemoryHistoryStore;
use alertkit_core::{HistoryStore, Receipt};
use alertkit_store::{PostgresHistoryStore, PostgresOptions, SqliteHistoryStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::OffsetDateTime;

/// Alerts per `record` call.
const BATCHES: [usize; 2] = [100, 1000];

static ROUND: AtomicU64 = AtomicU64::new(1);

fn receipts(n: usize) -> Vec<Receipt> {
    let received_at = OffsetDateTime::now_utc();
    alerts(n, ROUND.fetch_add(1, Ordering::Relaxed))
        .into_iter()
        .map(|alert| Receipt::new(alert, received_at))
        .collect()
}

async fn run(store: &dyn HistoryStore, n: usize, iters: u64) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let batch = receipts(n);
        let start = Instant::now();
        let out = store.record(&batch).await.expect("record");
        elapsed += start.elapsed();
        assert_eq!(out.changes.iter().flatten().count(), n);
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
    let pg_url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    // Named like the store tests' schemas, so their clean-up drops it after an hour.
    let schema = format!(
        "alertkit_test_{}_{}_bench",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let postgres = rt
        .block_on(PostgresHistoryStore::open_with(
            PostgresOptions::new(pg_url).schema(schema.clone()),
        ))
        .map_err(|e| eprintln!("skipping store/postgres: {e}"))
        .ok();

    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    for n in BATCHES {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("sqlite/record_{n}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let sqlite = sqlite.clone();
                async move { run(&sqlite, n, iters).await }
            });
        });
        if let Some(postgres) = &postgres {
            group.bench_function(format!("postgres/record_{n}"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let postgres = postgres.clone();
                    async move { run(&postgres, n, iters).await }
                });
            });
        }
        group.bench_function(format!("memory/record_{n}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let memory = Arc::clone(&memory);
                async move { run(&*memory, n, iters).await }
            });
        });
    }
    group.finish();
    rt.block_on(sqlite.close());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

criterion_group!(benches, store);
criterion_main!(benches);
