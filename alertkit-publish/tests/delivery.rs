//! The delivery machinery against a real SQLite outbox: exactly-once
//! delivery across a restart, retries with backoff and `Retry-After`,
//! dead letters without retries for permanent errors, rate limits under a
//! burst, and the breaker holding rows back while a target is down.
//!
//! The publishers here are scripted in-process so each test controls
//! failures precisely; the vendor publishers are tested against real HTTP
//! servers in their own files.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertkit_core::layer::BreakerConfig;
use alertkit_core::traits::{AttemptOutcome, DeadLetterQuery, Outbox};
use alertkit_core::{
    Alert, HistoryStore, LabelSet, Notification, PublishError, PublishReceipt, Publisher, Receipt,
};
use alertkit_publish::delivery::{Deliverer, DeliveryConfig, DeliveryTarget, RetryPolicy};
use alertkit_store::{OutboxOptions, SqliteHistoryStore};
use time::OffsetDateTime;

fn temp_db() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("alertkit-delivery-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("outbox-{}.db", N.fetch_add(1, Ordering::Relaxed)))
}

async fn store_with(targets: &[&str]) -> Arc<SqliteHistoryStore> {
    let store = SqliteHistoryStore::open(temp_db().to_str().unwrap())
        .await
        .unwrap();
    store.set_outbox(OutboxOptions::new(
        targets.iter().map(|t| Arc::<str>::from(*t)),
        Duration::ZERO,
    ));
    Arc::new(store)
}

async fn record(store: &SqliteHistoryStore, names: impl IntoIterator<Item = String>) {
    let now = OffsetDateTime::now_utc();
    let receipts: Vec<Receipt> = names
        .into_iter()
        .map(|n| {
            Receipt::new(
                Alert::firing(LabelSet::from_pairs([("alertname", n)]), now),
                now,
            )
        })
        .collect();
    store.record(&receipts).await.unwrap();
}

type Script = dyn Fn(&str, usize) -> Result<PublishReceipt, PublishError> + Send + Sync;

/// Answers by script: `(alertname, attempt number for this alert)` → outcome;
/// counts deliveries per alert.
struct Scripted {
    name: &'static str,
    script: Box<Script>,
    delay: Duration,
    calls: Mutex<HashMap<String, usize>>,
    delivered: Mutex<HashMap<String, usize>>,
}

impl Scripted {
    fn new(
        name: &'static str,
        script: impl Fn(&str, usize) -> Result<PublishReceipt, PublishError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            script: Box::new(script),
            delay: Duration::ZERO,
            calls: Mutex::default(),
            delivered: Mutex::default(),
        })
    }

    fn slow(name: &'static str, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            name,
            script: Box::new(|_, _| Ok(PublishReceipt::delivered().with_status(200))),
            delay,
            calls: Mutex::default(),
            delivered: Mutex::default(),
        })
    }

    fn delivered(&self) -> HashMap<String, usize> {
        self.delivered.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }
}

#[async_trait::async_trait]
impl Publisher for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        let alert = n
            .alert
            .labels
            .get("alertname")
            .unwrap_or_default()
            .to_owned();
        let attempt = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry(alert.clone()).or_default();
            *c += 1;
            *c
        };
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let result = (self.script)(&alert, attempt);
        if result.is_ok() {
            *self.delivered.lock().unwrap().entry(alert).or_default() += 1;
        }
        result
    }
}

