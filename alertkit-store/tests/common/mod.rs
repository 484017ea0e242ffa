//! Checks shared by the SQLite and Postgres test files.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::{Outbox, Settlement};
use alertkit_core::{Alert, HistoryStore, LabelSet, Receipt};
use alertkit_store::{PruneReport, RetentionPolicy};
use time::OffsetDateTime;

/// Retention deletes old history and finished deliveries in batches and
/// keeps everything recent. The store must enqueue for target `t` with no hold.
pub(crate) async fn retention<S, F, Fut>(store: &S, prune: F)
where
    S: HistoryStore + Outbox,
    F: Fn(RetentionPolicy) -> Fut,
    Fut: Future<Output = PruneReport>,
{
    let now = OffsetDateTime::now_utc();
    let old = now - time::Duration::days(40);
    let labels = |n: &str| LabelSet::from_pairs([("alertname", n)]);
    // An old alert that fired and resolved 40 days ago, and a current one.
    let fired = Alert::firing(labels("Old"), old);
    let resolved = fired.clone().resolved_at(old + time::Duration::minutes(5));
    store
        .record(&[Receipt::new(fired.clone(), old)])
        .await
        .unwrap();
    store
        .record(&[Receipt::new(
            resolved.clone(),
            old + time::Duration::minutes(5),
        )])
        .await
        .unwrap();
    // A verdict attached to the old instance today: recent, but it goes
    // with its alert.
    let late = [(resolved.state_key(), verdict(alertkit_core::Severity::Info))];
    assert_eq!(
        store.attach_classifications(&late, now).await.unwrap(),
        [true]
    );
    let current = Alert::firing(labels("Current"), now);
    store
        .record(&[Receipt::new(current.clone(), now)])
        .await
        .unwrap();
    // Deliver everything so there are finished rows and log entries.
    let targets = [Arc::<str>::from("t")];
    let claimed = store
        .claim("w", &targets, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        2,
        "the old firing and the current one (the old resolve waits)"
    );
    let settled: Vec<Settlement> = claimed
        .iter()
        .map(|d| Settlement::delivered(d.lease))
        .collect();
    store.settle(&settled).await.unwrap();

    let mut policy = RetentionPolicy::keep_days(30).with_deliveries(None);
    policy.batch = 1; // several batches
    let report = prune(policy).await;
    assert_eq!(report.events, 2, "the old firing and resolve: {report:?}");
    assert_eq!(report.alerts, 1, "{report:?}");
    assert_eq!(
        (report.outbox, report.delivery_log),
        (0, 0),
        "deliveries kept: {report:?}"
    );
    assert!(store.get(fired.fingerprint()).await.unwrap().is_none());
    assert!(
        store
            .timeline(fired.fingerprint())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get(current.fingerprint()).await.unwrap().is_some());
    assert_eq!(
        store.timeline(current.fingerprint()).await.unwrap().len(),
        1
    );

    let mut policy = RetentionPolicy::keep_days(30).with_deliveries(Some(Duration::ZERO));
    policy.batch = 1;
    let report = prune(policy).await;
    assert_eq!((report.outbox, report.delivery_log), (2, 2), "{report:?}");
    assert_eq!(report.events, 0);
    assert!(
        store
            .deliveries(current.fingerprint())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A verdict with the given severity.
pub(crate) fn verdict(severity: alertkit_core::Severity) -> Arc<alertkit_core::Classification> {
    Arc::new(alertkit_core::Classification::new(
        severity,
        alertkit_core::Category::Availability,
        0.75,
        alertkit_core::ClassificationSource::Rules,
    ))
}

/// A SQL store's timelines read back exactly as the in-memory store's,
/// event by event: changes recorded with their verdicts (one row each in
/// the SQL layout), a redelivery, an annotation change, a resolve, a
/// re-fire, and a verdict attached later.
pub(crate) async fn timelines_match_memory<S: HistoryStore>(store: &S) {
    use alertkit_core::Severity::{Critical, Info, Warning};
    use alertkit_core::memory::{MemoryHistoryConfig, MemoryHistoryStore};
    use alertkit_core::{Annotations, Classification};

    let memory = MemoryHistoryStore::new(MemoryHistoryConfig::default());
    let t0 = OffsetDateTime::now_utc()
        .replace_nanosecond(123_456_789)
        .unwrap();
    let at = |s: i64| t0 + time::Duration::seconds(s);
    let a = Alert::firing(LabelSet::from_pairs([("alertname", "A")]), at(0))
        .with_annotations(Annotations::from_pairs([("summary", "one")]));
    let b = Alert::firing(LabelSet::from_pairs([("alertname", "B")]), at(0));
    let mut a_changed = a.clone();
    a_changed.annotations = Annotations::from_pairs([("summary", "two")]);
    let b_resolved = b.clone().resolved_at(at(3));
    let b_again = Alert::firing(b.labels.clone(), at(4));
    type Batch = (Vec<Receipt>, Vec<Option<Arc<Classification>>>);
    let batches: [Batch; 3] = [
        (
            vec![
                Receipt::new(a.clone(), at(0)),
                Receipt::new(b.clone(), at(0)),
            ],
            vec![Some(verdict(Warning)), None],
        ),
        (
            vec![
                Receipt::new(a.clone(), at(1)),
                Receipt::new(a_changed.clone(), at(2)),
                Receipt::new(b_resolved, at(3)),
            ],
            vec![
                Some(verdict(Info)),
                Some(verdict(Info)),
                Some(verdict(Critical)),
            ],
        ),
        (
            vec![Receipt::new(b_again, at(4))],
            vec![Some(verdict(Critical))],
        ),
    ];
    for (receipts, verdicts) in &batches {
        let stored = store.record_classified(receipts, verdicts).await.unwrap();
        let expected = memory.record_classified(receipts, verdicts).await.unwrap();
        assert_eq!(stored.changes, expected.changes);
    }
    let late = [(a_changed.state_key(), verdict(Critical))];
    assert_eq!(
        store.attach_classifications(&late, at(5)).await.unwrap(),
        memory.attach_classifications(&late, at(5)).await.unwrap()
    );
    for alert in [&a, &b] {
        let fp = alert.fingerprint();
        let expected = memory.timeline(fp).await.unwrap();
        assert!(expected.len() >= 4, "{expected:?}");
        assert_eq!(store.timeline(fp).await.unwrap(), expected);
        assert_eq!(store.get(fp).await.unwrap(), memory.get(fp).await.unwrap());
    }
}

/// The alert [`migrated_timeline_reads_back`] checks, and its fingerprint
/// as the SQL stores key it.
pub(crate) fn premigration_alert() -> (Alert, i64) {
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "WrittenBeforeTheMigration")]),
        OffsetDateTime::now_utc() - time::Duration::minutes(10),
    );
    let key = i64::from_ne_bytes((alert.fingerprint().as_u64() ^ (1 << 63)).to_ne_bytes());
    (alert, key)
}

