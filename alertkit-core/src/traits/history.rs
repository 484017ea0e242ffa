//! The [`HistoryStore`] trait and the history data model.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower::Service;

use super::BoxFuture;
use crate::matcher::Matchers;
use crate::traits::Origin;
use crate::{
    Alert, Annotations, Classification, Fingerprint, LabelSet, Severity, StateKey, Status,
    StoreError,
};

/// One receipt of an alert: what arrived and when.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The alert as received.
    pub alert: Alert,
    /// When alertkit received it (the application clock).
    pub received_at: OffsetDateTime,
    /// Where it came from (Alertmanager's receiver and group), when known;
    /// stores with an outbox keep it with the notifications they enqueue.
    pub origin: Option<Arc<Origin>>,
}

impl Receipt {
    /// A receipt of `alert` at `received_at`, origin unknown.
    pub fn new(alert: Alert, received_at: OffsetDateTime) -> Self {
        Self {
            alert,
            received_at,
            origin: None,
        }
    }

    /// With the batch's origin.
    #[must_use]
    pub fn with_origin(mut self, origin: Arc<Origin>) -> Self {
        self.origin = Some(origin);
        self
    }
}

/// What a receipt changed in an alert's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// First time this fingerprint fires.
    Firing,
    /// The alert resolved.
    Resolved,
    /// The fingerprint fires again, with a later `startsAt`.
    Refired,
    /// Same firing instance, different annotations.
    AnnotationsChanged,
    /// A classification was attached.
    Classified,
}

impl EventKind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [EventKind; 5] = [
        EventKind::Firing,
        EventKind::Resolved,
        EventKind::Refired,
        EventKind::AnnotationsChanged,
        EventKind::Classified,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Firing => "firing",
            EventKind::Resolved => "resolved",
            EventKind::Refired => "refired",
            EventKind::AnnotationsChanged => "annotations_changed",
            EventKind::Classified => "classified",
        }
    }

    /// Whether targets should hear about this change.
    pub const fn is_notifiable(self) -> bool {
        matches!(
            self,
            EventKind::Firing | EventKind::Resolved | EventKind::Refired
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an alert's append-only timeline.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HistoryEvent {
    /// The alert.
    pub fingerprint: Fingerprint,
    /// What changed.
    pub kind: EventKind,
    /// When it was recorded.
    pub at: OffsetDateTime,
    /// Status after the change.
    pub status: Status,
    /// `startsAt` of the instance.
    pub starts_at: OffsetDateTime,
    /// `endsAt` of the instance, once resolved.
    pub ends_at: Option<OffsetDateTime>,
    /// Annotations at the time (firing, re-fired, annotation changes).
    pub annotations: Option<Annotations>,
    /// The verdict (classification events).
    pub classification: Option<Arc<Classification>>,
}

impl HistoryEvent {
    /// An event with no `ends_at`, annotations or classification (stores
    /// reading rows back fill those in).
    pub fn new(
        fingerprint: Fingerprint,
        kind: EventKind,
        at: OffsetDateTime,
        status: Status,
        starts_at: OffsetDateTime,
    ) -> Self {
        Self {
            fingerprint,
            kind,
            at,
            status,
            starts_at,
            ends_at: None,
            annotations: None,
            classification: None,
        }
    }

    /// The `Classified` event of attaching `classification` to `record`'s
    /// current instance at `at`.
    pub fn classified(
        record: &AlertRecord,
        classification: Arc<Classification>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            fingerprint: record.fingerprint,
            kind: EventKind::Classified,
            at,
            status: record.status,
            starts_at: record.starts_at,
            ends_at: record.ends_at,
            annotations: None,
            classification: Some(classification),
        }
    }

    /// An event recording `receipt` as `kind`.
    pub fn from_receipt(kind: EventKind, receipt: &Receipt) -> Self {
        let a = &receipt.alert;
        Self {
            fingerprint: a.fingerprint(),
            kind,
            at: receipt.received_at,
            status: a.status,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            annotations: (kind != EventKind::Resolved).then(|| a.annotations.clone()),
            classification: None,
        }
    }
}

