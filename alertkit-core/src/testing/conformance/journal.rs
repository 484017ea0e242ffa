//! The [`Journal`] conformance suite.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;

use super::{check, ensure, ok, once, runtime};
use crate::testing::strategies::{alert, label_value, timestamp};
use crate::traits::{Journal, JournalEntry};
use crate::{Alert, Annotations, LabelSet, Origin, Receipt, StoreError};

/// Runs every [`Journal`] check against fresh journals from `make`.
///
/// `make` returns a **fresh, isolated** journal each time (for a file-backed
/// journal: a new file). Checks: strictly increasing sequence numbers, even
/// once every entry is consumed; `unconsumed` returning every entry oldest
/// first with its receipts exactly as appended (generated alerts, hostile
/// values, nanosecond times, shared and missing origins); `consume` dropping
/// entries up to and including its sequence number, harmless when repeated
/// or beyond the last entry; empty entries; and concurrent appends.
///
/// As the [`Journal`] contract allows, an append of hostile values may
/// instead fail with [`StoreError::Invalid`], appending nothing. Durability
/// across reopening is left to each backend's own tests.
pub fn journal<F, Fut, J>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = J>,
    J: Journal,
{
    let rt = runtime();
    let make = &make;
    once(&rt, "increasing_seqs", async {
        increasing_seqs(fresh(make().await).await?).await
    });
    once(&rt, "consume", async {
        consume(fresh(make().await).await?).await
    });
    once(&rt, "empty_entry", async {
        empty_entry(fresh(make().await).await?).await
    });
    once(&rt, "concurrent_appends", async {
        concurrent_appends(fresh(make().await).await?).await
    });
    once(&rt, "seqs_after_consuming_everything", async {
        seqs_after_consuming_everything(fresh(make().await).await?).await
    });
    once(&rt, "large_and_nul_values", async {
        large_and_nul_values(fresh(make().await).await?).await
    });
    check(
        &rt,
        "round_trip",
        24,
        vec(entry(), 1..5),
        |entries| async move { round_trip(fresh(make().await).await?, entries).await },
    );
    check(
        &rt,
        "hostile_values",
        16,
        (label_value(), label_value(), label_value(), label_value()),
        |(label, annotation, url, origin)| async move {
            hostile_values(fresh(make().await).await?, label, annotation, url, origin).await
        },
    );
}

// --- helpers -------------------------------------------------------------------

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000 + secs)
}

/// A receipt of a plain alert named `name` at `at(secs)` plus `nanos`.
fn receipt(name: &str, secs: i64, nanos: i64) -> Receipt {
    let t = at(secs) + time::Duration::nanoseconds(nanos);
    Receipt::new(
        Alert::firing(LabelSet::from_pairs([("alertname", name)]), t),
        t,
    )
}

fn origin(receiver: &str, group_key: &str, external_url: &str) -> Arc<Origin> {
    Arc::new(Origin {
        receiver: receiver.to_owned(),
        group_key: group_key.to_owned(),
        external_url: external_url.to_owned(),
    })
}

/// The journal, checked to start empty: a factory must not share state.
async fn fresh<J: Journal>(journal: J) -> Result<J, TestCaseError> {
    let left = ok("unconsumed", journal.unconsumed().await)?;
    ensure(left.is_empty(), || {
        format!(
            "a fresh journal from the factory already holds {} entries (seqs {:?}); \
             the factory must return an isolated journal",
            left.len(),
            left.iter().map(|e| e.seq).collect::<Vec<_>>()
        )
    })?;
    Ok(journal)
}

async fn append(journal: &impl Journal, receipts: &[Receipt]) -> Result<u64, TestCaseError> {
    ok("append", journal.append(receipts).await)
}

/// Appends `receipts`: `Some(seq)`, or `None` when the journal refused them
/// as [`StoreError::Invalid`] (which it may for hostile values).
async fn append_or_refuse(
    journal: &impl Journal,
    receipts: &[Receipt],
) -> Result<Option<u64>, TestCaseError> {
    match journal.append(receipts).await {
        Ok(seq) => Ok(Some(seq)),
        Err(StoreError::Invalid(_)) => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!(
            "append of hostile values neither succeeded nor failed with StoreError::Invalid: {e}"
        ))),
    }
}

async fn unconsumed(journal: &impl Journal) -> Result<Vec<JournalEntry>, TestCaseError> {
    ok("unconsumed", journal.unconsumed().await)
}

