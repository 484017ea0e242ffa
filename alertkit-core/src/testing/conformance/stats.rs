//! The [`HistoryStats`] conformance suite.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;

use super::{ensure, ok, once, runtime};
use crate::traits::{HistoryStats, HistoryStatsReport, StatsQuery};
use crate::{
    Alert, Category, Classification, ClassificationSource, Fingerprint, HistoryQuery, HistoryStore,
    LabelSet, Receipt, Severity, Status, StoreError,
};

/// Runs every [`HistoryStats`] check against fresh stores from `make`.
///
/// A small known history (a flapping alert, a long outage, a classified
/// alert, an alert first seen resolved, alerts just outside the interval,
/// a redelivery) must give exact counts by status, severity (the
/// classification's before the label's) and namespace, event counts, the
/// mean time to resolve, top firing and flapping lists with their
/// tie-breaks and limits; the interval is half-open; empty intervals give
/// zeros; the alert counts match what `list` returns for the same bounds;
/// inverted intervals and bad thresholds are [`StoreError::InvalidQuery`].
pub fn history_stats<F, Fut, H>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: HistoryStore + HistoryStats,
{
    let rt = runtime();
    let make = &make;
    once(&rt, "stats_known_history", async {
        known_history(make().await).await
    });
    once(&rt, "stats_empty_store", async {
        empty_store(make().await).await
    });
}

/// Hour `h` (plus `m` minutes) after the suite's base time.
fn t(h: i64, m: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
        + time::Duration::seconds(1_800_000_000)
        + time::Duration::hours(h)
        + time::Duration::minutes(m)
}

fn labels(name: &str, namespace: Option<&str>, severity: Option<&str>) -> LabelSet {
    let mut pairs = vec![("alertname", name)];
    pairs.extend(namespace.map(|n| ("namespace", n)));
    pairs.extend(severity.map(|s| ("severity", s)));
    LabelSet::from_pairs(pairs)
}

fn interval(from: OffsetDateTime, to: OffsetDateTime) -> StatsQuery {
    StatsQuery::new(from, to)
}

struct Fixture {
    flappy: Fingerprint,
    steady: Fingerprint,
    classified: Fingerprint,
    brief: Fingerprint,
}

/// Records the known history; the main interval is `[t(0), t(10))`.
async fn fill(store: &impl HistoryStore) -> Result<Fixture, TestCaseError> {
    let flappy = labels("Flappy", Some("payments"), Some("critical"));
    let steady = labels("Steady", Some("payments"), Some("warning"));
    let classified = labels("Other", Some("billing"), Some("info"));
    let old = labels("Old", Some("billing"), Some("critical"));
    let later = labels("Later", None, None);
    let brief = labels("Brief", Some("payments"), Some("none"));
    let firing = |l: &LabelSet, starts: OffsetDateTime| Alert::firing(l.clone(), starts);
    let resolved = |l: &LabelSet, starts, ends| Alert::firing(l.clone(), starts).resolved_at(ends);
    let steps = [
        (firing(&old, t(-5, 0)), t(-5, 0)),
        (resolved(&old, t(-5, 0), t(-4, 30)), t(-4, 0)),
        // Flappy: fires, resolves after 30 min, re-fires, resolves, re-fires.
        (firing(&flappy, t(0, 0)), t(0, 0)),
        (resolved(&flappy, t(0, 0), t(0, 30)), t(1, 0)),
        (firing(&steady, t(1, 0)), t(1, 0)),
        (firing(&flappy, t(2, 0)), t(2, 0)),
        (firing(&classified, t(2, 0)), t(2, 0)),
        // A redelivery of a resolved alert changes nothing.
        (resolved(&old, t(-5, 0), t(-4, 30)), t(3, 0)),
        (resolved(&flappy, t(2, 0), t(2, 30)), t(3, 0)),
        (firing(&flappy, t(4, 0)), t(4, 0)),
        // Steady was down for three hours.
        (resolved(&steady, t(1, 0), t(4, 0)), t(5, 0)),
        // First seen already resolved, after 5 minutes.
        (resolved(&brief, t(5, 50), t(5, 55)), t(6, 0)),
        // Exactly at the end of the interval: outside.
        (firing(&later, t(10, 0)), t(10, 0)),
    ];
    for (i, (alert, received)) in steps.iter().enumerate() {
        ok(
            &format!("record step {i}"),
            store
                .record(&[Receipt::new(alert.clone(), *received)])
                .await,
        )?;
    }
    let verdict = Arc::new(Classification::new(
        Severity::Critical,
        Category::Availability,
        0.9,
        ClassificationSource::Rules,
    ));
    let key = firing(&classified, t(2, 0)).state_key();
    let attached = ok(
        "attach_classifications",
        store
            .attach_classifications(&[(key, verdict)], t(2, 1))
            .await,
    )?;
    ensure(attached == [true], || {
        format!("attach_classifications returned {attached:?}")
    })?;
    Ok(Fixture {
        flappy: flappy.fingerprint(),
        steady: steady.fingerprint(),
        classified: classified.fingerprint(),
        brief: brief.fingerprint(),
    })
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: T,
    want: T,
) -> Result<(), TestCaseError> {
    ensure(got == want, || {
        format!("{what}: got {got:?}, want {want:?}")
    })
}