/// The current state of one alert (one row per fingerprint).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AlertRecord {
    /// Identity.
    pub fingerprint: Fingerprint,
    /// Labels.
    pub labels: LabelSet,
    /// Latest annotations.
    pub annotations: Annotations,
    /// Latest status.
    pub status: Status,
    /// `startsAt` of the latest instance.
    pub starts_at: OffsetDateTime,
    /// `endsAt` of the latest instance, once resolved.
    pub ends_at: Option<OffsetDateTime>,
    /// First receipt.
    pub first_seen: OffsetDateTime,
    /// Latest receipt, including redeliveries that changed nothing.
    pub last_seen: OffsetDateTime,
    /// Latest receipt that changed something (sort key of [`HistoryQuery`] pages).
    pub last_changed: OffsetDateTime,
    /// How many distinct instances fired (`Firing` + `Refired` events, and
    /// instances first seen already resolved).
    pub fire_count: u32,
    /// Status changes (firing ↔ resolved) so far.
    pub transitions: u32,
    /// Latest classification.
    pub classification: Option<Arc<Classification>>,
    /// `generatorURL` of the latest instance.
    pub generator_url: Arc<str>,
}

impl AlertRecord {
    /// The record a fingerprint's first receipt creates, with the event it records
    /// (`Firing`, or `Resolved` for an alert first seen already resolved).
    pub fn first(receipt: &Receipt) -> (Self, EventKind) {
        let a = &receipt.alert;
        let kind = match a.status {
            Status::Firing => EventKind::Firing,
            Status::Resolved => EventKind::Resolved,
        };
        let record = Self {
            fingerprint: a.fingerprint(),
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            status: a.status,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            first_seen: receipt.received_at,
            last_seen: receipt.received_at,
            last_changed: receipt.received_at,
            fire_count: 1,
            transitions: 0,
            classification: None,
            generator_url: Arc::clone(&a.generator_url),
        };
        (record, kind)
    }

    /// Applies a later receipt of the same alert: **the** history state
    /// machine, shared by every store so they agree on what a receipt means.
    ///
    /// - a later `startsAt` is a new instance: `Refired` (or `Resolved` when
    ///   it arrives already resolved); `fire_count` grows and the previous
    ///   instance's classification is dropped;
    /// - the same `startsAt`: firing → resolved is `Resolved`; firing with
    ///   different annotations is `AnnotationsChanged`;
    /// - anything else is a redelivery or stale (an earlier `startsAt`, or
    ///   `firing` for an instance already resolved): `None`, and only
    ///   `last_seen` moves.
    ///
    /// `transitions` counts status changes between consecutive states.
    pub fn apply(&mut self, receipt: &Receipt) -> Option<EventKind> {
        let a = &receipt.alert;
        self.last_seen = self.last_seen.max(receipt.received_at);
        let new_instance = a.starts_at > self.starts_at;
        let kind = if new_instance {
            match a.status {
                Status::Firing => EventKind::Refired,
                Status::Resolved => EventKind::Resolved,
            }
        } else if a.starts_at < self.starts_at {
            return None;
        } else {
            match (self.status, a.status) {
                (Status::Firing, Status::Resolved) => EventKind::Resolved,
                (Status::Firing, Status::Firing) if self.annotations != a.annotations => {
                    EventKind::AnnotationsChanged
                }
                _ => return None,
            }
        };
        if new_instance {
            self.fire_count = self.fire_count.saturating_add(1);
            self.classification = None;
        }
        if self.status != a.status {
            self.transitions = self.transitions.saturating_add(1);
        }
        self.status = a.status;
        self.starts_at = a.starts_at;
        self.ends_at = a.ends_at;
        self.annotations = a.annotations.clone();
        self.generator_url = Arc::clone(&a.generator_url);
        self.last_changed = self.last_changed.max(receipt.received_at);
        Some(kind)
    }

