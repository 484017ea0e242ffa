//! History stores: durable ingest of batches of 100 new alerts.
//!
//! `store/sqlite/record_{100,1000}`: one `HistoryStore::record` call (one
//! `BEGIN IMMEDIATE` … `COMMIT`) of 100 or 1,000 alerts with 10 realistic labels and
//! fresh fingerprints, into a SQLite file in the temp directory (WAL,
//! `synchronous=NORMAL`). The database grows across iterations, as a real
//! one does. `store/postgres/*` is the same on the local
//! PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! a fresh schema; skipped when unreachable, or when `DATABASE_URL` names
//! another database, e.g. `DATABASE_URL=sqlite:none`). `store/memory/*` is
//! the in-memory store, for scale.
//!
//! `store/postgres/timeline`: one `HistoryStore::timeline(fingerprint)` call on
//! the Postgres store after the record benchmarks filled it (tens of
//! thousands of alerts), for one of 1,000 alerts with a four-event timeline
//! (fired, resolved, re-fired, annotations changed), taken in turn. Its p50
//! and p99 over 5,000 calls are printed too.
//!
//! `store/{sqlite,postgres}/record_classified_1000`: 1,000 new alerts with a
//! verdict each (the label classifier's) through `record_classified`, the
//! pipeline's path when verdicts are known at once; against
//! `…/record_then_attach_1000`, the same as `record` followed by
//! `attach_classifications` (the trait's default: two transactions).
//! `store/postgres/record_classified_{2,4}_parts_1000`: the same 1,000
//! alerts split by fingerprint into 2 or 4 partitions that take disjoint
//! advisory-lock buckets, written concurrently on separate connections
//! (does concurrency raise a Postgres store's rate?).
//!
//! Targets (store issue): SQLite durable ingest ≥ 150k alerts/s; Postgres ≥ 50k alerts/s;
//! timeline query p99 < 5 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::alerts;
use alertkit_core::memory::{LabelClassifier, MemoryHistoryStore};
use alertkit_core::{
    Annotations, Classification, Classifier, Fingerprint, HistoryStore, Receipt, StateKey,
};
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

/// `record_classified` (`one_write`) or `record` then `attach_classifications`.
async fn run_classified(
    store: &dyn HistoryStore,
    n: usize,
    iters: u64,
    one_write: bool,
    parts: usize,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        let batch = receipts(n);
        let verdicts: Vec<Option<Arc<Classification>>> = batch
            .iter()
            .map(|r| match LabelClassifier.try_classify_now(&r.alert) {
                Some(Ok(c)) => Some(Arc::new(c)),
                _ => None,
            })
            .collect();
        let start = Instant::now();
        if parts > 1 {
            // Disjoint fingerprint partitions (`parts` divides the
            // Postgres store's 32 lock buckets), written concurrently.
            type Part = (Vec<Receipt>, Vec<Option<Arc<Classification>>>);
            let mut split: Vec<Part> = vec![Default::default(); parts];
            for (r, v) in batch.iter().zip(&verdicts) {
                let part = &mut split[(r.alert.fingerprint().as_u64() % parts as u64) as usize];
                part.0.push(r.clone());
                part.1.push(v.clone());
            }
            let writes = split
                .iter()
                .map(|(receipts, verdicts)| store.record_classified(receipts, verdicts));
            for out in futures_util::future::join_all(writes).await {
                out.expect("record");
            }
        } else if one_write {
            store
                .record_classified(&batch, &verdicts)
                .await
                .expect("record");
        } else {
            store.record(&batch).await.expect("record");
            let items: Vec<(StateKey, Arc<Classification>)> = batch
                .iter()
                .zip(&verdicts)
                .filter_map(|(r, v)| Some((r.alert.state_key(), Arc::clone(v.as_ref()?))))
                .collect();
            store
                .attach_classifications(&items, OffsetDateTime::now_utc())
                .await
                .expect("attach");
        }
        elapsed += start.elapsed();
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
    let pg_url = alertkit_benches::postgres_url();
    // Named like the store tests' schemas, so their clean-up drops it after
    // an hour if the run dies; a finished run drops it (it grows by GBs).
    let schema = format!(
        "alertkit_test_{}_{}_bench",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let postgres = match &pg_url {
        Some(url) => rt
            .block_on(PostgresHistoryStore::open_with(
                PostgresOptions::new(url.clone()).schema(schema.clone()),
            ))
            .map_err(|e| eprintln!("skipping store/postgres: {e}"))
            .ok(),
        None => {
            eprintln!("skipping store/postgres: DATABASE_URL names another database");
            None
        }
    };

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
    group.throughput(Throughput::Elements(1000));
    let mut stores: Vec<(&str, Arc<dyn HistoryStore>)> = vec![("sqlite", Arc::new(sqlite.clone()))];
    if let Some(postgres) = &postgres {
        stores.push(("postgres", Arc::new(postgres.clone())));
    }
    for (name, store) in stores {
        for (path, one_write, parts) in [
            ("record_then_attach", false, 1),
            ("record_classified", true, 1),
            ("record_classified_2_parts", true, 2),
            ("record_classified_4_parts", true, 4),
        ] {
            if parts > 1 && name != "postgres" {
                continue;
            }
            group.bench_function(format!("{name}/{path}_1000"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let store = Arc::clone(&store);
                    async move { run_classified(&*store, 1000, iters, one_write, parts).await }
                });
            });
        }
    }
    group.finish();
    if let Some(postgres) = &postgres {
        timeline(c, &rt, postgres);
        rt.block_on(async {
            postgres.close().await;
            if let Some(url) = &pg_url
                && let Ok(pool) = sqlx::PgPool::connect(url).await
            {
                let drop = format!("DROP SCHEMA {schema} CASCADE");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
                pool.close().await;
            }
        });
    }
    rt.block_on(sqlite.close());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Records 1,000 alerts with four events each; returns their fingerprints.
