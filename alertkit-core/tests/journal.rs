//! The pipeline with a journal: acknowledged on the append, recorded after,
//! replayed after a crash, never lost while history is down.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::{
    LabelClassifier, MemoryHistoryStore, MemoryJournal, RecordingPublisher,
};
use alertkit_core::pipeline::{Pipeline, PipelineConfig, PipelineError};
use alertkit_core::traits::HistoryPage;
use alertkit_core::{
    Alert, AlertRecord, Classification, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore,
    Journal, LabelSet, Origin, Receipt, RecordOutcome, SourceBatch, StateKey, StoreError,
};
use time::OffsetDateTime;

fn alert(name: &str, i: usize) -> Alert {
    Alert::firing(
        LabelSet::from_pairs([
            ("alertname", name.to_owned()),
            ("i", i.to_string()),
            ("severity", "warning".to_owned()),
        ]),
        OffsetDateTime::now_utc(),
    )
}

fn batch(alerts: Vec<Alert>) -> SourceBatch {
    SourceBatch::new(Origin::named("journal-test"), alerts)
}

/// A store that fails while `down` (unavailable) or `broken` (a backend
/// error, as a full disk gives) is set, or holds every record while `held`.
#[derive(Default)]
struct Switchable {
    inner: MemoryHistoryStore,
    down: AtomicBool,
    broken: AtomicBool,
    held: tokio::sync::Mutex<()>,
    /// The thread each `record` ran on.
    threads: std::sync::Mutex<Vec<Option<String>>>,
}

#[async_trait::async_trait]
impl HistoryStore for Switchable {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        let _held = self.held.lock().await;
        let thread = std::thread::current().name().map(str::to_owned);
        self.threads.lock().unwrap().push(thread);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("database or disk is full".into()));
        }
        self.inner.record(receipts).await
    }
    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        self.inner.attach_classifications(items, at).await
    }
    async fn get(&self, fp: Fingerprint) -> Result<Option<AlertRecord>, StoreError> {
        self.inner.get(fp).await
    }
    async fn timeline(&self, fp: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError> {
        self.inner.timeline(fp).await
    }
    async fn list(&self, q: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        self.inner.list(q).await
    }
}

fn sink() -> (Arc<RecordingPublisher>, Arc<DirectHandoff>) {
    let sink = Arc::new(RecordingPublisher::new("sink", 100_000));
    let handoff = Arc::new(DirectHandoff::new(
        FanOut::new().with_publisher(Arc::clone(&sink)),
    ));
    (sink, handoff)
}

async fn stored(store: &dyn HistoryStore) -> usize {
    let mut q = HistoryQuery::default();
    q.limit = 10_000;
    store.list(&q).await.unwrap().records.len()
}

/// On a multi-thread runtime the history writer has a thread of its own (it
/// is not queued behind the runtime's other tasks); shutdown still drains it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_writer_runs_on_its_own_thread() {
    let store = Arc::new(Switchable::default());
    let (sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .classifier(Arc::new(LabelClassifier))
        .journal(Arc::new(MemoryJournal::default()))
        .spawn();
    let ingest = pipeline.ingest();
    for round in 0..3 {
        let alerts = (0..20)
            .map(|i| alert("OwnThread", round * 100 + i))
            .collect();
        ingest.submit(batch(alerts)).await.unwrap();
    }
    ingest.sync().await;
    pipeline.shutdown().await;
    assert_eq!(stored(&store.inner).await, 60);
    assert_eq!(
        sink.notifications().len(),
        60,
        "published after the writer's thread recorded"
    );
    let threads = store.threads.lock().unwrap().clone();
    assert!(!threads.is_empty());
    assert!(
        threads
            .iter()
            .all(|t| t.as_deref() == Some("alertkit-history")),
        "{threads:?}"
    );
}