    /// The severity: the classification's if any, else the `severity` label's.
    pub fn severity(&self) -> Severity {
        self.classification.as_ref().map_or_else(
            || {
                self.labels
                    .get("severity")
                    .map_or(Severity::Unknown, Severity::from_label)
            },
            |c| c.severity,
        )
    }
}

/// What [`HistoryStore::record`] did with each receipt, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    /// `Some(kind)` when the receipt changed history, `None` for a redelivery
    /// or a stale (out-of-order) receipt.
    pub changes: Vec<Option<EventKind>>,
}

/// Filters, sort order and page position for [`HistoryStore::list`].
///
/// Results are ordered by `last_changed` (newest first unless `oldest_first`),
/// then fingerprint; pages are keyset-paginated with the opaque `after` cursor
/// of the previous [`HistoryPage`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HistoryQuery {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this severity (see [`AlertRecord::severity`]).
    pub severity: Option<Severity>,
    /// Label matchers, ANDed (`alertname`, `namespace` and any other label).
    pub matchers: Matchers,
    /// Only alerts changed at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only alerts changed before this time.
    pub until: Option<OffsetDateTime>,
    /// Case-insensitive substring of the `summary` or `description` annotation.
    pub text: Option<String>,
    /// Page size (stores cap it; 0 means the store's default).
    pub limit: usize,
    /// Cursor from the previous page.
    pub after: Option<Cursor>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

impl HistoryQuery {
    /// Whether `record` passes every filter except the cursor and the limit.
    ///
    /// Stores that filter in memory use this; SQL stores translate the same rules.
    pub fn matches(&self, record: &AlertRecord) -> bool {
        self.status.is_none_or(|s| record.status == s)
            && self.severity.is_none_or(|s| record.severity() == s)
            && self.matchers.matches(&record.labels)
            && self.since.is_none_or(|t| record.last_changed >= t)
            && self.until.is_none_or(|t| record.last_changed < t)
            && self.text.as_deref().is_none_or(|needle| {
                let needle = needle.to_lowercase();
                ["summary", "description"].iter().any(|k| {
                    record
                        .annotations
                        .get(k)
                        .is_some_and(|v| v.to_lowercase().contains(&needle))
                })
            })
    }
}

/// A keyset pagination cursor: the sort key of the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// `last_changed` of the last row, Unix nanoseconds.
    pub last_changed: i128,
    /// Fingerprint of the last row.
    pub fingerprint: Fingerprint,
}

impl Cursor {
    /// The cursor positioned after `record`.
    pub fn after(record: &AlertRecord) -> Self {
        Self {
            last_changed: record.last_changed.unix_timestamp_nanos(),
            fingerprint: record.fingerprint,
        }
    }
}

impl fmt::Display for Cursor {
    /// `<nanos>-<fingerprint>`: opaque to clients, stable across versions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.last_changed, self.fingerprint)
    }
}

impl std::str::FromStr for Cursor {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            StoreError::InvalidQuery(format!(
                "after: malformed cursor {:?}",
                s.chars().take(64).collect::<String>()
            ))
        };
        let (nanos, fp) = s.rsplit_once('-').ok_or_else(bad)?;
        Ok(Self {
            last_changed: nanos.parse().map_err(|_| bad())?,
            fingerprint: fp.parse().map_err(|_| bad())?,
        })
    }
}

/// One page of [`HistoryStore::list`] results.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// The records, in query order.
    pub records: Vec<AlertRecord>,
    /// Cursor for the next page; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Durable, queryable alert history.