async fn known_history<H: HistoryStore + HistoryStats>(store: H) -> Result<(), TestCaseError> {
    let fx = fill(&store).await?;
    let q = interval(t(0, 0), t(10, 0));
    let r = ok("stats", store.stats(&q).await)?;
    check_eq("unique_fingerprints", r.unique_fingerprints, 4)?;
    check_eq(
        "by_status",
        r.by_status.clone(),
        vec![(Status::Firing, 2), (Status::Resolved, 2)],
    )?;
    check_eq(
        "by_severity (the classification wins over the label)",
        r.by_severity.clone(),
        vec![
            (Severity::Critical, 2),
            (Severity::Warning, 1),
            (Severity::Info, 0),
            (Severity::Noise, 1),
            (Severity::Unknown, 0),
        ],
    )?;
    check_eq(
        "by_namespace",
        r.by_namespace.clone(),
        vec![("payments".to_owned(), 3), ("billing".to_owned(), 1)],
    )?;
    check_eq("namespaces", r.namespaces, 2)?;
    check_eq("firings", r.firings, 5)?;
    check_eq("resolved_count", r.resolved_count, 4)?;
    // (30 + 30 + 180 + 5) minutes / 4.
    check_eq(
        "mean_time_to_resolve",
        r.mean_time_to_resolve,
        Some(Duration::from_secs(3675)),
    )?;
    agrees_with_list(&store, &q, &r).await?;

    let top_namespace = ok("stats", store.stats(&q.with_limit(1)).await)?;
    check_eq(
        "by_namespace with limit 1",
        top_namespace.by_namespace,
        vec![("payments".to_owned(), 3)],
    )?;

    let top = ok("top_firing", store.top_firing(&q).await)?;
    let mut ties = [fx.steady, fx.classified];
    ties.sort();
    let rows: Vec<(Fingerprint, u64)> = top.iter().map(|a| (a.fingerprint, a.fire_count)).collect();
    check_eq(
        "top_firing",
        rows,
        vec![(fx.flappy, 3), (ties[0], 1), (ties[1], 1)],
    )?;
    check_eq(
        "top_firing[0].alertname",
        top[0].alertname.as_str(),
        "Flappy",
    )?;
    check_eq(
        "top_firing[0].namespace",
        top[0].namespace.as_str(),
        "payments",
    )?;
    check_eq("top_firing[0].last_fired", top[0].last_fired, t(4, 0))?;
    let top2 = ok("top_firing", store.top_firing(&q.with_limit(2)).await)?;
    check_eq("top_firing with limit 2", top2.len(), 2)?;

    // 10 hours: 0.5/h needs 5 transitions, which only Flappy has.
    let flapping = ok("flapping", store.flapping(&q, 0.5).await)?;
    check_eq("flapping at 0.5/h", flapping.len(), 1)?;
    check_eq(
        "flapping[0].fingerprint",
        flapping[0].fingerprint,
        fx.flappy,
    )?;
    check_eq("flapping[0].transitions", flapping[0].transitions, 5)?;
    check_eq(
        "flapping[0].alertname",
        flapping[0].alertname.as_str(),
        "Flappy",
    )?;
    ensure((flapping[0].per_hour - 0.5).abs() < 1e-9, || {
        format!("flapping[0].per_hour {}, want 0.5", flapping[0].per_hour)
    })?;
    check_eq(
        "flapping at 0.51/h",
        ok("flapping", store.flapping(&q, 0.51).await)?.len(),
        0,
    )?;
    let mut ties = [fx.classified, fx.brief];
    ties.sort();
    let all: Vec<(Fingerprint, u64)> = ok("flapping", store.flapping(&q, 0.0).await)?
        .iter()
        .map(|a| (a.fingerprint, a.transitions))
        .collect();
    check_eq(
        "flapping at 0/h (every alert with a transition)",
        all,
        vec![(fx.flappy, 5), (fx.steady, 2), (ties[0], 1), (ties[1], 1)],
    )?;

    // A sub-interval: [1h, 3h) holds Flappy's first resolve and re-fire,
    // Steady's and Other's firing; only Other last changed in it.
    let sub = interval(t(1, 0), t(3, 0));
    let r = ok("stats", store.stats(&sub).await)?;
    check_eq("sub-interval unique_fingerprints", r.unique_fingerprints, 1)?;
    check_eq("sub-interval firings", r.firings, 2 + 1)?;
    check_eq("sub-interval resolved_count", r.resolved_count, 1)?;
    check_eq(
        "sub-interval mean_time_to_resolve",
        r.mean_time_to_resolve,
        Some(Duration::from_secs(1800)),
    )?;
    agrees_with_list(&store, &sub, &r).await?;
    let mut all3 = [fx.flappy, fx.steady, fx.classified];
    all3.sort();
    let top: Vec<Fingerprint> = ok("top_firing", store.top_firing(&sub).await)?
        .iter()
        .map(|a| a.fingerprint)
        .collect();
    check_eq("sub-interval top_firing (all tied)", top, all3.to_vec())?;

    // Bounds beyond what any store can hold still bound everything.
    let year = |y| {
        time::Date::from_calendar_date(y, time::Month::January, 1)
            .map(|d| d.midnight().assume_utc())
            .map_err(|e| TestCaseError::fail(format!("bad date: {e}")))
    };
    let wide = ok(
        "stats",
        store.stats(&interval(year(1000)?, year(3000)?)).await,
    )?;
    check_eq(
        "unique_fingerprints of all time",
        wide.unique_fingerprints,
        6,
    )?;
    check_eq("firings of all time", wide.firings, 7)?;

    // Nothing happened in [20h, 30h).
    let empty = interval(t(20, 0), t(30, 0));
    expect_empty(&store, &empty).await?;

    // Inverted and empty intervals, bad thresholds.
    for bad in [interval(t(10, 0), t(0, 0)), interval(t(0, 0), t(0, 0))] {
        invalid("stats", store.stats(&bad).await)?;
        invalid("top_firing", store.top_firing(&bad).await)?;
        invalid("flapping", store.flapping(&bad, 1.0).await)?;
    }
    invalid("flapping(NaN)", store.flapping(&q, f64::NAN).await)?;
    invalid("flapping(-1)", store.flapping(&q, -1.0).await)?;
    Ok(())
}