/// Prefixes a failure's reason with `what`.
fn within(what: &str) -> impl FnOnce(TestCaseError) -> TestCaseError + '_ {
    move |e| match e {
        TestCaseError::Fail(reason) => TestCaseError::fail(format!("{what}: {reason}")),
        TestCaseError::Reject(reason) => TestCaseError::Reject(reason),
    }
}

fn seqs(entries: &[JournalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

/// Whether `got` is exactly `want`: every alert field, `received_at` to the
/// nanosecond, and the origin (or its absence).
fn same_receipt(what: &str, got: &Receipt, want: &Receipt) -> Result<(), TestCaseError> {
    let (g, w) = (&got.alert, &want.alert);
    let differs = |field: &str, g: &dyn std::fmt::Debug, w: &dyn std::fmt::Debug| {
        let show = |v: &dyn std::fmt::Debug| {
            let s = format!("{v:?}");
            if s.len() > 300 {
                format!(
                    "{}… ({} chars)",
                    s.chars().take(300).collect::<String>(),
                    s.len()
                )
            } else {
                s
            }
        };
        Err(TestCaseError::fail(format!(
            "{what}: {field} not read back exactly: got {}, appended {}",
            show(g),
            show(w)
        )))
    };
    if g.labels != w.labels {
        return differs("labels", &g.labels, &w.labels);
    }
    if g.annotations != w.annotations {
        return differs("annotations", &g.annotations, &w.annotations);
    }
    if g.status != w.status {
        return differs("status", &g.status, &w.status);
    }
    if g.starts_at != w.starts_at {
        return differs("startsAt", &g.starts_at, &w.starts_at);
    }
    if g.ends_at != w.ends_at {
        return differs("endsAt", &g.ends_at, &w.ends_at);
    }
    if g.generator_url != w.generator_url {
        return differs("generatorURL", &g.generator_url, &w.generator_url);
    }
    if got.received_at != want.received_at {
        return differs("received_at", &got.received_at, &want.received_at);
    }
    match (&got.origin, &want.origin) {
        (None, None) => Ok(()),
        (Some(g), Some(w)) if g == w => Ok(()),
        (g, w) => differs("origin", g, w),
    }
}

/// Whether `got` holds exactly `want`'s entries, oldest first.
fn same_entries(got: &[JournalEntry], want: &[(u64, Vec<Receipt>)]) -> Result<(), TestCaseError> {
    let want_seqs: Vec<u64> = want.iter().map(|(seq, _)| *seq).collect();
    ensure(seqs(got) == want_seqs, || {
        format!(
            "unconsumed returned entries {:?}, want {want_seqs:?} (every unconsumed entry, oldest first)",
            seqs(got)
        )
    })?;
    for (entry, (seq, receipts)) in got.iter().zip(want) {
        ensure(entry.receipts.len() == receipts.len(), || {
            format!(
                "entry {seq}: {} receipts read back, {} appended",
                entry.receipts.len(),
                receipts.len()
            )
        })?;
        for (i, (g, w)) in entry.receipts.iter().zip(receipts).enumerate() {
            same_receipt(&format!("entry {seq}, receipt {i}"), g, w)?;
        }
    }
    Ok(())
}

/// One generated entry: receipts of generated alerts at nanosecond times,
/// each with one of a few origins (shared by `Arc`) or none.
fn entry() -> impl Strategy<Value = Vec<Receipt>> {
    let origins = vec(
        ("[a-z-]{1,12}", "\\PC{0,40}", label_value())
            .prop_map(|(r, g, u)| origin(&r, &format!("{{}}:{{alertname={g:?}}}"), &u)),
        1..3,
    );
    (origins, vec((alert(), timestamp(), 0usize..4), 0..6)).prop_map(|(origins, receipts)| {
        receipts
            .into_iter()
            .map(|(alert, received_at, o)| {
                let r = Receipt::new(alert, received_at);
                match origins.get(o) {
                    Some(o) => r.with_origin(Arc::clone(o)),
                    None => r,
                }
            })
            .collect()
    })
}

// --- checks --------------------------------------------------------------------

async fn increasing_seqs(journal: impl Journal) -> Result<(), TestCaseError> {
    let mut want = Vec::new();
    for i in 0..10i64 {
        let receipts: Vec<Receipt> = (0..i % 3 + 1)
            .map(|j| receipt(&format!("Seq{i}x{j}"), i, j))
            .collect();
        let seq = append(&journal, &receipts).await?;
        if let Some((last, _)) = want.last() {
            ensure(seq > *last, || {
                format!("append {i} returned seq {seq}, not greater than the previous {last}")
            })?;
        }
        want.push((seq, receipts));
    }
    same_entries(&unconsumed(&journal).await?, &want)
}

async fn consume(journal: impl Journal) -> Result<(), TestCaseError> {
    ok("consume on an empty journal", journal.consume(0).await)?;
    ok(
        "consume on an empty journal",
        journal.consume(u64::MAX).await,
    )?;
    let mut want = Vec::new();
    for i in 0..5i64 {
        let receipts = vec![receipt(&format!("Consume{i}"), i, 0)];
        want.push((append(&journal, &receipts).await?, receipts));
    }
    let appended = seqs_of(&want);
    let third = want[2].0;
    ok("consume", journal.consume(third).await)?;
    let rest = want.split_off(3);
    let got = unconsumed(&journal).await?;
    ensure(seqs(&got) == seqs_of(&rest), || {
        format!(
            "after consume({third}) of entries {appended:?}: unconsumed {:?}, want {:?} \
             (consume drops up to and including its seq, keeps later ones)",
            seqs(&got),
            seqs_of(&rest)
        )
    })?;
    same_entries(&got, &rest)?;
    ok("consume", journal.consume(third).await)?;
    ok("consume", journal.consume(want[0].0).await)?;
    same_entries(&unconsumed(&journal).await?, &rest)
        .map_err(within("consuming a seq again is not harmless"))?;
    let last = rest[1].0;
    ok("consume", journal.consume(last.saturating_add(1000)).await)?;
    let got = unconsumed(&journal).await?;
    ensure(got.is_empty(), || {
        format!(
            "consume beyond the last seq {last} left entries {:?}",
            seqs(&got)
        )
    })?;
    ok("consume", journal.consume(u64::MAX).await)?;
    let later = vec![receipt("ConsumeLater", 9, 0)];
    let seq = append(&journal, &later).await?;
    same_entries(&unconsumed(&journal).await?, &[(seq, later)]).map_err(within(
        "an entry appended after consuming beyond the last seq",
    ))
}

fn seqs_of(entries: &[(u64, Vec<Receipt>)]) -> Vec<u64> {
    entries.iter().map(|(seq, _)| *seq).collect()
}

async fn empty_entry(journal: impl Journal) -> Result<(), TestCaseError> {
    let before = vec![receipt("BeforeEmpty", 0, 1)];
    let after = vec![receipt("AfterEmpty", 1, 2)];
    let a = append(&journal, &before).await?;
    let empty = ok(
        "append of an empty receipts slice",
        journal.append(&[]).await,
    )?;
    let b = append(&journal, &after).await?;
    ensure(a < empty && empty < b, || {
        format!("an empty entry's seq {empty} is not between its neighbours' {a} and {b}")
    })?;
    same_entries(
        &unconsumed(&journal).await?,
        &[(a, before), (empty, Vec::new()), (b, after)],
    )
    .map_err(within("with an empty entry"))
}

async fn concurrent_appends<J: Journal>(journal: J) -> Result<(), TestCaseError> {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let journal = Arc::new(journal);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let journal = Arc::clone(&journal);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(EACH);
            for i in 0..EACH {
                // Sizes vary so appends overlap unevenly.
                let receipts: Vec<Receipt> = (0..(t + i) % 4 + 1)
                    .map(|j| receipt(&format!("Task{t}x{i}x{j}"), i as i64, j as i64))
                    .collect();
                let seq = journal.append(&receipts).await?;
                mine.push((seq, receipts));
            }
            Ok::<_, StoreError>(mine)
        }));
    }
    let mut all = BTreeMap::new();
    for (t, task) in tasks.into_iter().enumerate() {
        let mine = ok(
            "append",
            task.await
                .map_err(|e| TestCaseError::fail(format!("appending task panicked: {e}")))?,
        )?;
        for pair in mine.windows(2) {
            ensure(pair[0].0 < pair[1].0, || {
                format!(
                    "task {t}: a later append got seq {}, after {}",
                    pair[1].0, pair[0].0
                )
            })?;
        }
        for (seq, receipts) in mine {
            ensure(all.insert(seq, receipts).is_none(), || {
                format!("seq {seq} returned to two concurrent appends")
            })?;
        }
    }
    let want: Vec<(u64, Vec<Receipt>)> = all.into_iter().collect();
    let got = unconsumed(&*journal).await?;
    let got_seqs: HashSet<u64> = got.iter().map(|e| e.seq).collect();
    ensure(got.len() == TASKS * EACH, || {
        format!(
            "{} entries after {} concurrent appends ({} missing)",
            got.len(),
            TASKS * EACH,
            want.iter().filter(|(s, _)| !got_seqs.contains(s)).count()
        )
    })?;
    same_entries(&got, &want).map_err(within("after concurrent appends"))
}