///
/// The contract, checked by the conformance suite
/// (`alertkit_core::testing::conformance::history_store`):
///
/// - `record` is atomic per call and returns only after the receipts are
///   committed: the pipeline acknowledges senders on that signal.
/// - Idempotent: recording the same receipt again changes nothing (it may
///   advance `last_seen`) and reports `None`.
/// - Monotonic: a receipt older than the stored state (an earlier `startsAt`,
///   or `firing` for an instance already resolved) is stale and changes nothing.
/// - Safe under concurrent writers: the same receipts recorded from several
///   tasks at once yield exactly one event each.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Records receipts (one transaction), returning what each changed.
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError>;

    /// Records receipts like [`record`](Self::record), and attaches
    /// `verdicts[i]` (when there is one) to receipt `i`'s change if that
    /// change is notifiable (firing, resolved, re-fired): the alert's current
    /// classification, and a `Classified` event (at the receipt's time)
    /// after the change's — what
    /// [`attach_classifications`](Self::attach_classifications) would do.
    /// `verdicts` is empty or as long as `receipts`.
    ///
    /// The pipeline calls it with the verdicts its classifier knew at once
    /// (rules, cache hits). The default records, then attaches (two writes;
    /// a failed attach is logged, the record stands); stores override it to
    /// write both in one transaction.
    async fn record_classified(
        &self,
        receipts: &[Receipt],
        verdicts: &[Option<Arc<Classification>>],
    ) -> Result<RecordOutcome, StoreError> {
        let outcome = self.record(receipts).await?;
        let items: Vec<(StateKey, Arc<Classification>)> = receipts
            .iter()
            .zip(verdicts)
            .zip(&outcome.changes)
            .filter_map(|((r, v), change)| match (v, change) {
                (Some(v), Some(kind)) if kind.is_notifiable() => {
                    Some((r.alert.state_key(), Arc::clone(v)))
                }
                _ => None,
            })
            .collect();
        if !items.is_empty()
            && let Err(e) = self
                .attach_classifications(&items, OffsetDateTime::now_utc())
                .await
        {
            tracing::warn!(error = %e, "could not attach classifications to history");
        }
        Ok(outcome)
    }

    /// Attaches classifications to the alert instances identified by their
    /// [`StateKey`]s (one transaction). An item whose instance is no longer
    /// current (the alert re-fired since) is ignored and reported `false`.
    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError>;

    /// The current state of one alert.
    async fn get(&self, fingerprint: Fingerprint) -> Result<Option<AlertRecord>, StoreError>;

    /// One alert's timeline, oldest first.
    async fn timeline(&self, fingerprint: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError>;

    /// A page of alerts matching `query`.
    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError>;
}

#[async_trait]
impl<T: HistoryStore + ?Sized> HistoryStore for Arc<T> {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        (**self).record(receipts).await
    }

    async fn record_classified(
        &self,
        receipts: &[Receipt],
        verdicts: &[Option<Arc<Classification>>],
    ) -> Result<RecordOutcome, StoreError> {
        (**self).record_classified(receipts, verdicts).await
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        (**self).attach_classifications(items, at).await
    }

    async fn get(&self, fingerprint: Fingerprint) -> Result<Option<AlertRecord>, StoreError> {
        (**self).get(fingerprint).await
    }

    async fn timeline(&self, fingerprint: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError> {
        (**self).timeline(fingerprint).await
    }

    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        (**self).list(query).await
    }
}

/// Drives the write path of a [`HistoryStore`] as a `tower::Service<Vec<Receipt>>`,
/// so timeouts, concurrency limits and load shedding can wrap it.
#[derive(Debug)]
pub struct RecordService<H: ?Sized> {
    inner: Arc<H>,
}

impl<H: ?Sized> RecordService<H> {
    /// Wraps a shared store.
    pub fn new(inner: Arc<H>) -> Self {
        Self { inner }
    }
}

impl<H: ?Sized> Clone for RecordService<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: HistoryStore + ?Sized> Service<Vec<Receipt>> for RecordService<H> {
    type Response = RecordOutcome;
    type Error = StoreError;
    type Future = BoxFuture<Result<RecordOutcome, StoreError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, receipts: Vec<Receipt>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.record(&receipts).await })
    }
}
