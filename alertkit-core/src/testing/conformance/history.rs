//! The [`HistoryStore`] conformance suite.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;

use super::{check, ensure, ok, once, runtime};
use crate::testing::strategies::{alert, alert_stream, label_value};
use crate::{
    Alert, Annotations, Category, Classification, ClassificationSource, EventKind, HistoryQuery,
    HistoryStore, LabelSet, Matchers, Receipt, Severity, Status, StoreError,
};

fn receipt(alert: &Alert, secs: i64) -> Receipt {
    Receipt::new(
        alert.clone(),
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000 + secs),
    )
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_700_000_000 + secs)
}

/// Runs every [`HistoryStore`] check against fresh stores from `make`.
///
/// Checks: new alerts, the firing → resolved → re-fired lifecycle, annotation
/// changes, idempotent replays of generated streams (including HA
/// duplicates), out-of-order receipts never regressing state,
/// classifications attached to the right instance (also when recorded with
/// the change by `record_classified`), filters and keyset
/// pagination (no row missed or repeated), concurrent writers, and hostile
/// label values stored exactly or rejected with [`StoreError::Invalid`].
pub fn history_store<F, Fut, H>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = H>,
    H: HistoryStore,
{
    let rt = runtime();
    let make = &make;
    once(&rt, "lifecycle", async { lifecycle(make().await).await });
    once(&rt, "out_of_order", async {
        out_of_order(make().await).await
    });
    once(&rt, "classification", async {
        classification(make().await).await
    });
    once(&rt, "recorded_with_verdicts", async {
        recorded_with_verdicts(make().await).await
    });
    once(&rt, "concurrent_writers", async {
        concurrent_writers(make().await).await
    });
    check(
        &rt,
        "idempotent_replay",
        24,
        (alert_stream(false, 2), 1usize..8),
        |(stream, chunk)| async move { idempotent_replay(make().await, stream, chunk).await },
    );
    check(
        &rt,
        "list_and_pages",
        24,
        (vec(alert(), 1..40), 1usize..7),
        |(alerts, page)| async move { list_and_pages(make().await, alerts, page).await },
    );
    check(
        &rt,
        "hostile_values",
        16,
        (label_value(), label_value()),
        |(v1, v2)| async move { hostile_values(make().await, v1, v2).await },
    );
}

async fn lifecycle(store: impl HistoryStore) -> Result<(), TestCaseError> {
    let labels = LabelSet::from_pairs([("alertname", "Lifecycle"), ("job", "api")]);
    let fp = labels.fingerprint();
    let firing = Alert::firing(labels.clone(), at(0))
        .with_annotations(Annotations::from_pairs([("summary", "one")]));
    let changed = firing
        .clone()
        .with_annotations(Annotations::from_pairs([("summary", "two")]));
    let resolved = changed.clone().resolved_at(at(60));
    let refired = Alert::firing(labels, at(120));
    let steps = [
        (&firing, Some(EventKind::Firing)),
        (&firing, None),
        (&changed, Some(EventKind::AnnotationsChanged)),
        (&resolved, Some(EventKind::Resolved)),
        (&resolved, None),
        (&refired, Some(EventKind::Refired)),
    ];
    for (i, (alert, want)) in steps.iter().enumerate() {
        let out = ok("record", store.record(&[receipt(alert, i as i64)]).await)?;
        ensure(out.changes == [*want], || {
            format!(
                "step {i}: record reported {:?}, want [{want:?}]",
                out.changes
            )
        })?;
    }
    let rec = ok("get", store.get(fp).await)?
        .ok_or_else(|| TestCaseError::fail("get returned nothing for a recorded alert"))?;
    ensure(rec.status == Status::Firing, || {
        format!("status {:?}, want firing", rec.status)
    })?;
    ensure(rec.starts_at == at(120), || {
        "starts_at not the re-fired instance's".into()
    })?;
    ensure(rec.fire_count == 2, || {
        format!("fire_count {}, want 2", rec.fire_count)
    })?;
    ensure(rec.transitions == 2, || {
        format!("transitions {}, want 2", rec.transitions)
    })?;
    ensure(rec.first_seen == receipt(&firing, 0).received_at, || {
        "first_seen changed".into()
    })?;
    ensure(rec.last_seen == receipt(&firing, 5).received_at, || {
        "last_seen not the last receipt".into()
    })?;
    let kinds: Vec<EventKind> = ok("timeline", store.timeline(fp).await)?
        .iter()
        .map(|e| e.kind)
        .collect();
    let want = [
        EventKind::Firing,
        EventKind::AnnotationsChanged,
        EventKind::Resolved,
        EventKind::Refired,
    ];
    ensure(kinds == want, || {
        format!("timeline {kinds:?}, want {want:?}")
    })?;
    ensure(
        ok("get", store.get(crate::Fingerprint::from_u64(1)).await)?.is_none(),
        || "get of an unknown fingerprint returned a record".into(),
    )
}

