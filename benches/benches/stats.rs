//! History statistics over a store holding 1,000,000 alerts.
//!
//! The fill (outside the timing, once per run): 1M distinct fixture alerts
//! (10 kube-prometheus labels, 40 namespaces, a quarter first seen resolved
//! after 12 minutes) received evenly over the 30 days before a fixed end
//! time, recorded with `HistoryStore::record` in batches of 10,000; then
//! 2,000 alerts of the last day flap (three resolve/re-fire cycles each).
//! That is 1,000,000 alerts and 1,012,000 timeline events; the last 24 hours
//! hold about 33,000 alerts changed and 45,000 events; each flapping
//! alert has 7 transitions in them.
//!
//! - `stats/sqlite/stats_24h`, `top_firing_24h`, `flapping_24h`: one call
//!   over the last 24 hours (top lists of 10; flapping at ≥ 0.25/h);
//! - `…_30d`: the same over the whole 30 days, i.e. all 1M alerts;
//!   `stats_30d_unaligned`: `stats` over the 30 days shifted by 17 minutes
//!   (interval ends not on the hour, as "the last 30 days" usually is);
//! - `stats/postgres/*`: the same on the local PostgreSQL (`DATABASE_URL`,
//!   default `postgres://postgres@127.0.0.1:5432/test`, a fresh schema,
//!   `VACUUM ANALYZE` after the fill, as autovacuum would; the statistics
//!   read hourly counters for whole hours; skipped when unreachable, when
//!   `DATABASE_URL` names another database, or when
//!   `ALERTKIT_BENCH_STATS_PG=0`).
//!
//! - `stats/*/timeline`: `HistoryStore::timeline` of one alert of the 1M,
//!   cycling over 2,000 sampled fingerprints (a fifth of them flapping
//!   alerts with 7 events, the rest with 1). Before the timed run, each
//!   sampled timeline is read once and its latency recorded: the p50, p99
//!   and max of those 2,000 reads are printed as `stats/*: timeline p50 …`.
//!
//! Targets (store issue): stats over 1M stored alerts < 200 ms; timeline
//! query p99 < 5 ms.

use std::time::Instant;

use alertkit_benches::alerts;
use alertkit_core::traits::{HistoryStats, StatsQuery};
use alertkit_core::{Alert, Fingerprint, HistoryStore, LabelSet, Receipt};
use alertkit_store::{PostgresHistoryStore, PostgresOptions, SqliteHistoryStore};
use criterion::{Criterion, criterion_group, criterion_main};
use time::{Duration, OffsetDateTime};

const ALERTS: usize = 1_000_000;
const BATCH: usize = 10_000;
const NAMESPACES: usize = 40;
const FLAPPERS: usize = 2_000;
const DAYS: i64 = 30;

fn end() -> OffsetDateTime {
    time::macros::datetime!(2026-11-20 00:00:00 UTC)
}

/// When alert `g` (0..ALERTS) is received: evenly over the 30 days before `end()`.
fn received(g: usize) -> OffsetDateTime {
    let span = Duration::days(DAYS).whole_nanoseconds();
    let offset = span * g as i128 / ALERTS as i128;
    end() - Duration::days(DAYS) + Duration::nanoseconds(offset as i64)
}

/// Batch `b` of the fill: fixture alerts of round `b`, spread over namespaces.
fn batch(b: usize) -> Vec<Receipt> {
    alerts(BATCH, b as u64)
        .into_iter()
        .enumerate()
        .map(|(i, mut alert)| {
            let g = b * BATCH + i;
            let ns = format!("team-{:02}", (g * 7) % NAMESPACES);
            alert.labels = LabelSet::from_pairs(alert.labels.iter().map(|(k, v)| {
                if k == "namespace" {
                    (k.to_owned(), ns.clone())
                } else {
                    (k.to_owned(), v.to_owned())
                }
            }));
            Receipt::new(alert, received(g))
        })
        .collect()
}

