//! The [`Publisher`] conformance suite.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use proptest::test_runner::TestCaseError;

use super::{check, ensure, once, runtime};
use crate::testing::strategies::alert;
use crate::{Alert, EventKind, LabelSet, Notification, Origin, PublishError, Publisher, Status};

/// Reports the dedup keys a target actually received, for suites that can see the target.
pub type Observer = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// The [`Publisher`] suite, with options. [`publisher`] runs it with defaults.
pub struct PublisherSuite<F> {
    make: F,
    cases: u32,
}

impl<F> std::fmt::Debug for PublisherSuite<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherSuite")
            .field("cases", &self.cases)
            .finish_non_exhaustive()
    }
}

/// Runs the [`Publisher`] suite on publishers from `make`, which must point
/// at a healthy target (a loopback server, a temporary file). `make` returns
/// the publisher and, when the test can see what the target received, an
/// [`Observer`] of delivered dedup keys: then every notification reported
/// delivered must have arrived.
///
/// Checks: a stable, non-empty name; firing and resolved notifications
/// delivered; the same dedup key twice accepted (idempotent from the
/// caller's side); generated notifications with hostile labels and huge
/// annotations answered with a receipt or a typed error, never a panic; 32
/// concurrent publishes.
pub fn publisher<F, Fut, P>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = (P, Option<Observer>)>,
    P: Publisher,
{
    PublisherSuite::new(make).run();
}

impl<F, Fut, P> PublisherSuite<F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = (P, Option<Observer>)>,
    P: Publisher,
{
    /// The suite with default options.
    pub fn new(make: F) -> Self {
        Self { make, cases: 32 }
    }

    /// Number of generated notifications (default 32; lower it for slow targets).
    #[must_use]
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases.max(1);
        self
    }

    /// Runs the checks.
    pub fn run(self) {
        let rt = runtime();
        let make = &self.make;
        once(&rt, "basics", async {
            let (p, observer) = make().await;
            basics(p, observer).await
        });
        once(&rt, "concurrency", async {
            let (p, observer) = make().await;
            concurrency(p, observer).await
        });
        check(
            &rt,
            "generated_notifications",
            self.cases,
            alert(),
            |a| async move {
                let (p, _) = make().await;
                generated(p, a).await
            },
        );
    }
}

fn notification(alert: Alert) -> Notification {
    let kind = match alert.status {
        Status::Firing => EventKind::Firing,
        Status::Resolved => EventKind::Resolved,
    };
    Notification::new(alert, kind, Arc::new(Origin::named("conformance")))
}

fn delivered(
    op: &str,
    r: Result<crate::PublishReceipt, PublishError>,
) -> Result<bool, TestCaseError> {
    match r {
        Ok(receipt) => Ok(receipt.is_delivered()),
        Err(e) => Err(TestCaseError::fail(format!(
            "{op}: a healthy target failed: {e}"
        ))),
    }
}

fn check_observed(observer: Option<&Observer>, sent: &[String]) -> Result<(), TestCaseError> {
    let Some(observer) = observer else {
        return Ok(());
    };
    let got: HashSet<String> = observer().into_iter().collect();
    for key in sent {
        ensure(got.contains(key), || {
            format!("notification {key} reported delivered but never arrived")
        })?;
    }
    Ok(())
}

async fn basics(p: impl Publisher, observer: Option<Observer>) -> Result<(), TestCaseError> {
    let name = p.name().to_owned();
    ensure(!name.is_empty(), || "publisher name is empty".into())?;
    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let firing = Alert::firing(
        LabelSet::from_pairs([("alertname", "ConformanceCheck"), ("severity", "warning")]),
        start,
    );
    let resolved = firing
        .clone()
        .resolved_at(start + time::Duration::minutes(4));
    let mut sent = Vec::new();
    for n in [
        notification(firing.clone()),
        notification(firing),
        notification(resolved),
    ] {
        if delivered("publish", p.publish(&n).await)? {
            sent.push(n.dedup_key());
        }
    }
    ensure(p.name() == name, || {
        "publisher name changed between calls".into()
    })?;
    check_observed(observer.as_ref(), &sent)
}

async fn concurrency(p: impl Publisher, observer: Option<Observer>) -> Result<(), TestCaseError> {
    let p = Arc::new(p);
    let start = time::OffsetDateTime::now_utc();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let p = Arc::clone(&p);
        let n = notification(Alert::firing(
            LabelSet::from_pairs([
                ("alertname", "ConformanceConcurrent".to_owned()),
                ("i", i.to_string()),
            ]),
            start,
        ));
        tasks.push(tokio::spawn(async move {
            let r = p.publish(&n).await;
            (n.dedup_key(), r)
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        let (key, r) = t
            .await
            .map_err(|e| TestCaseError::fail(format!("publish panicked: {e}")))?;
        if delivered("concurrent publish", r)? {
            sent.push(key);
        }
    }
    check_observed(observer.as_ref(), &sent)
}

async fn generated(p: impl Publisher, alert: Alert) -> Result<(), TestCaseError> {
    match p.publish(&notification(alert)).await {
        Ok(_) => Ok(()),
        Err(e) => ensure(!e.to_string().is_empty(), || {
            "error with an empty message".into()
        }),
    }
}
