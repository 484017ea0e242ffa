//! The pipeline end to end with the in-memory implementations.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use alertkit_core::layer::{DirectHandoff, FanOut};
use alertkit_core::memory::{LabelClassifier, MemoryHistoryStore, RecordingPublisher};
use alertkit_core::pipeline::{Pipeline, PipelineConfig, PipelineError};
use alertkit_core::traits::StreamSource;
use alertkit_core::{
    Alert, Classification, ClassificationSource, Classifier, ClassifyError, EventKind, Handoff,
    HistoryQuery, HistoryStore, LabelSet, Notification, Origin, Receipt, RecordOutcome,
    SourceBatch, StoreError,
};
use time::OffsetDateTime;

fn alert(name: &str, i: usize) -> Alert {
    Alert::firing(
        LabelSet::from_pairs([
            ("alertname", name.to_owned()),
            ("i", i.to_string()),
            ("severity", "critical".to_owned()),
        ]),
        OffsetDateTime::now_utc(),
    )
}

fn batch(alerts: Vec<Alert>) -> SourceBatch {
    SourceBatch::new(Origin::named("test"), alerts)
}

struct Setup {
    store: Arc<MemoryHistoryStore>,
    sink: Arc<RecordingPublisher>,
}

fn setup() -> (Setup, Arc<DirectHandoff>) {
    let store = Arc::new(MemoryHistoryStore::default());
    let sink = Arc::new(RecordingPublisher::new("sink", 100_000));
    let handoff = Arc::new(DirectHandoff::new(
        FanOut::new().with_publisher(Arc::clone(&sink)),
    ));
    (Setup { store, sink }, handoff)
}

#[tokio::test]
async fn records_classifies_and_publishes_each_change_once() {
    let (s, handoff) = setup();
    let pipeline = Pipeline::builder(s.store.clone(), handoff)
        .classifier(Arc::new(LabelClassifier))
        .spawn();
    let ingest = pipeline.ingest();
    let alerts: Vec<Alert> = (0..50).map(|i| alert("Storm", i)).collect();
    let first = ingest.submit(batch(alerts.clone())).await.unwrap();
    assert_eq!(
        (first.received, first.duplicates, first.changed),
        (50, 0, Some(50))
    );
    // Alertmanager HA: the same notification from a second replica.
    let dup = ingest.submit(batch(alerts.clone())).await.unwrap();
    assert_eq!((dup.duplicates, dup.changed), (50, Some(0)));
    let resolved: Vec<Alert> = alerts
        .iter()
        .map(|a| a.clone().resolved_at(OffsetDateTime::now_utc()))
        .collect();
    let res = ingest.submit(batch(resolved)).await.unwrap();
    assert_eq!(res.changed, Some(50));
    pipeline.shutdown().await;

    let sent = s.sink.notifications();
    assert_eq!(
        sent.len(),
        100,
        "50 firing + 50 resolved, duplicates dropped"
    );
    assert_eq!(
        sent.iter()
            .filter(|n| n.kind == EventKind::Resolved)
            .count(),
        50
    );
    assert!(sent.iter().all(|n| {
        n.classification
            .as_ref()
            .is_some_and(|c| c.source == ClassificationSource::Default)
    }));
    let keys: std::collections::HashSet<_> = sent.iter().map(|n| n.dedup_key()).collect();
    assert_eq!(keys.len(), 100, "dedup keys are unique per state change");

    let rec = s.store.get(alerts[0].fingerprint()).await.unwrap().unwrap();
    assert!(
        rec.classification.is_some(),
        "classification attached to history"
    );
    let kinds: Vec<_> = s
        .store
        .timeline(alerts[0].fingerprint())
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Firing,
            EventKind::Classified,
            EventKind::Resolved,
            EventKind::Classified
        ]
    );
}

/// A classifier that never answers.
struct Hung;

