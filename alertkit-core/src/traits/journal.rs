//! The [`Journal`] trait: a durable intake log in front of a [`HistoryStore`](crate::HistoryStore).
//!
//! With a journal, the [pipeline](crate::pipeline) acknowledges a batch once
//! it is appended here — one sequential append per group of batches — and
//! records it into history afterwards, in larger batches than the senders'.
//! Entries are consumed once recorded; entries left by a crash are replayed
//! into the store on the next start, which is safe because
//! [`HistoryStore::record`](crate::HistoryStore::record) is idempotent.
//!
//! Entries hold receipts in an opaque, versioned encoding
//! ([`encode_receipts`] / [`decode_receipts`]) so every backend stores bytes
//! and round-trips receipts exactly.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use async_trait::async_trait;
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use crate::model::push_json_str;
use crate::{Alert, Annotations, LabelSet, Origin, Receipt, Status, StoreError};

/// One journal entry, as [`Journal::unconsumed`] returns it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalEntry {
    /// Its sequence number (increasing in append order).
    pub seq: u64,
    /// The receipts appended together.
    pub receipts: Vec<Receipt>,
}

impl JournalEntry {
    /// An entry `seq` of `receipts`.
    pub fn new(seq: u64, receipts: Vec<Receipt>) -> Self {
        Self { seq, receipts }
    }
}

/// A durable, append-only intake log in front of a [`HistoryStore`](crate::HistoryStore).
///
/// With a journal, the [pipeline](crate::pipeline) acknowledges a batch once
/// it is appended here — one sequential append per group of batches — and
/// records it into history afterwards, in larger batches than the senders'.
/// Entries are consumed once recorded; entries left by a crash are replayed
/// into the store on the next start, which is safe because
/// [`HistoryStore::record`](crate::HistoryStore::record) is idempotent.
/// Entries hold receipts in an opaque, versioned encoding
/// ([`encode_receipts`] / [`decode_receipts`]).
///
/// The contract, checked by the conformance suite
/// (`alertkit_core::testing::conformance::journal`):
///
/// - `append` returns only once the entry is durable, with a sequence number
///   greater than every earlier one — also across reopening.
/// - It validates what the store behind it would reject (times out of range,
///   oversized values) and fails with [`StoreError::Invalid`] naming the
///   receipt, appending nothing: an acknowledged entry must always record.
/// - `unconsumed` returns every entry not yet consumed, oldest first, with
///   receipts exactly as appended.
/// - `consume(seq)` drops every entry up to and including `seq`.
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Appends `receipts` as one durable entry and returns its sequence number.
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError>;

    /// Every entry not yet consumed, oldest first.
    async fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError>;

    /// Drops every entry with a sequence number up to and including `seq`.
    async fn consume(&self, seq: u64) -> Result<(), StoreError>;

    /// Whether appends can succeed now, checked cheaply (for readiness
    /// probes): for example the last write or flush error, or a missing
    /// file. `Ok` by default.
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl<T: Journal + ?Sized> Journal for Arc<T> {
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError> {
        (**self).append(receipts).await
    }

    async fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError> {
        (**self).unconsumed().await
    }

    async fn consume(&self, seq: u64) -> Result<(), StoreError> {
        (**self).consume(seq).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        (**self).check().await
    }
}

/// The encoding's version; [`decode_receipts`] refuses others.
const VERSION: u8 = 1;