async fn out_of_order(store: impl HistoryStore) -> Result<(), TestCaseError> {
    let labels = LabelSet::from_pairs([("alertname", "OutOfOrder")]);
    let fp = labels.fingerprint();
    let firing = Alert::firing(labels.clone(), at(0));
    let resolved = firing.clone().resolved_at(at(30));
    let later = Alert::firing(labels, at(100));
    let steps = [
        (&resolved, Some(EventKind::Resolved)),
        (&firing, None),
        (&later, Some(EventKind::Refired)),
        (&resolved, None),
        (&firing, None),
    ];
    for (i, (alert, want)) in steps.iter().enumerate() {
        let out = ok("record", store.record(&[receipt(alert, i as i64)]).await)?;
        ensure(out.changes == [*want], || {
            format!(
                "step {i}: a stale receipt changed history: {:?}, want [{want:?}]",
                out.changes
            )
        })?;
    }
    let rec =
        ok("get", store.get(fp).await)?.ok_or_else(|| TestCaseError::fail("missing record"))?;
    ensure(
        rec.status == Status::Firing && rec.starts_at == at(100),
        || format!("state regressed to {:?} at {}", rec.status, rec.starts_at),
    )
}

async fn classification(store: impl HistoryStore) -> Result<(), TestCaseError> {
    let labels = LabelSet::from_pairs([("alertname", "Classified")]);
    let first = Alert::firing(labels.clone(), at(0));
    let second = Alert::firing(labels, at(100));
    ok("record", store.record(&[receipt(&first, 0)]).await)?;
    let verdict = Arc::new(
        Classification::new(
            Severity::Critical,
            Category::Availability,
            0.75,
            ClassificationSource::Rules,
        )
        .with_summary("down")
        .with_recommendations(["look", "fix"]),
    );
    let attached = ok(
        "attach_classifications",
        store
            .attach_classifications(&[(first.state_key(), Arc::clone(&verdict))], at(1))
            .await,
    )?;
    ensure(attached == [true], || {
        format!("attach to the current instance returned {attached:?}")
    })?;
    let rec = ok("get", store.get(first.fingerprint()).await)?
        .ok_or_else(|| TestCaseError::fail("missing record"))?;
    ensure(rec.classification.as_deref() == Some(&*verdict), || {
        format!(
            "stored classification {:?} differs from {verdict:?}",
            rec.classification
        )
    })?;
    ensure(rec.severity() == Severity::Critical, || {
        "severity() ignores the classification".into()
    })?;
    ok("record", store.record(&[receipt(&second, 1)]).await)?;
    let stale = ok(
        "attach_classifications",
        store
            .attach_classifications(&[(first.state_key(), Arc::clone(&verdict))], at(2))
            .await,
    )?;
    ensure(stale == [false], || {
        "a classification attached to an instance that is no longer current".into()
    })?;
    let events = ok("timeline", store.timeline(first.fingerprint()).await)?;
    let classified: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Classified)
        .collect();
    ensure(classified.len() == 1, || {
        format!("{} classified events, want 1", classified.len())
    })?;
    ensure(
        classified[0].classification.as_deref() == Some(&*verdict),
        || "classified event lost its classification".into(),
    )
}