#[tokio::test]
async fn acknowledges_on_the_append_and_sync_makes_history_readable() {
    let store = Arc::new(Switchable::default());
    let journal = Arc::new(MemoryJournal::default());
    let (sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .classifier(Arc::new(LabelClassifier))
        .journal(journal.clone())
        .spawn();
    let ingest = pipeline.ingest();

    // History is held: the append still acknowledges.
    let held = store.held.lock().await;
    let alerts: Vec<Alert> = (0..40).map(|i| alert("Journaled", i)).collect();
    let ack = ingest.submit(batch(alerts.clone())).await.unwrap();
    assert_eq!((ack.received, ack.duplicates, ack.changed), (40, 0, None));
    assert_eq!(
        journal.unconsumed().await.unwrap().len(),
        1,
        "the entry waits in the journal"
    );
    let backlog = ingest.journal_backlog().unwrap();
    assert_eq!(backlog.unrecorded, 40, "{backlog:?}");
    // A second replica's copy is a duplicate of the journaled states.
    let dup = ingest.submit(batch(alerts.clone())).await.unwrap();
    assert_eq!(dup.duplicates, 40);
    drop(held);

    ingest.sync().await;
    assert_eq!(
        stored(&*store).await,
        40,
        "sync waits for the history commit"
    );
    assert!(
        journal.unconsumed().await.unwrap().is_empty(),
        "recorded entries are consumed"
    );
    // The room comes back once the written entries are released.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ingest.journal_backlog().unwrap().unrecorded > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "backlog not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // submit_recorded answers with what changed.
    let resolved: Vec<Alert> = alerts
        .iter()
        .map(|a| a.clone().resolved_at(OffsetDateTime::now_utc()))
        .collect();
    let res = ingest.submit_recorded(batch(resolved)).await.unwrap();
    assert_eq!(res.changed, Some(40));
    pipeline.shutdown().await;
    let sent = sink.notifications();
    assert_eq!(sent.len(), 80, "40 firing + 40 resolved, each once");
    assert!(sent.iter().all(|n| n.classification.is_some()));
}

#[tokio::test]
async fn a_crash_leaves_entries_that_the_next_start_records_once() {
    let journal = Arc::new(MemoryJournal::default());
    let now = OffsetDateTime::now_utc();
    let origin = Arc::new(Origin::named("before-the-crash"));
    let receipts: Vec<Receipt> = (0..25)
        .map(|i| Receipt::new(alert("Crashed", i), now).with_origin(Arc::clone(&origin)))
        .collect();
    // Acknowledged before the crash, never recorded.
    journal.append(&receipts[..10]).await.unwrap();
    journal.append(&receipts[10..]).await.unwrap();
    // Recorded, but the crash came before the consume.
    let store = Arc::new(MemoryHistoryStore::default());
    store.record(&receipts[..10]).await.unwrap();

    let (sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(journal.clone())
        .spawn();
    pipeline.ingest().sync().await;
    assert_eq!(stored(&*store).await, 25);
    assert!(journal.unconsumed().await.unwrap().is_empty());
    pipeline.shutdown().await;
    let sent = sink.notifications();
    assert_eq!(
        sent.len(),
        15,
        "the 10 already recorded are not notified again"
    );
    assert!(sent.iter().all(|n| n.origin.receiver == "before-the-crash"));
}

#[tokio::test(start_paused = true)]
async fn history_down_loses_nothing_and_recording_resumes() {
    let store = Arc::new(Switchable::default());
    store.down.store(true, Ordering::SeqCst);
    let journal = Arc::new(MemoryJournal::default());
    let (sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(journal.clone())
        .spawn();
    let ingest = pipeline.ingest();
    for i in 0..5 {
        let ack = ingest
            .submit(batch(vec![alert("Outage", i)]))
            .await
            .unwrap();
        assert_eq!(ack.received, 1);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored(&*store).await, 0);
    assert!(!journal.unconsumed().await.unwrap().is_empty());
    store.down.store(false, Ordering::SeqCst);
    ingest.sync().await;
    assert_eq!(stored(&*store).await, 5);
    pipeline.shutdown().await;
    assert_eq!(sink.notifications().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_backlog_is_bounded() {
    let store = Arc::new(Switchable::default());
    let journal = Arc::new(MemoryJournal::default());
    let (_sink, handoff) = sink();
    let mut config = PipelineConfig::default();
    config.journal_backlog = 10;
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(journal)
        .config(config)
        .spawn();
    let ingest = pipeline.ingest();
    let held = store.held.lock().await;
    let mut accepted = 0;
    for i in 0..50 {
        let submit = ingest.submit(batch(vec![alert("Backlog", i)]));
        match tokio::time::timeout(Duration::from_secs(1), submit).await {
            Ok(r) => {
                r.unwrap();
                accepted += 1;
            }
            Err(_) => break,
        }
    }
    assert!(
        (10..=12).contains(&accepted),
        "{accepted} alerts accepted with a backlog of 10 and history held"
    );
    drop(held);
    pipeline.shutdown().await;
    assert!(stored(&*store).await >= accepted);
}

/// A journal that refuses receipts labelled `bad`, as a store's validation would.
#[derive(Default)]
struct Picky(MemoryJournal);

#[async_trait::async_trait]
impl Journal for Picky {
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError> {
        if receipts.iter().any(|r| r.alert.labels.get("bad").is_some()) {
            return Err(StoreError::Invalid(
                "receipts[0].startsAt: out of range".into(),
            ));
        }
        self.0.append(receipts).await
    }
    async fn unconsumed(&self) -> Result<Vec<alertkit_core::traits::JournalEntry>, StoreError> {
        self.0.unconsumed().await
    }
    async fn consume(&self, seq: u64) -> Result<(), StoreError> {
        self.0.consume(seq).await
    }
}

#[tokio::test]
async fn one_senders_invalid_batch_fails_only_that_batch() {
    let store = Arc::new(Switchable::default());
    let (_sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(Arc::new(Picky::default()))
        .spawn();
    let ingest = pipeline.ingest();
    // Hold history so the group forms behind a busy record stage.
    let submits: Vec<_> = (0..20)
        .map(|i| {
            let ingest = ingest.clone();
            let mut a = alert("Mixed", i);
            if i == 7 {
                a.labels = LabelSet::from_pairs([("alertname", "Mixed"), ("bad", "yes")]);
            }
            tokio::spawn(async move { ingest.submit(batch(vec![a])).await })
        })
        .collect();
    let mut ok = 0;
    for (i, s) in submits.into_iter().enumerate() {
        match s.await.unwrap() {
            Ok(_) => ok += 1,
            Err(PipelineError::Store(e)) => {
                assert_eq!(i, 7, "batch {i} failed: {e}");
                assert!(!e.is_transient());
            }
            Err(e) => panic!("batch {i}: {e}"),
        }
    }
    assert_eq!(ok, 19);
    ingest.sync().await;
    assert_eq!(stored(&*store).await, 19);
    pipeline.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_full_backlog_answers_overloaded_after_the_wait() {
    let store = Arc::new(Switchable::default());
    let (_sink, handoff) = sink();
    let mut config = PipelineConfig::default();
    config.journal_backlog = 2;
    config.journal_backlog_wait = Duration::from_secs(3);
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(Arc::new(MemoryJournal::default()))
        .config(config)
        .spawn();
    let ingest = pipeline.ingest();
    let alerts: Vec<Alert> = (0..3).map(|i| alert("Full", i)).collect();
    let held = store.held.lock().await;
    ingest.submit(batch(alerts[..2].to_vec())).await.unwrap();
    // The record stage holds the first entry; the second waits for room.
    let err = ingest
        .submit(batch(alerts[2..].to_vec()))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}: the sender must retry (503)");
    // A batch of only duplicates needs no room.
    let dup = ingest.submit(batch(alerts[..1].to_vec())).await.unwrap();
    assert_eq!((dup.duplicates, dup.changed), (1, Some(0)));
    drop(held);
    ingest.sync().await;
    ingest.submit(batch(alerts[2..].to_vec())).await.unwrap();
    pipeline.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_store_is_retried_never_a_reason_to_drop_acknowledged_alerts() {
    let store = Arc::new(Switchable::default());
    store.broken.store(true, Ordering::SeqCst);
    let journal = Arc::new(MemoryJournal::default());
    let (sink, handoff) = sink();
    let pipeline = Pipeline::builder(store.clone(), handoff)
        .journal(journal.clone())
        .spawn();
    let ingest = pipeline.ingest();
    ingest
        .submit(batch((0..3).map(|i| alert("DiskFull", i)).collect()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        journal.unconsumed().await.unwrap().len(),
        1,
        "kept while broken"
    );
    store.broken.store(false, Ordering::SeqCst);
    ingest.sync().await;
    assert_eq!(stored(&*store).await, 3);
    pipeline.shutdown().await;
    assert_eq!(sink.notifications().len(), 3);
}
