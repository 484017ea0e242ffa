//! Durable ingest through the pipeline on SQLite: acknowledged after the
//! history commit (`direct`) or after the intake journal's append
//! (`journal`, the server's Lite default).
//!
//! Each iteration submits 10,000 new alerts (10 realistic labels, random
//! fingerprints) as 100 batches of 100 from 8 concurrent submitters to a
//! running pipeline (label classifier, no targets) over one database that
//! grows across iterations, as a server's does.
//!
//! - `ingest/sqlite_direct/ack_10k`: until every submit is answered; each
//!   answer comes after its history commit.
//! - `ingest/sqlite_journal/ack_10k`: until every submit is answered; each
//!   answer comes after its journal append (the backlog bound, 65,536
//!   alerts, is not reached), while the record stage writes history
//!   behind it on the same two cores.
//! - `ingest/sqlite_journal/recorded_10k`: until `Ingest::sync` returns,
//!   i.e. all 10,000 are in history too: the sustained rate.
//! - `ingest/file_journal/{ack,recorded}_10k`: the same with the segment-file
//!   journal ([`FileJournal`](alertkit_store::FileJournal), the server's).
//!
//! Targets (store issue): SQLite durable ingest ≥ 150k alerts/s; the
//! server ≥ 100k alerts/s over HTTP on top of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alertkit_benches::alerts;
use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::LabelClassifier;
use alertkit_core::pipeline::{Ingest, Pipeline};
use alertkit_core::{Origin, SourceBatch};
use alertkit_store::{FileJournal, SqliteHistoryStore, SqliteJournal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ALERTS: usize = 10_000;
const BATCH: usize = 100;
const SUBMITTERS: usize = 8;

static ROUND: AtomicU64 = AtomicU64::new(1);

/// What a round's time is.
#[derive(Clone, Copy)]
enum Timed {
    /// Until every submit is answered.
    Acks,
    /// Until `Ingest::sync` returns: all of it is in history.
    UntilRecorded,
}

/// Which journal a pipeline acknowledges on.
#[derive(Clone, Copy)]
enum Journaling {
    None,
    Sqlite,
    File,
}

/// 100 batches of 100 new alerts.
fn batches() -> Vec<SourceBatch> {
    let origin = Arc::new(Origin::named("bench"));
    alerts(ALERTS, ROUND.fetch_add(1, Ordering::Relaxed))
        .chunks(BATCH)
        .map(|c| {
            let mut b = SourceBatch::new(Origin::default(), c.to_vec());
            b.origin = Arc::clone(&origin);
            b
        })
        .collect()
}

/// Submits `batches` from `SUBMITTERS` tasks; the time until all are answered.
async fn submit_all(ingest: &Ingest, batches: Vec<SourceBatch>) -> Duration {
    let mut lanes: Vec<Vec<SourceBatch>> = vec![Vec::new(); SUBMITTERS];
    for (i, b) in batches.into_iter().enumerate() {
        lanes[i % SUBMITTERS].push(b);
    }
    let start = Instant::now();
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let ingest = ingest.clone();
            tokio::spawn(async move {
                for b in lane {
                    ingest.submit(b).await.expect("submit");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("submitter");
    }
    start.elapsed()
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = std::env::temp_dir().join(format!("alertkit-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let open = |name: &str, journal: Journaling| {
        let url = format!("sqlite://{}", dir.join(name).display());
        rt.block_on(async {
            let store = Arc::new(SqliteHistoryStore::open(&url).await.expect("open sqlite"));
            let handoff = Arc::new(DirectHandoff::new(FanOut::new()));
            let mut builder =
                Pipeline::builder(store, handoff).classifier(Arc::new(LabelClassifier));
            match journal {
                Journaling::None => {}
                Journaling::Sqlite => {
                    let j = SqliteJournal::open_beside(&url)
                        .await
                        .expect("open journal");
                    builder = builder.journal(Arc::new(j));
                }
                Journaling::File => {
                    let j = FileJournal::open_beside(&url).await.expect("open journal");
                    builder = builder.journal(Arc::new(j));
                }
            }
            builder.spawn()
        })
    };
    let direct = open("direct.db", Journaling::None);
    let journaled = open("journal.db", Journaling::Sqlite);
    let filed = open("file.db", Journaling::File);

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ALERTS as u64));
    let cases = [
        ("sqlite_direct/ack_10k", direct.ingest(), Timed::Acks),
        ("sqlite_journal/ack_10k", journaled.ingest(), Timed::Acks),
        (
            "sqlite_journal/recorded_10k",
            journaled.ingest(),
            Timed::UntilRecorded,
        ),
        ("file_journal/ack_10k", filed.ingest(), Timed::Acks),
        (
            "file_journal/recorded_10k",
            filed.ingest(),
            Timed::UntilRecorded,
        ),
    ];
    for (name, ingest, timed) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let ingest = ingest.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let acks = submit_all(&ingest, batches()).await;
                        // Without a journal `sync` returns at once; with one,
                        // history catches up before the next round either way.
                        ingest.sync().await;
                        total += match timed {
                            Timed::Acks => acks,
                            Timed::UntilRecorded => start.elapsed(),
                        };
                    }
                    total
                }
            });
        });
    }
    group.finish();
    rt.block_on(async {
        direct.shutdown().await;
        journaled.shutdown().await;
        filed.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, ingest);
criterion_main!(benches);