/// Writes [`premigration_alert`]'s row before the timeline migration
/// (`?N` placeholders; Postgres swaps `?` for `$`): binds its key, then its
/// `startsAt` nanoseconds.
pub(crate) const PREMIGRATION_ALERT_SQL: &str = "INSERT INTO alertkit_alerts (fingerprint, \
     labels, annotations, status, starts_at, first_seen, last_seen, last_changed, fire_count, \
     transitions, generator_url) \
     VALUES (?1, '{\"alertname\":\"WrittenBeforeTheMigration\"}', '{}', 0, ?2, ?2, ?2, ?2, \
     1, 1, '')";

/// Writes one of its events keyed by fingerprint: binds the key, the kind
/// (`firing`, then `classified`), then the time.
pub(crate) const PREMIGRATION_EVENT_SQL: &str = "INSERT INTO alertkit_events \
     (fingerprint, kind, at, status, starts_at) VALUES (?1, ?2, ?3, 0, ?3)";

/// After the timeline migration, the two events written before it for
/// [`premigration_alert`] (firing, classified) read back, and a new change
/// appends after them.
pub(crate) async fn migrated_timeline_reads_back<S: HistoryStore>(store: &S) {
    use alertkit_core::EventKind::{Classified, Firing, Resolved};

    let (alert, _) = premigration_alert();
    let kinds = |events: Vec<alertkit_core::HistoryEvent>| -> Vec<_> {
        events.into_iter().map(|e| e.kind).collect()
    };
    let fp = alert.fingerprint();
    assert_eq!(
        kinds(store.timeline(fp).await.unwrap()),
        [Firing, Classified]
    );
    let now = OffsetDateTime::now_utc();
    store
        .record(&[Receipt::new(alert.resolved_at(now), now)])
        .await
        .unwrap();
    assert_eq!(
        kinds(store.timeline(fp).await.unwrap()),
        [Firing, Classified, Resolved]
    );
}