async fn seqs_after_consuming_everything(journal: impl Journal) -> Result<(), TestCaseError> {
    let mut last = 0;
    for i in 0..3 {
        last = append(&journal, &[receipt(&format!("Gone{i}"), i, 0)]).await?;
    }
    ok("consume", journal.consume(last).await)?;
    let left = unconsumed(&journal).await?;
    ensure(left.is_empty(), || {
        format!("consume({last}) of every entry left {:?}", seqs(&left))
    })?;
    let next = append(&journal, &[receipt("Again", 4, 0)]).await?;
    ensure(next > last, || {
        format!(
            "after consuming everything up to {last}, append returned seq {next}: \
             sequence numbers must keep increasing"
        )
    })?;
    let seqs_left = seqs(&unconsumed(&journal).await?);
    ensure(seqs_left == [next], || {
        format!("unconsumed {seqs_left:?} after appending {next} to an emptied journal")
    })
}

/// Appends one entry (unless refused as invalid) and checks it reads back exactly.
async fn exact_or_refused(
    journal: &impl Journal,
    what: &str,
    receipts: Vec<Receipt>,
) -> Result<(), TestCaseError> {
    let want = match append_or_refuse(journal, &receipts).await? {
        Some(seq) => vec![(seq, receipts)],
        None => Vec::new(),
    };
    same_entries(&unconsumed(journal).await?, &want).map_err(within(what))
}