async fn empty_store<H: HistoryStore + HistoryStats>(store: H) -> Result<(), TestCaseError> {
    expect_empty(&store, &interval(t(0, 0), t(24, 0))).await
}

async fn expect_empty<H: HistoryStats>(store: &H, q: &StatsQuery) -> Result<(), TestCaseError> {
    let r = ok("stats", store.stats(q).await)?;
    let want = HistoryStatsReport {
        by_status: vec![(Status::Firing, 0), (Status::Resolved, 0)],
        by_severity: Severity::ALL.into_iter().map(|s| (s, 0)).collect(),
        ..HistoryStatsReport::default()
    };
    check_eq("stats of an empty interval", r, want)?;
    check_eq(
        "top_firing of an empty interval",
        ok("top_firing", store.top_firing(q).await)?.len(),
        0,
    )?;
    check_eq(
        "flapping of an empty interval",
        ok("flapping", store.flapping(q, 0.0).await)?.len(),
        0,
    )
}

/// The alert counts are those of the records `list` returns for the bounds.
async fn agrees_with_list<H: HistoryStore>(
    store: &H,
    q: &StatsQuery,
    r: &HistoryStatsReport,
) -> Result<(), TestCaseError> {
    let query = HistoryQuery {
        since: Some(q.since),
        until: Some(q.until),
        limit: 1000,
        ..HistoryQuery::default()
    };
    let records = ok("list", store.list(&query).await)?.records;
    check_eq(
        "unique_fingerprints vs list",
        r.unique_fingerprints,
        records.len() as u64,
    )?;
    for (status, n) in &r.by_status {
        let listed = records.iter().filter(|x| x.status == *status).count() as u64;
        check_eq(&format!("by_status[{status:?}] vs list"), *n, listed)?;
    }
    for (severity, n) in &r.by_severity {
        let listed = records.iter().filter(|x| x.severity() == *severity).count() as u64;
        check_eq(&format!("by_severity[{severity:?}] vs list"), *n, listed)?;
    }
    let mut namespaces: HashMap<&str, u64> = HashMap::new();
    for x in &records {
        *namespaces
            .entry(x.labels.get("namespace").unwrap_or_default())
            .or_default() += 1;
    }
    for (ns, n) in &r.by_namespace {
        check_eq(
            &format!("by_namespace[{ns:?}] vs list"),
            *n,
            namespaces.get(ns.as_str()).copied().unwrap_or(0),
        )?;
    }
    // Only namespaces with alerts in the interval count.
    check_eq("namespaces vs list", r.namespaces, namespaces.len() as u64)?;
    Ok(())
}

fn invalid<T: std::fmt::Debug>(op: &str, r: Result<T, StoreError>) -> Result<(), TestCaseError> {
    ensure(matches!(r, Err(StoreError::InvalidQuery(_))), || {
        format!("{op}: got {r:?}, want StoreError::InvalidQuery")
    })
}
