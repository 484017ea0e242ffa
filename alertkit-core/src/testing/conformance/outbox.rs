//! The [`Outbox`] contract: enqueue with the history write, hold until the
//! hand-off, leases fenced by attempt, expiry and reclaim, disjoint
//! concurrent claims, per-alert order, retries, dead letters and the
//! delivery log.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::runtime;
use crate::traits::{
    AttemptOutcome, DeadLetterQuery, Delivery, EventKind, Handoff, HistoryStore, Notification,
    Origin, Outbox, Receipt, Settlement,
};
use crate::{Alert, Category, Classification, ClassificationSource, LabelSet, Severity};

/// What the suite asks a factory for: a fresh store whose outbox enqueues
/// for `targets` and holds new rows for `hold`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboxSetup {
    /// Targets to enqueue for.
    pub targets: Vec<Arc<str>>,
    /// How long new rows wait for their hand-off.
    pub hold: Duration,
}

/// Runs the outbox suite. `make` returns a **fresh, isolated** store set up
/// as asked (for the SQL stores: `set_outbox(OutboxOptions::new(targets, hold))`).
///
/// Two checks wait for real time (a 300 ms lease to expire), so the suite
/// takes about a second.
pub fn outbox<F, Fut, S>(make: F)
where
    F: Fn(OutboxSetup) -> Fut,
    Fut: Future<Output = S>,
    S: HistoryStore + Outbox + Handoff,
{
    let rt = runtime();
    let make = &make;
    let setup = |targets: &[&str], hold: Duration| OutboxSetup {
        targets: targets.iter().map(|t| Arc::from(*t)).collect(),
        hold,
    };
    step(&rt, "enqueue, claim, settle", async {
        claim_and_settle(make(setup(&["a", "b"], Duration::ZERO)).await).await;
    });
    step(&rt, "no targets, no rows", async {
        let s = make(setup(&[], Duration::ZERO)).await;
        s.record(&[receipt("Quiet", 0, None)])
            .await
            .unwrap_or_else(fail);
        assert!(claim(&s, "w", &["a"], 10).await.is_empty());
    });
    step(&rt, "held until the hand-off", async {
        held_until_handoff(make(setup(&["a"], Duration::from_secs(3600))).await).await;
    });
    step(&rt, "leases expire and are fenced", async {
        lease_expiry(make(setup(&["a"], Duration::ZERO)).await).await;
    });
    step(&rt, "concurrent claimers are disjoint", async {
        disjoint_claims(make(setup(&["a"], Duration::ZERO)).await).await;
    });
    step(&rt, "one alert in order, with its remote ref", async {
        per_alert_order(make(setup(&["a"], Duration::ZERO)).await).await;
    });
    step(&rt, "retries and dead letters", async {
        retries_and_dead_letters(make(setup(&["a"], Duration::ZERO)).await).await;
    });
}

/// Runs one check; a failing assertion panics with its own message.
fn step(rt: &tokio::runtime::Runtime, name: &str, body: impl Future<Output = ()>) {
    eprintln!("outbox conformance: {name}");
    rt.block_on(body);
}

fn fail<T>(e: impl std::fmt::Debug) -> T {
    panic!("outbox: unexpected error: {e:?}")
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000 + secs)
}

fn alert(name: &str, resolved_at: Option<i64>) -> Alert {
    let a = Alert::firing(LabelSet::from_pairs([("alertname", name)]), at(0));
    match resolved_at {
        Some(t) => a.resolved_at(at(t)),
        None => a,
    }
}

fn receipt(name: &str, secs: i64, resolved_at: Option<i64>) -> Receipt {
    let origin = Origin {
        receiver: "team-db".into(),
        group_key: "{}:{alertname=\"x\"}".into(),
        external_url: "http://am:9093".into(),
    };
    Receipt::new(alert(name, resolved_at), at(secs)).with_origin(Arc::new(origin))
}

async fn claim<S: Outbox>(s: &S, worker: &str, targets: &[&str], limit: usize) -> Vec<Delivery> {
    let targets: Vec<Arc<str>> = targets.iter().map(|t| Arc::from(*t)).collect();
    s.claim(worker, &targets, limit, Duration::from_secs(60))
        .await
        .unwrap_or_else(fail)
}