async fn large_and_nul_values(journal: impl Journal) -> Result<(), TestCaseError> {
    let big = "v".repeat(64 * 1024);
    let t = at(0) + time::Duration::nanoseconds(123_456_789);
    let alert = Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "Large"),
            ("quote", "it's \"quoted\""),
            ("sql", "'; DROP TABLE alerts; --"),
            ("nul", "nul\0byte"),
        ]),
        t,
    )
    .with_annotations(Annotations::from_pairs([
        ("big", big.as_str()),
        ("unicode", "emoji 🚨🔥 ünïcödé"),
        ("empty", ""),
    ]))
    .resolved_at(t + time::Duration::nanoseconds(1));
    let receipts = vec![Receipt::new(alert, t).with_origin(origin(
        "team'; --",
        "{}:{alertname=\"Large\"}",
        "http://am:9093/?q=\0",
    ))];
    exact_or_refused(
        &journal,
        "a 64 KiB annotation, quotes, SQL and NUL",
        receipts,
    )
    .await
}

async fn round_trip(
    journal: impl Journal,
    entries: Vec<Vec<Receipt>>,
) -> Result<(), TestCaseError> {
    let mut want: Vec<(u64, Vec<Receipt>)> = Vec::new();
    for receipts in entries {
        if let Some(seq) = append_or_refuse(&journal, &receipts).await? {
            if let Some((last, _)) = want.last() {
                ensure(seq > *last, || {
                    format!("append returned seq {seq}, not greater than the previous {last}")
                })?;
            }
            want.push((seq, receipts));
        }
    }
    same_entries(&unconsumed(&journal).await?, &want)
}

async fn hostile_values(
    journal: impl Journal,
    label: String,
    annotation: String,
    url: String,
    origin_value: String,
) -> Result<(), TestCaseError> {
    let t = at(0) + time::Duration::nanoseconds(1);
    let alert = Alert {
        generator_url: Arc::from(url),
        ..Alert::firing(
            LabelSet::from_pairs([("alertname", "Hostile"), ("value", label.as_str())]),
            t,
        )
        .with_annotations(Annotations::from_pairs([
            ("summary", annotation.as_str()),
            ("description", ""),
        ]))
    };
    let receipts = vec![
        Receipt::new(alert.clone(), t).with_origin(origin(
            &origin_value,
            &origin_value,
            &origin_value,
        )),
        Receipt::new(alert, t),
    ];
    exact_or_refused(&journal, "hostile values", receipts).await
}