/// The batch whose alerts flap: received between 21.6 and 14.4 hours before `end()`.
const FLAPPING_BATCH: usize = 97;

/// Resolve/re-fire cycle `cycle` (0..3) of the first `FLAPPERS` firing
/// alerts of `batch`: resolved `2 * cycle + 1` hours after their first
/// receipt, re-fired half an hour later.
fn flaps(batch: &[Receipt], cycle: i64) -> Vec<Receipt> {
    batch
        .iter()
        .filter(|r| r.alert.ends_at.is_none())
        .take(FLAPPERS)
        .flat_map(|r| {
            let starts = r.alert.starts_at + Duration::hours(cycle);
            let at = r.received_at + Duration::hours(2 * cycle + 1);
            let firing = Alert {
                starts_at: starts,
                ..r.alert.clone()
            };
            let resolved = firing.clone().resolved_at(starts + Duration::minutes(10));
            [
                Receipt::new(resolved.clone(), at),
                Receipt::new(
                    Alert {
                        starts_at: starts + Duration::minutes(30),
                        ..firing
                    },
                    at + Duration::minutes(30),
                ),
            ]
        })
        .collect()
}

async fn fill(store: &dyn HistoryStore, name: &str) {
    let start = Instant::now();
    let mut flappers = Vec::new();
    for b in 0..ALERTS / BATCH {
        let receipts = batch(b);
        store.record(&receipts).await.expect("record");
        if b == FLAPPING_BATCH {
            flappers = receipts;
        }
    }
    for cycle in 0..3 {
        let receipts = flaps(&flappers, cycle);
        // Two receipts per alert: resolve, then re-fire; record them in order.
        let (resolves, refires): (Vec<_>, Vec<_>) = receipts
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .unzip();
        store.record(&resolves).await.expect("record resolves");
        store.record(&refires).await.expect("record re-fires");
    }
    eprintln!(
        "stats/{name}: filled {ALERTS} alerts in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// 2,000 fingerprints of the fill: 400 flapping alerts (7 events each) and
/// 1,600 from batches spread over the month (1 event each).
fn sampled_fingerprints() -> Vec<Fingerprint> {
    let mut fps: Vec<Fingerprint> = flaps(&batch(FLAPPING_BATCH), 0)
        .iter()
        .step_by(2 * 5)
        .map(|r| r.alert.fingerprint())
        .collect();
    for b in [3, 31, 59, 88] {
        fps.extend(batch(b).iter().step_by(25).map(|r| r.alert.fingerprint()));
    }
    fps
}

/// Reads every sampled timeline once, timing each read; prints p50/p99/max.
fn timeline_latencies(
    rt: &tokio::runtime::Runtime,
    name: &str,
    store: &dyn HistoryStore,
    fps: &[Fingerprint],
) {
    let mut took: Vec<std::time::Duration> = rt.block_on(async {
        let mut took = Vec::with_capacity(fps.len());
        for &fp in fps {
            let start = Instant::now();
            let events = store.timeline(fp).await.expect("timeline");
            took.push(start.elapsed());
            assert!(!events.is_empty(), "sampled alerts have a timeline");
        }
        took
    });
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "stats/{name}: timeline p50 {:?} p99 {:?} max {:?} over {} reads",
        at(0.50),
        at(0.99),
        at(1.0),
        took.len()
    );
}

fn bench_store<S: HistoryStats + HistoryStore + Clone>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    store: &S,
) {
    let day = StatsQuery::new(end() - Duration::hours(24), end());
    let month = StatsQuery::new(end() - Duration::days(DAYS), end() + Duration::hours(1));
    // Sanity: the fill is what the doc says, and queries find it.
    let all = rt.block_on(store.stats(&month)).expect("stats");
    assert_eq!(all.unique_fingerprints, ALERTS as u64);
    let flapping = rt.block_on(store.flapping(&day, 0.25)).expect("flapping");
    assert_eq!(flapping.len(), 10);
    eprintln!(
        "stats/{name}: 24h {:?}",
        rt.block_on(store.stats(&day)).expect("stats")
    );
    let fps = sampled_fingerprints();
    timeline_latencies(rt, name, store, &fps);
    let mut group = c.benchmark_group(format!("stats/{name}"));
    group.sample_size(20);
    let next = std::sync::atomic::AtomicUsize::new(0);
    group.bench_function("timeline", |b| {
        b.to_async(rt).iter(|| async {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % fps.len();
            store.timeline(fps[i]).await.expect("timeline")
        });
    });
    for (label, q) in [("24h", day), ("30d", month)] {
        group.bench_function(format!("stats_{label}"), |b| {
            b.to_async(rt)
                .iter(|| async { store.stats(&q).await.expect("stats") });
        });
        group.bench_function(format!("top_firing_{label}"), |b| {
            b.to_async(rt)
                .iter(|| async { store.top_firing(&q).await.expect("top") });
        });
        group.bench_function(format!("flapping_{label}"), |b| {
            b.to_async(rt)
                .iter(|| async { store.flapping(&q, 0.25).await.expect("flapping") });
        });
    }
    // The 30 days as a caller asks them (now - 30 days .. now), not
    // aligned to hours.
    let unaligned = StatsQuery::new(
        end() - Duration::days(DAYS) + Duration::minutes(17),
        end() + Duration::minutes(17),
    );
    group.bench_function("stats_30d_unaligned", |b| {
        b.to_async(rt)
            .iter(|| async { store.stats(&unaligned).await.expect("stats") });
    });
    group.finish();
}