#[async_trait::async_trait]
impl Classifier for Hung {
    fn id(&self) -> &str {
        "hung"
    }
    async fn classify(&self, _: &Alert) -> Result<Classification, ClassifyError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_dead_classifier_never_delays_acknowledgement_and_publishing_goes_on() {
    let (s, handoff) = setup();
    let mut config = PipelineConfig::default();
    config.classify_timeout = Duration::from_secs(5);
    let pipeline = Pipeline::builder(s.store.clone(), handoff)
        .classifier(Arc::new(Hung))
        .config(config)
        .spawn();
    let before = tokio::time::Instant::now();
    let receipt = pipeline
        .ingest()
        .submit(batch(vec![alert("Hung", 1)]))
        .await
        .unwrap();
    assert_eq!(receipt.changed, Some(1));
    assert_eq!(
        before.elapsed(),
        Duration::ZERO,
        "the ack waited for the (paused) clock"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    pipeline.shutdown().await;
    let sent = s.sink.notifications();
    assert_eq!(
        sent.len(),
        1,
        "published once the classification wait ran out"
    );
    assert!(sent[0].classification.is_none());
}

/// A store that fails while `down` is set.
#[derive(Default)]
struct Flaky {
    inner: MemoryHistoryStore,
    down: AtomicBool,
}

#[async_trait::async_trait]
impl HistoryStore for Flaky {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        self.inner.record(receipts).await
    }
    async fn attach_classifications(
        &self,
        items: &[(alertkit_core::StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        self.inner.attach_classifications(items, at).await
    }
    async fn get(
        &self,
        fp: alertkit_core::Fingerprint,
    ) -> Result<Option<alertkit_core::AlertRecord>, StoreError> {
        self.inner.get(fp).await
    }
    async fn timeline(
        &self,
        fp: alertkit_core::Fingerprint,
    ) -> Result<Vec<alertkit_core::HistoryEvent>, StoreError> {
        self.inner.timeline(fp).await
    }
    async fn list(
        &self,
        q: &HistoryQuery,
    ) -> Result<alertkit_core::traits::HistoryPage, StoreError> {
        self.inner.list(q).await
    }
}

#[tokio::test]
async fn a_failed_commit_is_not_acknowledged_and_the_retry_is_not_a_duplicate() {
    let store = Arc::new(Flaky::default());
    let sink = Arc::new(RecordingPublisher::new("sink", 100));
    let handoff = Arc::new(DirectHandoff::new(
        FanOut::new().with_publisher(Arc::clone(&sink)),
    ));
    let pipeline = Pipeline::builder(store.clone(), handoff).spawn();
    let b = batch(vec![alert("Flaky", 1)]);
    store.down.store(true, Ordering::SeqCst);
    let err = pipeline.ingest().submit(b.clone()).await.unwrap_err();
    assert!(matches!(err, PipelineError::Store(_)));
    assert!(
        err.is_transient(),
        "a store outage must map to 503, so Alertmanager retries"
    );
    store.down.store(false, Ordering::SeqCst);
    let ok = pipeline.ingest().submit(b).await.unwrap();
    assert_eq!((ok.duplicates, ok.changed), (0, Some(1)));
    pipeline.shutdown().await;
    assert_eq!(sink.notifications().len(), 1);
}

/// A hand-off that blocks until released, counting what it got.
struct Gate {
    open: tokio::sync::Semaphore,
    got: AtomicUsize,
}

#[async_trait::async_trait]
impl Handoff for Gate {
    async fn hand_off(&self, n: &[Notification]) -> Result<(), StoreError> {
        let _permit = self
            .open
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))?;
        self.got.fetch_add(n.len(), Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn queues_are_bounded_and_shutdown_drains_them() {
    let gate = Arc::new(Gate {
        open: tokio::sync::Semaphore::new(0),
        got: AtomicUsize::new(0),
    });
    let mut config = PipelineConfig::default();
    config.queue_capacity = 2;
    config.handoff_queue = 4;
    config.handoff_batch = 1;
    let pipeline = Pipeline::builder(Arc::new(MemoryHistoryStore::default()), gate.clone())
        .config(config)
        .spawn();
    let ingest = pipeline.ingest();
    let mut submitted = 0;
    let mut blocked = false;
    for i in 0..100 {
        let submit = ingest.submit(batch(vec![alert("Backpressure", i)]));
        match tokio::time::timeout(Duration::from_secs(1), submit).await {
            Ok(r) => {
                r.unwrap();
                submitted += 1;
            }
            Err(_) => {
                blocked = true;
                break;
            }
        }
    }
    assert!(
        blocked,
        "submit never waited although hand-off is stuck ({submitted} accepted)"
    );
    assert!(
        submitted < 20,
        "{submitted} batches accepted with hand-off stuck"
    );
    gate.open.add_permits(1_000);
    pipeline.shutdown().await;
    // The batch whose wait timed out may already have been queued: it is recorded too.
    let got = gate.got.load(Ordering::SeqCst);
    assert!(
        (submitted..=submitted + 1).contains(&got),
        "shutdown drained {got} of {submitted} accepted changes"
    );
}

#[tokio::test]
async fn pulls_from_a_source_until_it_ends() {
    let (s, handoff) = setup();
    let pipeline = Pipeline::builder(s.store.clone(), handoff).spawn();
    let batches: Vec<_> = (0..10)
        .map(|i| {
            let a = alert("Pulled", i);
            Ok(batch(vec![a.clone(), a]))
        })
        .collect();
    let source = StreamSource::new("replay", futures_util::stream::iter(batches));
    pipeline.run_source(source).await.unwrap();
    pipeline.shutdown().await;
    assert_eq!(s.store.len(), 10);
    assert_eq!(s.sink.notifications().len(), 10);
}

#[tokio::test]
async fn submit_after_shutdown_is_refused() {
    let (s, handoff) = setup();
    let pipeline = Pipeline::builder(s.store, handoff).spawn();
    let ingest = pipeline.ingest();
    pipeline.shutdown().await;
    let err = ingest
        .submit(batch(vec![alert("Late", 1)]))
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::ShuttingDown));
}

/// A classifier that answers only asynchronously (no `try_classify_now`).
struct Later;

#[async_trait::async_trait]
impl Classifier for Later {
    fn id(&self) -> &str {
        "later/1"
    }
    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        tokio::task::yield_now().await;
        LabelClassifier.classify(alert).await
    }
}

#[tokio::test]
async fn verdicts_known_at_once_are_recorded_with_the_change_others_attached_after() {
    for (classifier, name) in [
        (Arc::new(LabelClassifier) as Arc<dyn Classifier>, "inline"),
        (Arc::new(Later) as Arc<dyn Classifier>, "later"),
    ] {
        let (s, handoff) = setup();
        let pipeline = Pipeline::builder(s.store.clone(), handoff)
            .classifier(classifier)
            .spawn();
        let alerts: Vec<Alert> = (0..20).map(|i| alert(name, i)).collect();
        pipeline
            .ingest()
            .submit(batch(alerts.clone()))
            .await
            .unwrap();
        pipeline.shutdown().await;
        for a in &alerts {
            let events = s.store.timeline(a.fingerprint()).await.unwrap();
            let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, [EventKind::Firing, EventKind::Classified], "{name}");
            let rec = s.store.get(a.fingerprint()).await.unwrap().unwrap();
            assert!(rec.classification.is_some(), "{name}");
        }
        let sent = s.sink.notifications();
        assert_eq!(sent.len(), 20, "{name}");
        assert!(sent.iter().all(|n| n.classification.is_some()), "{name}");
    }
}