async fn claim_and_settle<S: HistoryStore + Outbox>(s: S) {
    let r = receipt("Disk", 0, None);
    s.record(std::slice::from_ref(&r))
        .await
        .unwrap_or_else(fail);
    // A redelivery changes no history, so it enqueues nothing either.
    s.record(std::slice::from_ref(&r))
        .await
        .unwrap_or_else(fail);
    let got = claim(&s, "w1", &["a"], 10).await;
    assert_eq!(got.len(), 1, "one row per target and change: {got:?}");
    let d = &got[0];
    assert_eq!(&*d.target, "a");
    assert_eq!(d.lease.attempt, 1);
    assert_eq!(d.notification.kind, EventKind::Firing);
    assert_eq!(
        d.notification.alert, r.alert,
        "the alert round-trips exactly"
    );
    assert_eq!(d.notification.origin.receiver, "team-db");
    assert_eq!(d.notification.origin.external_url, "http://am:9093");
    assert!(
        claim(&s, "w2", &["a"], 10).await.is_empty(),
        "a leased row is not handed out twice"
    );
    let ok = s
        .settle(&[Settlement::delivered(d.lease)
            .with_status(Some(200))
            .with_latency(Duration::from_millis(3))])
        .await
        .unwrap_or_else(fail);
    assert_eq!(ok, [true]);
    let again = s
        .settle(&[Settlement::delivered(d.lease)])
        .await
        .unwrap_or_else(fail);
    assert_eq!(again, [false], "a settled lease cannot be settled twice");
    assert!(
        claim(&s, "w1", &["a"], 10).await.is_empty(),
        "done rows stay done"
    );
    let b = claim(&s, "w1", &["b"], 10).await;
    assert_eq!(b.len(), 1, "target b has its own row");
    let log = s
        .deliveries(r.alert.fingerprint())
        .await
        .unwrap_or_else(fail);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].outcome, AttemptOutcome::Delivered);
    assert_eq!(log[0].status_code, Some(200));
    assert_eq!(log[0].target, "a");
    assert_eq!(log[0].attempt, 1);
}

async fn held_until_handoff<S: HistoryStore + Outbox + Handoff>(s: S) {
    let r = receipt("Held", 0, None);
    s.record(std::slice::from_ref(&r))
        .await
        .unwrap_or_else(fail);
    assert!(
        claim(&s, "w", &["a"], 10).await.is_empty(),
        "held rows wait for the hand-off"
    );
    let c = Arc::new(Classification::new(
        Severity::Critical,
        Category::Capacity,
        0.9,
        ClassificationSource::Rules,
    ));
    s.attach_classifications(&[(r.alert.state_key(), Arc::clone(&c))], at(1))
        .await
        .unwrap_or_else(fail);
    let n = Notification::new(
        r.alert.clone(),
        EventKind::Firing,
        Arc::new(Origin::default()),
    );
    s.hand_off(&[n]).await.unwrap_or_else(fail);
    let got = claim(&s, "w", &["a"], 10).await;
    assert_eq!(got.len(), 1, "released by the hand-off");
    assert_eq!(
        got[0]
            .notification
            .classification
            .as_deref()
            .map(|c| c.severity),
        Some(Severity::Critical),
        "claims carry the attached classification"
    );
}

async fn lease_expiry<S: HistoryStore + Outbox>(s: S) {
    s.record(&[receipt("Lease", 0, None)])
        .await
        .unwrap_or_else(fail);
    let targets = [Arc::<str>::from("a")];
    let first = s
        .claim("w1", &targets, 10, Duration::from_millis(300))
        .await
        .unwrap_or_else(fail);
    assert_eq!(first.len(), 1);
    assert!(claim(&s, "w2", &["a"], 10).await.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = claim(&s, "w2", &["a"], 10).await;
    assert_eq!(second.len(), 1, "an expired lease is claimable again");
    assert_eq!(second[0].lease.attempt, 2);
    let late = s
        .settle(&[Settlement::delivered(first[0].lease)])
        .await
        .unwrap_or_else(fail);
    assert_eq!(
        late,
        [false],
        "the crashed worker's late settle is fenced off"
    );
    let ok = s
        .settle(&[Settlement::delivered(second[0].lease)])
        .await
        .unwrap_or_else(fail);
    assert_eq!(ok, [true]);
    // Unlease hands a row back without counting the attempt.
    s.record(&[receipt("Lease", 5, Some(4))])
        .await
        .unwrap_or_else(fail);
    let r = claim(&s, "w1", &["a"], 10).await;
    assert_eq!(r.len(), 1);
    s.unlease(&[r[0].lease]).await.unwrap_or_else(fail);
    let back = claim(&s, "w2", &["a"], 10).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].lease.attempt, r[0].lease.attempt);
}

