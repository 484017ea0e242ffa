//! Scheduled retention.

use std::time::Duration;

use alertkit_core::{Alert, LabelSet, Receipt};

use super::config;
use crate::config::Retention;
use crate::retention;

#[tokio::test]
async fn the_server_prunes_old_history_on_schedule() {
    let dir = super::fresh_dir("server-retention");
    let url = format!("sqlite://{}", dir.join("retention.db").display());
    let cfg = config(&[("DATABASE_URL", &url)]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let old_at = now - time::Duration::days(100);
    let labels = |n: &str| LabelSet::from_pairs([("alertname", n)]);
    let old = Alert::firing(labels("Old"), old_at);
    let current = Alert::firing(labels("Current"), now);
    let store = &opened.store;
    store
        .record(&[Receipt::new(old.clone(), old_at)])
        .await
        .unwrap();
    let resolved = old.clone().resolved_at(old_at + time::Duration::minutes(5));
    store
        .record(&[Receipt::new(resolved, old_at + time::Duration::minutes(5))])
        .await
        .unwrap();
    store
        .record(&[Receipt::new(current.clone(), now)])
        .await
        .unwrap();

    let off = Retention {
        days: 0,
        every: Duration::from_millis(100),
    };
    assert!(
        retention::spawn(opened.clone(), off).is_none(),
        "0 days keeps everything"
    );
    let on = Retention {
        days: 30,
        every: Duration::from_millis(100),
    };
    let task = retention::spawn(opened.clone(), on).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.get(old.fingerprint()).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old alert was not pruned within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    assert!(store.timeline(old.fingerprint()).await.unwrap().is_empty());
    assert!(
        store.get(current.fingerprint()).await.unwrap().is_some(),
        "recent history is kept"
    );
    opened.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