/// Encodes receipts for a journal entry (JSON; origins stored once per entry,
/// times as exact `[seconds, nanoseconds]` pairs, in UTC).
///
/// Fails with [`StoreError::Invalid`] naming the receipt for what
/// [`decode_receipts`] could not rebuild: an empty label or annotation name
/// (possible through [`LabelSet::from_pairs`], refused on the wire), or a time
/// whose UTC value is out of range (such as 9999-12-31 23:59 at -01:00).
///
/// ```
/// use alertkit_core::traits::{decode_receipts, encode_receipts};
/// use alertkit_core::{Alert, LabelSet, Receipt};
/// use time::macros::datetime;
///
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Up")]), datetime!(2026-12-04 10:00 UTC));
/// let receipts = vec![Receipt::new(alert, datetime!(2026-12-04 10:00:01.000000123 UTC))];
/// let bytes = encode_receipts(&receipts)?;
/// let back = decode_receipts(&bytes)?;
/// assert_eq!(back[0].alert, receipts[0].alert);
/// assert_eq!(back[0].received_at, receipts[0].received_at);
/// # Ok::<(), alertkit_core::StoreError>(())
/// ```
pub fn encode_receipts(receipts: &[Receipt]) -> Result<Vec<u8>, StoreError> {
    let mut origins: Vec<&Arc<Origin>> = Vec::new();
    // Receipts of one batch share their origin: the previous one is the
    // usual answer, the map the rest (equal values merge).
    let mut index: HashMap<&Origin, usize, FxBuildHasher> = HashMap::default();
    let mut last: Option<(&Arc<Origin>, usize)> = None;
    // First every receipt is checked and its origin numbered (the origins
    // come first in the entry), then the entry is written in one pass.
    let mut rows = Vec::with_capacity(receipts.len());
    for (i, r) in receipts.iter().enumerate() {
        let invalid = |m: String| StoreError::Invalid(format!("receipts[{i}].{m}"));
        let a = &r.alert;
        // What `decode_receipts` would refuse must not be acknowledged: names
        // sort bytewise, so an empty one comes first.
        if a.labels
            .iter()
            .next()
            .is_some_and(|(name, _)| name.is_empty())
        {
            return Err(invalid("labels: empty label name".into()));
        }
        if a.annotations
            .iter()
            .next()
            .is_some_and(|(name, _)| name.is_empty())
        {
            return Err(invalid("annotations: empty annotation name".into()));
        }
        let time = |field: &str, t: OffsetDateTime| {
            exact(t).ok_or_else(|| invalid(format!("{field}: {t} has no UTC representation")))
        };
        let origin = r.origin.as_ref().map(|o| match last {
            Some((prev, n)) if Arc::ptr_eq(prev, o) => n,
            _ => {
                let n = *index.entry(&**o).or_insert_with(|| {
                    origins.push(o);
                    origins.len() - 1
                });
                last = Some((o, n));
                n
            }
        });
        rows.push(Row {
            origin,
            received: time("received_at", r.received_at)?,
            starts: time("startsAt", a.starts_at)?,
            ends: a.ends_at.map(|t| time("endsAt", t)).transpose()?,
            alert: a,
        });
    }
    // Written by hand, not through serde: labels and annotations go in as
    // their shared JSON text (`LabelSet::to_json`), which the history rows
    // then store without encoding it again. The bytes are what
    // `#[derive(Serialize)]` of the layout `decode_receipts` reads would
    // write (a test holds the two equal).
    let mut out = String::with_capacity(64 + origins.len() * 128 + receipts.len() * 512);
    let _ = write!(out, "{{\"v\":{VERSION},\"o\":[");
    for (i, o) in origins.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        push_json_str(&mut out, &o.receiver);
        out.push(',');
        push_json_str(&mut out, &o.group_key);
        out.push(',');
        push_json_str(&mut out, &o.external_url);
        out.push(']');
    }
    out.push_str("],\"r\":[");
    for (i, row) in rows.iter().enumerate() {
        let a = row.alert;
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        if let Some(n) = row.origin {
            let _ = write!(out, "\"o\":{n},");
        }
        let _ = write!(
            out,
            "\"r\":[{},{}],\"s\":\"{}\",\"l\":",
            row.received.0,
            row.received.1,
            a.status.as_str()
        );
        out.push_str(a.labels.to_json());
        out.push_str(",\"a\":");
        out.push_str(a.annotations.to_json());
        let _ = write!(out, ",\"b\":[{},{}]", row.starts.0, row.starts.1);
        if let Some((secs, nanos)) = row.ends {
            let _ = write!(out, ",\"e\":[{secs},{nanos}]");
        }
        out.push_str(",\"g\":");
        push_json_str(&mut out, &a.generator_url);
        out.push('}');
    }
    out.push_str("]}");
    Ok(out.into_bytes())
}

/// One checked receipt of an entry being encoded.
struct Row<'a> {
    origin: Option<usize>,
    received: (i64, u32),
    starts: (i64, u32),
    ends: Option<(i64, u32)>,
    alert: &'a Alert,
}