fn stats(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `ALERTKIT_BENCH_STATS_DB=path` keeps the SQLite file (and reuses a filled one).
    let kept = std::env::var_os("ALERTKIT_BENCH_STATS_DB").map(std::path::PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("alertkit-stats-{}.db", std::process::id()))
    });
    let sqlite = rt
        .block_on(SqliteHistoryStore::open(&format!(
            "sqlite://{}",
            path.display()
        )))
        .expect("open sqlite");
    let everything = StatsQuery::new(end() - Duration::days(DAYS), end() + Duration::hours(1));
    if rt
        .block_on(sqlite.stats(&everything))
        .expect("stats")
        .unique_fingerprints
        == 0
    {
        rt.block_on(fill(&sqlite, "sqlite"));
    }
    bench_store(c, &rt, "sqlite", &sqlite);
    rt.block_on(sqlite.close());
    if kept.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    if std::env::var("ALERTKIT_BENCH_STATS_PG").as_deref() == Ok("0") {
        return;
    }
    let Some(pg_url) = alertkit_benches::postgres_url() else {
        eprintln!("skipping stats/postgres: DATABASE_URL names another database");
        return;
    };
    // Named like the store tests' schemas, so their clean-up drops it after an hour.
    let schema = format!(
        "alertkit_test_{}_{}_stats",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    );
    let Ok(postgres) = rt
        .block_on(PostgresHistoryStore::open_with(
            PostgresOptions::new(pg_url.clone()).schema(schema.clone()),
        ))
        .map_err(|e| eprintln!("skipping stats/postgres: {e}"))
    else {
        return;
    };
    rt.block_on(fill(&postgres, "postgres"));
    rt.block_on(async {
        let pool = sqlx_pool(&pg_url).await;
        for table in [
            "alertkit_alerts",
            "alertkit_events",
            "alertkit_stats_hourly",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "VACUUM ANALYZE {schema}.{table}"
            )))
            .execute(&pool)
            .await
            .expect("vacuum");
        }
        pool.close().await;
    });
    bench_store(c, &rt, "postgres", &postgres);
    rt.block_on(async {
        let pool = sqlx_pool(&pg_url).await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&pool)
            .await;
        pool.close().await;
    });
}

async fn sqlx_pool(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url).await.expect("connect")
}

criterion_group!(benches, stats);
criterion_main!(benches);