async fn disjoint_claims<S: HistoryStore + Outbox>(s: S) {
    let receipts: Vec<Receipt> = (0..120)
        .map(|i| receipt(&format!("Many{i}"), 0, None))
        .collect();
    s.record(&receipts).await.unwrap_or_else(fail);
    let s = &s;
    let worker = |name: &'static str| async move {
        let mut ids = Vec::new();
        loop {
            let got = claim(s, name, &["a"], 7).await;
            if got.is_empty() {
                return ids;
            }
            ids.extend(got.iter().map(|d| d.lease.id));
        }
    };
    let (x, y) = tokio::join!(worker("x"), worker("y"));
    let all: HashSet<i64> = x.iter().chain(&y).copied().collect();
    assert_eq!(x.len() + y.len(), 120, "every row claimed once");
    assert_eq!(all.len(), 120, "no row claimed by both workers");
}

async fn per_alert_order<S: HistoryStore + Outbox>(s: S) {
    s.record(&[receipt("Order", 0, None)])
        .await
        .unwrap_or_else(fail);
    s.record(&[receipt("Order", 10, Some(9))])
        .await
        .unwrap_or_else(fail);
    let first = claim(&s, "w", &["a"], 10).await;
    assert_eq!(
        first.len(),
        1,
        "the resolve waits for the firing: {first:?}"
    );
    assert_eq!(first[0].notification.kind, EventKind::Firing);
    assert_eq!(first[0].notification.remote_ref, None);
    s.settle(&[Settlement::delivered(first[0].lease).with_remote_id(Some("C1:171.5".into()))])
        .await
        .unwrap_or_else(fail);
    let second = claim(&s, "w", &["a"], 10).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].notification.kind, EventKind::Resolved);
    assert_eq!(
        second[0].notification.remote_ref.as_deref(),
        Some("C1:171.5"),
        "the resolve knows what the firing created"
    );
}

async fn retries_and_dead_letters<S: HistoryStore + Outbox>(s: S) {
    let r = receipt("Flaky", 0, None);
    s.record(std::slice::from_ref(&r))
        .await
        .unwrap_or_else(fail);
    let d = claim(&s, "w", &["a"], 10).await;
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    s.settle(&[Settlement::retry(d[0].lease, later, "status 503").with_status(Some(503))])
        .await
        .unwrap_or_else(fail);
    assert!(
        claim(&s, "w", &["a"], 10).await.is_empty(),
        "not due before its retry time"
    );
    let depth = s.depth().await.unwrap_or_else(fail);
    assert_eq!(depth.len(), 1);
    assert_eq!((depth[0].pending, depth[0].in_flight), (1, 0));

    // Make it due now through a fresh row: record a second alert, retry it immediately.
    s.record(&[receipt("Broken", 0, None)])
        .await
        .unwrap_or_else(fail);
    let d = claim(&s, "w", &["a"], 10).await;
    assert_eq!(d.len(), 1);
    let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    s.settle(&[Settlement::retry(d[0].lease, past, "timeout")])
        .await
        .unwrap_or_else(fail);
    let d = claim(&s, "w", &["a"], 10).await;
    assert_eq!(d.len(), 1, "due again after its retry time");
    assert_eq!(d[0].lease.attempt, 2);
    s.settle(&[Settlement::dead(d[0].lease, "status 400: invalid_payload").with_status(Some(400))])
        .await
        .unwrap_or_else(fail);
    let dead = s
        .dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap_or_else(fail);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_status, Some(400));
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("status 400: invalid_payload")
    );
    assert_eq!(
        dead[0].notification.alert.labels.get("alertname"),
        Some("Broken")
    );
    let log = s
        .deliveries(dead[0].notification.alert.fingerprint())
        .await
        .unwrap_or_else(fail);
    let outcomes: Vec<_> = log.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [AttemptOutcome::Retry, AttemptOutcome::Dead]);

    let replayed = s
        .replay_dead_letters(&DeadLetterQuery::default())
        .await
        .unwrap_or_else(fail);
    assert_eq!(replayed, 1);
    assert!(
        s.dead_letters(&DeadLetterQuery::default())
            .await
            .unwrap_or_else(fail)
            .is_empty()
    );
    let d = claim(&s, "w", &["a"], 10).await;
    assert_eq!(d.len(), 1, "a replayed dead letter is due now");
    assert_eq!(d[0].lease.attempt, 1, "with a fresh attempt count");
    s.settle(&[Settlement::dead(d[0].lease, "still broken")])
        .await
        .unwrap_or_else(fail);
    let only_b = DeadLetterQuery {
        target: Some("b".into()),
        ..DeadLetterQuery::default()
    };
    assert_eq!(
        s.purge_dead_letters(&only_b).await.unwrap_or_else(fail),
        0,
        "filters apply to purges"
    );
    assert_eq!(
        s.purge_dead_letters(&DeadLetterQuery::default())
            .await
            .unwrap_or_else(fail),
        1
    );
}