/// Decodes what [`encode_receipts`] wrote.
pub fn decode_receipts(bytes: &[u8]) -> Result<Vec<Receipt>, StoreError> {
    let corrupt = |m: String| StoreError::Backend(format!("corrupt journal entry: {m}").into());
    let entry: EntryIn = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if entry.v != VERSION {
        return Err(corrupt(format!("unknown version {}", entry.v)));
    }
    let origins: Vec<Arc<Origin>> = entry
        .o
        .into_iter()
        .map(|(receiver, group_key, external_url)| {
            Arc::new(Origin {
                receiver,
                group_key,
                external_url,
            })
        })
        .collect();
    let mut receipts = Vec::with_capacity(entry.r.len());
    for (i, r) in entry.r.into_iter().enumerate() {
        let time = |t: (i64, u32)| {
            from_exact(t).ok_or_else(|| corrupt(format!("receipt {i}: time out of range")))
        };
        let alert = Alert {
            labels: r.l,
            annotations: r.a,
            status: r.s,
            starts_at: time(r.b)?,
            ends_at: r.e.map(time).transpose()?,
            generator_url: r.g.into(),
        };
        let mut receipt = Receipt::new(alert, time(r.r)?);
        if let Some(o) = r.o {
            let origin = origins
                .get(o)
                .ok_or_else(|| corrupt(format!("receipt {i}: unknown origin {o}")))?;
            receipt.origin = Some(Arc::clone(origin));
        }
        receipts.push(receipt);
    }
    Ok(receipts)
}

/// `t` as UTC `(seconds, nanoseconds)`; `None` when its UTC value is out of
/// `time`'s range (such as 9999-12-31 23:59 at -01:00), which
/// [`from_exact`] could not rebuild.
fn exact(t: OffsetDateTime) -> Option<(i64, u32)> {
    let utc = t.checked_to_offset(UtcOffset::UTC)?;
    Some((utc.unix_timestamp(), utc.nanosecond()))
}

fn from_exact((secs, nanos): (i64, u32)) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    t.replace_nanosecond(nanos).ok()
}

/// The layout `decode_receipts` reads, as serde would write it: the
/// reference `encode_receipts` is tested against.
#[cfg(test)]
#[derive(Serialize)]
struct EntryOut<'a> {
    v: u8,
    o: Vec<(&'a str, &'a str, &'a str)>,
    r: Vec<ReceiptOut<'a>>,
}

#[cfg(test)]
#[derive(Serialize)]
struct ReceiptOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    o: Option<usize>,
    r: (i64, u32),
    s: Status,
    l: &'a LabelSet,
    a: &'a Annotations,
    b: (i64, u32),
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<(i64, u32)>,
    g: &'a str,
}

#[derive(Deserialize)]
struct EntryIn {
    v: u8,
    o: Vec<(String, String, String)>,
    r: Vec<ReceiptIn>,
}

#[derive(Deserialize)]
struct ReceiptIn {
    #[serde(default)]
    o: Option<usize>,
    r: (i64, u32),
    s: Status,
    l: LabelSet,
    a: Annotations,
    b: (i64, u32),
    #[serde(default)]
    e: Option<(i64, u32)>,
    g: String,
}

#[cfg(test)]
mod tests {
    use time::macros::{datetime, offset};
    use time::{Duration, PrimitiveDateTime};

    use super::*;

    fn alert(name: &str, at: OffsetDateTime) -> Alert {
        Alert::firing(LabelSet::from_pairs([("alertname", name)]), at)
    }

    fn origin(receiver: &str) -> Arc<Origin> {
        Arc::new(Origin {
            receiver: receiver.into(),
            group_key: "{}:{alertname=\"x\"}".into(),
            external_url: "http://am:9093".into(),
        })
    }

    fn round_trip(receipts: &[Receipt]) -> Vec<Receipt> {
        let bytes = encode_receipts(receipts).expect("encode");
        decode_receipts(&bytes).expect("decode")
    }