async fn with_timelines(store: &dyn HistoryStore) -> Vec<Fingerprint> {
    let t0 = OffsetDateTime::now_utc();
    let firing = alerts(1000, ROUND.fetch_add(1, Ordering::Relaxed));
    let mut firing: Vec<_> = firing
        .into_iter()
        .map(|mut a| {
            a.status = alertkit_core::Status::Firing;
            a.ends_at = None;
            a.starts_at = t0;
            a
        })
        .collect();
    let second = time::Duration::seconds(1);
    let at = |n: i32| t0 + second * n;
    let batch = |alerts: &[alertkit_core::Alert], n: i32| {
        alerts
            .iter()
            .map(|a| Receipt::new(a.clone(), at(n)))
            .collect::<Vec<_>>()
    };
    store.record(&batch(&firing, 0)).await.expect("fire");
    let resolved: Vec<_> = firing
        .iter()
        .map(|a| a.clone().resolved_at(at(1)))
        .collect();
    store.record(&batch(&resolved, 1)).await.expect("resolve");
    for a in &mut firing {
        a.starts_at = at(2);
    }
    store.record(&batch(&firing, 2)).await.expect("refire");
    for a in &mut firing {
        a.annotations = Annotations::from_pairs([("summary", "changed")]);
    }
    store.record(&batch(&firing, 3)).await.expect("annotate");
    firing
        .iter()
        .map(alertkit_core::Alert::fingerprint)
        .collect()
}

fn timeline(c: &mut Criterion, rt: &tokio::runtime::Runtime, store: &PostgresHistoryStore) {
    let fps = rt.block_on(with_timelines(store));
    let next = AtomicU64::new(0);
    let pick = || fps[next.fetch_add(1, Ordering::Relaxed) as usize % fps.len()];
    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut v = Vec::with_capacity(5000);
        for _ in 0..5000 {
            let start = Instant::now();
            let events = store.timeline(pick()).await.expect("timeline");
            v.push(start.elapsed());
            assert_eq!(events.len(), 4);
        }
        v
    });
    samples.sort_unstable();
    eprintln!(
        "store/postgres/timeline: p50 {:?}, p99 {:?} over {} calls",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples.len()
    );
    let mut group = c.benchmark_group("store");
    group.bench_function("postgres/timeline", |b| {
        b.to_async(rt).iter(|| async {
            let events = store.timeline(pick()).await.expect("timeline");
            assert_eq!(events.len(), 4);
        });
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