fn fast_config(worker: &str) -> DeliveryConfig {
    DeliveryConfig::new(worker)
        .with_poll(Duration::from_millis(20))
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(4)
                .with_backoff(Duration::from_millis(20), Duration::from_millis(100)),
        )
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_for_outbox_empty(store: &SqliteHistoryStore) {
    let start = Instant::now();
    loop {
        let depth = store.depth().await.unwrap();
        if depth.iter().all(|d| d.pending == 0 && d.in_flight == 0) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "outbox never drained: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_is_delivered_once() {
    let store = store_with(&["sink"]).await;
    record(&store, (0..300).map(|i| format!("A{i}"))).await;
    let sink = Scripted::new("sink", |_, _| {
        Ok(PublishReceipt::delivered().with_status(200))
    });
    let d = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(sink.clone())],
        fast_config("w1"),
    );
    wait_for_outbox_empty(&store).await;
    d.shutdown().await;
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 300);
    assert!(
        delivered.values().all(|&n| n == 1),
        "duplicates: {delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_delivery_delivers_everything_exactly_once() {
    let store = store_with(&["sink"]).await;
    record(&store, (0..60).map(|i| format!("R{i}"))).await;
    let sink = Scripted::slow("sink", Duration::from_millis(20));
    let first = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(sink.clone()).with_concurrency(4)],
        fast_config("replica-a").with_batch(16),
    );
    wait_until("some deliveries", Duration::from_secs(10), || {
        sink.delivered().len() >= 10
    })
    .await;
    // SIGTERM: attempts in flight finish and are settled, the rest go back.
    first.shutdown().await;
    let before = sink.delivered().len();
    assert!(before < 60, "the restart should happen mid-delivery");
    let second = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(sink.clone()).with_concurrency(4)],
        fast_config("replica-b"),
    );
    wait_for_outbox_empty(&store).await;
    second.shutdown().await;
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 60);
    assert!(
        delivered.values().all(|&n| n == 1),
        "duplicates: {delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_then_success_is_delivered_once_with_both_attempts_logged() {
    let store = store_with(&["flaky"]).await;
    record(&store, ["Flaky".to_owned()]).await;
    let flaky = Scripted::new("flaky", |_, attempt| {
        if attempt == 1 {
            Err(PublishError::Server {
                status: 500,
                message: "boom".into(),
                retry_after: None,
            })
        } else {
            Ok(PublishReceipt::delivered().with_status(202))
        }
    });
    let d = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(flaky.clone())],
        fast_config("w"),
    );
    wait_for_outbox_empty(&store).await;
    d.shutdown().await;
    assert_eq!(flaky.delivered().get("Flaky"), Some(&1));
    let fp = Alert::firing(
        LabelSet::from_pairs([("alertname", "Flaky")]),
        OffsetDateTime::now_utc(),
    )
    .fingerprint();
    let log = store.deliveries(fp).await.unwrap();
    let outcomes: Vec<_> = log.iter().map(|a| (a.outcome, a.status_code)).collect();
    assert_eq!(
        outcomes,
        [
            (AttemptOutcome::Retry, Some(500)),
            (AttemptOutcome::Delivered, Some(202))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_waited_for() {
    let store = store_with(&["busy"]).await;
    record(&store, ["Busy".to_owned()]).await;
    let busy = Scripted::new("busy", |_, attempt| {
        if attempt == 1 {
            Err(PublishError::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
            })
        } else {
            Ok(PublishReceipt::delivered())
        }
    });
    let d = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(busy.clone())],
        fast_config("w"),
    );
    wait_for_outbox_empty(&store).await;
    d.shutdown().await;
    let fp = Alert::firing(
        LabelSet::from_pairs([("alertname", "Busy")]),
        OffsetDateTime::now_utc(),
    )
    .fingerprint();
    let log = store.deliveries(fp).await.unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    let waited = log[1].at - log[0].at;
    assert!(
        waited >= time::Duration::milliseconds(950),
        "retried after {waited}, before the target's Retry-After of 1s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_goes_to_dead_letters_without_retries() {
    let store = store_with(&["strict"]).await;
    record(&store, ["Bad".to_owned(), "Good".to_owned()]).await;
    let strict = Scripted::new("strict", |alert, _| {
        if alert == "Bad" {
            Err(PublishError::Rejected {
                status: Some(400),
                message: "invalid_payload".into(),
            })
        } else {
            Ok(PublishReceipt::delivered())
        }
    });
    let d = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(strict.clone())],
        fast_config("w"),
    );
    wait_for_outbox_empty(&store).await;
    d.shutdown().await;
    assert_eq!(
        strict.calls(),
        2,
        "one attempt each, no retry of the rejection"
    );
    let dead = store
        .dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_status, Some(400));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("invalid_payload")
    );
    assert_eq!(
        dead[0].notification.alert.labels.get("alertname"),
        Some("Bad")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_give_up_after_the_last_attempt() {
    let store = store_with(&["down"]).await;
    record(&store, ["Down".to_owned()]).await;
    let down = Scripted::new("down", |_, _| Err(PublishError::Timeout));
    let d = Deliverer::spawn(
        store.clone(),
        // A breaker that never opens, to count the retry policy's attempts.
        vec![
            DeliveryTarget::new(down.clone())
                .with_breaker(BreakerConfig::default().with_consecutive_failures(1000)),
        ],
        fast_config("w"),
    );
    wait_for_outbox_empty(&store).await;
    d.shutdown().await;
    assert_eq!(down.calls(), 4, "max_attempts");
    let dead = store
        .dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("gave up after 4 attempts")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_under_a_burst() {
    let store = store_with(&["slow"]).await;
    record(&store, (0..30).map(|i| format!("B{i}"))).await;
    let sink = Scripted::new("slow", |_, _| Ok(PublishReceipt::delivered()));
    let start = Instant::now();
    let d = Deliverer::spawn(
        store.clone(),
        vec![DeliveryTarget::new(sink.clone()).with_rate_per_second(NonZeroU32::new(20).unwrap())],
        fast_config("w"),
    );
    wait_for_outbox_empty(&store).await;
    let elapsed = start.elapsed();
    d.shutdown().await;
    assert_eq!(sink.delivered().len(), 30);
    // A burst of 20, then 10 more at 20/s: at least half a second.
    assert!(
        elapsed >= Duration::from_millis(450),
        "30 deliveries in {elapsed:?} at 20/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_keeps_rows_in_the_outbox() {
    let store = store_with(&["dead-end"]).await;
    record(&store, (0..20).map(|i| format!("D{i}"))).await;
    let down = Scripted::new("dead-end", |_, _| {
        Err(PublishError::Server {
            status: 503,
            message: "down".into(),
            retry_after: None,
        })
    });
    let d = Deliverer::spawn(
        store.clone(),
        vec![
            DeliveryTarget::new(down.clone())
                .with_concurrency(1)
                .with_breaker(
                    BreakerConfig::default()
                        .with_consecutive_failures(3)
                        .with_open_for(Duration::from_secs(60)),
                ),
        ],
        fast_config("w").with_batch(1),
    );
    wait_until("the breaker to open", Duration::from_secs(10), || {
        d.targets()
            .iter()
            .any(|(_, s)| *s == alertkit_core::layer::BreakerState::Open)
    })
    .await;
    let calls = down.calls();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(down.calls(), calls, "no attempts while the breaker is open");
    let depth = store.depth().await.unwrap();
    assert_eq!(
        depth[0].dead, 0,
        "nothing dead-lettered: rows wait for the target"
    );
    assert!(depth[0].pending >= 17, "{depth:?}");
    d.shutdown().await;
}
