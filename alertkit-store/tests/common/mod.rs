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
        .record(&[Receipt::new(resolved, old + time::Duration::minutes(5))])
        .await
        .unwrap();
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