/// `record_classified`: verdicts go with notifiable changes only, in the
/// same order as a record followed by an attach.
async fn recorded_with_verdicts(store: impl HistoryStore) -> Result<(), TestCaseError> {
    let labels = LabelSet::from_pairs([("alertname", "Inline"), ("instance", "a")]);
    let firing = Alert::firing(labels.clone(), at(0));
    let verdict = |s: Severity| {
        Some(Arc::new(
            Classification::new(s, Category::Availability, 0.9, ClassificationSource::Rules)
                .with_summary("inline"),
        ))
    };
    let mut changed = firing.clone();
    changed.annotations = Annotations::from_pairs([("summary", "other")]);
    let resolved = firing.clone().resolved_at(at(50));
    let out = ok(
        "record_classified",
        store
            .record_classified(
                &[
                    receipt(&firing, 0),
                    receipt(&firing, 1),
                    receipt(&changed, 2),
                ],
                &[
                    verdict(Severity::Warning),
                    verdict(Severity::Info),
                    verdict(Severity::Info),
                ],
            )
            .await,
    )?;
    ensure(
        out.changes
            == [
                Some(EventKind::Firing),
                None,
                Some(EventKind::AnnotationsChanged),
            ],
        || format!("changes {:?}", out.changes),
    )?;
    let rec = ok("get", store.get(firing.fingerprint()).await)?
        .ok_or_else(|| TestCaseError::fail("missing record"))?;
    ensure(rec.severity() == Severity::Warning, || {
        format!(
            "the firing's verdict (warning) is current, got {:?}: a redelivery or an annotation change attached one",
            rec.classification
        )
    })?;
    ok(
        "record_classified",
        store
            .record_classified(&[receipt(&resolved, 3)], &[verdict(Severity::Critical)])
            .await,
    )?;
    let kinds: Vec<EventKind> = ok("timeline", store.timeline(firing.fingerprint()).await)?
        .iter()
        .map(|e| e.kind)
        .collect();
    // One write puts each verdict right after its change; the default (a
    // record, then an attach) after the batch's changes. Either way: one
    // classified event per notifiable change, after it.
    let changes: Vec<EventKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != EventKind::Classified)
        .collect();
    let first_classified = kinds.iter().position(|k| *k == EventKind::Classified);
    ensure(
        changes
            == [
                EventKind::Firing,
                EventKind::AnnotationsChanged,
                EventKind::Resolved,
            ]
            && kinds.len() == 5
            && first_classified > Some(0)
            && kinds.last() == Some(&EventKind::Classified),
        || format!("timeline {kinds:?}"),
    )?;
    let rec = ok("get", store.get(firing.fingerprint()).await)?
        .ok_or_else(|| TestCaseError::fail("missing record"))?;
    ensure(rec.severity() == Severity::Critical, || {
        "the resolve's verdict is not current".into()
    })
}