    fn assert_same(got: &[Receipt], want: &[Receipt]) {
        assert_eq!(got.len(), want.len(), "receipt count");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.alert, w.alert, "receipt {i}: alert");
            assert_eq!(g.received_at, w.received_at, "receipt {i}: received_at");
            assert_eq!(
                g.origin.as_deref(),
                w.origin.as_deref(),
                "receipt {i}: origin"
            );
        }
    }

    fn invalid(receipts: &[Receipt]) -> String {
        match encode_receipts(receipts) {
            Err(StoreError::Invalid(m)) => m,
            other => panic!("want StoreError::Invalid, got {other:?}"),
        }
    }

    fn backend(bytes: &[u8]) -> String {
        match decode_receipts(bytes) {
            Err(e @ StoreError::Backend(_)) => format!("{e:?}"),
            other => panic!(
                "{:?}: want StoreError::Backend, got {other:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    #[test]
    fn extreme_times_round_trip_exactly() {
        let times = [
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1),
            datetime!(1969-12-31 23:59:59.5 UTC),
            datetime!(0001-01-01 00:00:00.000000001 UTC),
            // The range of the SQL stores' nanosecond columns.
            datetime!(1677-09-21 00:12:43.145224192 UTC),
            datetime!(2262-04-11 23:47:16.854775807 UTC),
            PrimitiveDateTime::MIN.assume_utc(),
            PrimitiveDateTime::MAX.assume_utc(),
            // Offsets whose UTC value stays in range.
            PrimitiveDateTime::MAX.assume_offset(offset!(+01:00)),
            PrimitiveDateTime::MIN.assume_offset(offset!(-01:00)),
            datetime!(2026-03-29 02:30:00.123456789 +05:30),
        ];
        for t in times {
            let mut a = alert("Extreme", t);
            if let Some(end) = t.checked_add(Duration::nanoseconds(1)) {
                a = a.resolved_at(end);
            }
            let receipts = [Receipt::new(a, t)];
            let back = round_trip(&receipts);
            assert_same(&back, &receipts);
            assert_eq!(
                back[0].received_at.unix_timestamp_nanos(),
                t.unix_timestamp_nanos()
            );
            assert_eq!(
                back[0].received_at.offset(),
                UtcOffset::UTC,
                "decoded in UTC"
            );
        }
    }

    #[test]
    fn times_without_a_utc_value_are_invalid_not_undecodable() {
        let ok = datetime!(2026-01-01 00:00 UTC);
        let late = PrimitiveDateTime::MAX.assume_offset(offset!(-01:00));
        let early = PrimitiveDateTime::MIN.assume_offset(offset!(+01:00));
        let fine = Receipt::new(alert("Fine", ok), ok);
        let m = invalid(&[fine.clone(), Receipt::new(alert("Late", late), ok)]);
        assert!(m.starts_with("receipts[1].startsAt"), "{m}");
        let m = invalid(&[Receipt::new(alert("Early", ok), early)]);
        assert!(m.starts_with("receipts[0].received_at"), "{m}");
        let m = invalid(&[
            fine.clone(),
            fine,
            Receipt::new(alert("Ends", ok).resolved_at(late), ok),
        ]);
        assert!(m.starts_with("receipts[2].endsAt"), "{m}");
    }

    #[test]
    fn empty_names_are_invalid_not_undecodable() {
        let t = datetime!(2026-01-01 00:00 UTC);
        let labels = LabelSet::from_pairs([("alertname", "A"), ("", "x")]);
        let m = invalid(&[Receipt::new(Alert::firing(labels, t), t)]);
        assert!(m.starts_with("receipts[0].labels"), "{m}");
        let a = alert("A", t).with_annotations(Annotations::from_pairs([("", "x"), ("b", "y")]));
        let m = invalid(&[Receipt::new(alert("B", t), t), Receipt::new(a, t)]);
        assert!(m.starts_with("receipts[1].annotations"), "{m}");
    }

    #[test]
    fn hostile_values_round_trip_exactly() {
        let t = datetime!(2026-01-01 00:00:00.000000001 UTC);
        let hostile = [
            "'; DROP TABLE alertkit_intake; --",
            "\"quoted\" and 'single'",
            "back\\slash \\u0000 \\\"",
            "nul\0byte",
            "line\nbreak\r\ttab",
            "emoji 🚨🔥 ünïcödé \u{202e}rtl \u{feff}",
            "{\"v\":2}",
            "",
        ];
        let big = "v".repeat(64 * 1024);
        let mut receipts = Vec::new();
        for (i, h) in hostile.iter().enumerate() {
            // Names too, made non-empty (an empty name is refused).
            let name = format!("n{h}");
            let a = Alert {
                labels: LabelSet::from_pairs([
                    ("alertname", "Hostile"),
                    ("value", h),
                    (name.as_str(), "name"),
                ]),
                annotations: Annotations::from_pairs([
                    ("summary", *h),
                    ("big", big.as_str()),
                    (name.as_str(), ""),
                ]),
                status: Status::Resolved,
                starts_at: t,
                ends_at: Some(t + Duration::nanoseconds(i as i64)),
                generator_url: Arc::from(*h),
            };
            let o = Arc::new(Origin {
                receiver: (*h).to_owned(),
                group_key: format!("{{}}:{{alertname={h:?}}}"),
                external_url: big.clone(),
            });
            receipts.push(Receipt::new(a, t).with_origin(o));
        }
        assert_same(&round_trip(&receipts), &receipts);
    }

    #[test]
    fn empty_entry_round_trips() {
        assert!(round_trip(&[]).is_empty());
    }

    #[test]
    fn origins_are_stored_once_and_shared_again() {
        let t = datetime!(2026-01-01 00:00 UTC);
        let shared = origin("team-db");
        let equal = origin("team-db");
        let other = origin("team-web");
        let receipts = [
            Receipt::new(alert("A", t), t).with_origin(Arc::clone(&shared)),
            Receipt::new(alert("B", t), t),
            Receipt::new(alert("C", t), t).with_origin(Arc::clone(&shared)),
            Receipt::new(alert("D", t), t).with_origin(equal),
            Receipt::new(alert("E", t), t).with_origin(other),
        ];
        let bytes = encode_receipts(&receipts).expect("encode");
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        let stored = json["o"].as_array().expect("origins array");
        assert_eq!(stored.len(), 2, "each distinct origin once: {json}");
        assert!(
            json["r"][1].get("o").is_none(),
            "a receipt without origin stores none: {json}"
        );
        let back = decode_receipts(&bytes).expect("decode");
        assert_same(&back, &receipts);
        let o = |i: usize| back[i].origin.as_ref().expect("origin");
        assert!(back[1].origin.is_none());
        assert!(
            Arc::ptr_eq(o(0), o(2)) && Arc::ptr_eq(o(0), o(3)),
            "one Arc per stored origin"
        );
        assert!(!Arc::ptr_eq(o(0), o(4)));
    }

    #[test]
    fn corrupt_or_foreign_entries_are_backend_errors() {
        let t = datetime!(2026-01-01 00:00 UTC);
        let good = encode_receipts(&[Receipt::new(alert("A", t), t).with_origin(origin("r"))])
            .expect("encode");
        let good = String::from_utf8(good).expect("JSON is UTF-8");
        let edited = |from: &str, to: &str| {
            assert!(good.contains(from), "{from} not in {good}");
            good.replacen(from, to, 1).into_bytes()
        };
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\xff\xfe\x00garbage".to_vec(),
            b"null".to_vec(),
            b"[]".to_vec(),
            good.as_bytes()[..good.len() / 2].to_vec(),
            edited("\"v\":1", "\"v\":2"),
            edited("\"v\":1", "\"v\":0"),
            edited("\"v\":1", "\"v\":256"),
            edited("\"v\":1", "\"v\":-1"),
            edited("\"v\":1,", ""),
            edited("\"o\":0", "\"o\":1"),
            edited("\"o\":0", "\"o\":18446744073709551615"),
            edited("\"s\":\"firing\"", "\"s\":\"pending\""),
            edited("\"alertname\"", "\"\""),
            edited(",0],\"s\"", ",1000000000],\"s\""),
            edited("\"b\":[", "\"b\":[9223372036854775807,0],\"x\":["),
            edited(
                "\"o\":0,\"r\":[",
                "\"o\":0,\"r\":[-9223372036854775808,0],\"x\":[",
            ),
        ];
        for bytes in cases {
            backend(&bytes);
        }
        assert!(backend(&edited("\"v\":1", "\"v\":2")).contains("unknown version 2"));
        assert!(backend(&edited("\"o\":0", "\"o\":1")).contains("unknown origin 1"));
        assert!(
            backend(&edited("\"b\":[", "\"b\":[9223372036854775807,0],\"x\":["))
                .contains("receipt 0: time out of range")
        );
    }

    /// What `encode_receipts` wrote before it was written by hand: serde's
    /// derive of the same layout (`receipts` valid).
    fn serde_encoding(receipts: &[Receipt]) -> Vec<u8> {
        let mut origins: Vec<&Origin> = Vec::new();
        let mut out = Vec::new();
        for r in receipts {
            let o = r.origin.as_deref().map(|o| {
                origins.iter().position(|k| *k == o).unwrap_or_else(|| {
                    origins.push(o);
                    origins.len() - 1
                })
            });
            let a = &r.alert;
            out.push(ReceiptOut {
                o,
                r: exact(r.received_at).unwrap(),
                s: a.status,
                l: &a.labels,
                a: &a.annotations,
                b: exact(a.starts_at).unwrap(),
                e: a.ends_at.map(|t| exact(t).unwrap()),
                g: &a.generator_url,
            });
        }
        serde_json::to_vec(&EntryOut {
            v: VERSION,
            o: origins
                .iter()
                .map(|o| (&*o.receiver, &*o.group_key, &*o.external_url))
                .collect(),
            r: out,
        })
        .unwrap()
    }

    proptest::proptest! {
        /// The hand-written encoding is serde's, byte for byte, for any
        /// text (quotes, backslashes, control characters, unicode) in any
        /// field, with and without origins and end times.
        #[test]
        fn the_encoding_is_serdes(
            items in proptest::collection::vec(
                (
                    proptest::collection::vec(("[a-z_]{1,6}", "(\\PC|[\\x00-\\x1f\"\\\\])*"), 0..4),
                    proptest::collection::vec(("\\PC{1,6}", "(\\PC|[\\x00-\\x1f\\x7f\"\\\\])*"), 0..3),
                    "(\\PC|[\\x00-\\x1f\"\\\\])*",
                    proptest::option::of(0usize..3),
                    proptest::option::of(0i64..1_000_000_000),
                    -10_000_000_000i64..10_000_000_000,
                ),
                0..6,
            ),
        ) {
            let origins = [origin("a"), origin("b\"\n"), origin("ünï")];
            let t0 = datetime!(2026-01-01 00:00 UTC);
            let receipts: Vec<Receipt> = items
                .iter()
                .map(|(labels, annotations, url, o, end, at)| {
                    let starts = t0 + Duration::nanoseconds(*at);
                    let mut a = Alert::firing(
                        LabelSet::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                        starts,
                    )
                    .with_annotations(Annotations::from_pairs(
                        annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    ));
                    a.generator_url = Arc::from(url.as_str());
                    if let Some(end) = end {
                        a = a.resolved_at(starts + Duration::nanoseconds(*end));
                    }
                    let r = Receipt::new(a, starts + Duration::milliseconds(3));
                    match o {
                        Some(i) => r.with_origin(Arc::clone(&origins[*i])),
                        None => r,
                    }
                })
                .collect();
            let bytes = encode_receipts(&receipts).expect("encode");
            let reference = serde_encoding(&receipts);
            proptest::prop_assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&reference)
            );
            assert_same(&decode_receipts(&bytes).expect("decode"), &receipts);
        }

        #[test]
        fn damaged_entries_never_panic(cut in 0usize..400, at in 0usize..400, byte in proptest::prelude::any::<u8>()) {
            let t = datetime!(2026-01-01 00:00:00.5 UTC);
            let a = alert("Damaged", t)
                .with_annotations(Annotations::from_pairs([("summary", "s")]))
                .resolved_at(t + Duration::seconds(1));
            let receipts = [
                Receipt::new(a.clone(), t).with_origin(origin("r")),
                Receipt::new(a, t),
            ];
            let mut bytes = encode_receipts(&receipts).expect("encode");
            if let Some(b) = bytes.get_mut(at) {
                *b = byte;
            }
            bytes.truncate(cut.max(1));
            match decode_receipts(&bytes) {
                Ok(_) | Err(StoreError::Backend(_)) => {}
                Err(e) => proptest::prop_assert!(false, "want Backend, got {e:?}"),
            }
        }
    }
}