async fn concurrent_writers(store: impl HistoryStore) -> Result<(), TestCaseError> {
    let store = Arc::new(store);
    let alerts: Vec<Alert> = (0..200)
        .map(|i| {
            Alert::firing(
                LabelSet::from_pairs([
                    ("alertname", "Concurrent".to_owned()),
                    ("i", i.to_string()),
                ]),
                at(i),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for w in 0..8usize {
        let store = Arc::clone(&store);
        let mut mine: Vec<Receipt> = alerts.iter().map(|a| receipt(a, 0)).collect();
        mine.rotate_left(w * 25);
        tasks.push(tokio::spawn(async move {
            let mut changes = 0usize;
            for chunk in mine.chunks(1 + w * 7) {
                let out = store.record(chunk).await?;
                changes += out.changes.iter().flatten().count();
            }
            Ok::<usize, StoreError>(changes)
        }));
    }
    let mut total = 0;
    for t in tasks {
        let r = t
            .await
            .map_err(|e| TestCaseError::fail(format!("writer panicked: {e}")))?;
        total += ok("record", r)?;
    }
    ensure(total == alerts.len(), || {
        format!(
            "{total} changes reported by 8 concurrent writers of the same {} receipts",
            alerts.len()
        )
    })?;
    for a in &alerts {
        let events = ok("timeline", store.timeline(a.fingerprint()).await)?;
        ensure(
            events.len() == 1 && events[0].kind == EventKind::Firing,
            || {
                format!(
                    "{} has timeline {:?} after concurrent writes",
                    a.labels,
                    events.iter().map(|e| e.kind).collect::<Vec<_>>()
                )
            },
        )?;
    }
    Ok(())
}

async fn idempotent_replay(
    store: impl HistoryStore,
    stream: Vec<Alert>,
    chunk: usize,
) -> Result<(), TestCaseError> {
    let receipts: Vec<Receipt> = stream
        .iter()
        .enumerate()
        .map(|(i, a)| receipt(a, i as i64))
        .collect();
    for part in receipts.chunks(chunk) {
        ok("record", store.record(part).await)?;
    }
    let fps: Vec<_> = stream
        .iter()
        .map(Alert::fingerprint)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut before = BTreeMap::new();
    for fp in &fps {
        let rec = ok("get", store.get(*fp).await)?
            .ok_or_else(|| TestCaseError::fail("missing record"))?;
        let timeline = ok("timeline", store.timeline(*fp).await)?;
        before.insert(*fp, (rec, timeline));
    }
    let replay = ok("record", store.record(&receipts).await)?;
    ensure(replay.changes.iter().all(Option::is_none), || {
        format!(
            "replaying the same receipts changed history: {:?}",
            replay.changes
        )
    })?;
    for fp in &fps {
        let rec = ok("get", store.get(*fp).await)?
            .ok_or_else(|| TestCaseError::fail("missing record"))?;
        let timeline = ok("timeline", store.timeline(*fp).await)?;
        let (old_rec, old_timeline) = &before[fp];
        let mut rec_cmp = rec.clone();
        rec_cmp.last_seen = old_rec.last_seen;
        ensure(&rec_cmp == old_rec, || {
            format!("replay changed the record of {fp}")
        })?;
        ensure(&timeline == old_timeline, || {
            format!("replay changed the timeline of {fp}")
        })?;
    }
    Ok(())
}

async fn list_and_pages(
    store: impl HistoryStore,
    alerts: Vec<Alert>,
    page: usize,
) -> Result<(), TestCaseError> {
    let receipts: Vec<Receipt> = alerts
        .iter()
        .enumerate()
        .map(|(i, a)| receipt(a, i as i64 % 5))
        .collect();
    ok("record", store.record(&receipts).await)?;
    let mut all = Vec::new();
    for fp in alerts
        .iter()
        .map(Alert::fingerprint)
        .collect::<HashSet<_>>()
    {
        all.push(
            ok("get", store.get(fp).await)?.ok_or_else(|| TestCaseError::fail("missing record"))?,
        );
    }
    let queries = [
        HistoryQuery::default(),
        HistoryQuery {
            status: Some(Status::Firing),
            ..Default::default()
        },
        HistoryQuery {
            oldest_first: true,
            ..Default::default()
        },
        HistoryQuery {
            matchers: Matchers::parse(r#"alertname=~"[A-M].*""#)
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            ..Default::default()
        },
    ];
    for mut query in queries {
        query.limit = page;
        let want: HashSet<_> = all
            .iter()
            .filter(|r| query.matches(r))
            .map(|r| r.fingerprint)
            .collect();
        let mut seen = Vec::new();
        let mut keys = Vec::new();
        loop {
            let p = ok("list", store.list(&query).await)?;
            ensure(p.records.len() <= page, || {
                format!("page of {} rows, limit {page}", p.records.len())
            })?;
            for r in &p.records {
                seen.push(r.fingerprint);
                keys.push((r.last_changed, r.fingerprint));
            }
            match p.next {
                Some(c) if seen.len() <= all.len() => query.after = Some(c),
                _ => break,
            }
        }
        let unique: HashSet<_> = seen.iter().copied().collect();
        ensure(unique.len() == seen.len(), || {
            format!(
                "pages repeated rows ({} rows, {} unique)",
                seen.len(),
                unique.len()
            )
        })?;
        ensure(unique == want, || {
            format!(
                "pages returned {} alerts, filters match {}",
                unique.len(),
                want.len()
            )
        })?;
        let mut sorted = keys.clone();
        sorted.sort();
        if !query.oldest_first {
            sorted.reverse();
        }
        ensure(keys == sorted, || {
            "pages are not in (last_changed, fingerprint) order".into()
        })?;
    }
    Ok(())
}

async fn hostile_values(
    store: impl HistoryStore,
    v1: String,
    v2: String,
) -> Result<(), TestCaseError> {
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "Hostile"), ("value", v1.as_str())]),
        at(0),
    )
    .with_annotations(Annotations::from_pairs([("summary", v2.as_str())]));
    match store.record(&[receipt(&alert, 0)]).await {
        Ok(_) => {
            let rec = ok("get", store.get(alert.fingerprint()).await)?
                .ok_or_else(|| TestCaseError::fail("accepted hostile alert not found"))?;
            ensure(rec.labels == alert.labels, || {
                "labels not read back exactly".into()
            })?;
            ensure(rec.annotations == alert.annotations, || {
                "annotations not read back exactly".into()
            })
        }
        Err(StoreError::Invalid(_)) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!(
            "hostile value neither stored nor rejected as invalid: {e}"
        ))),
    }
}
