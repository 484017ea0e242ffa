//! How the SQL stores lay out the timeline (`alertkit_events`), shared by
//! both backends:
//!
//! - **Rows are keyed by the alert's row id** (`alert_id`, index
//!   `(alert_id, id)`), not by fingerprint. A new alert's id is the next in
//!   sequence, so its first events append at the end of that index instead
//!   of landing on a random page, as a random fingerprint key did: the
//!   random-key index was most of the cost of writing an event.
//! - **A change and the verdict recorded with it share one row.** When
//!   [`record_classified`](alertkit_core::HistoryStore::record_classified)
//!   attaches a verdict to a change, the change's row carries it in its
//!   `classification` column (which change rows otherwise leave empty), and
//!   reading unfolds it into the change followed by its `classified` event:
//!   the same logical timeline, one row and one set of index entries fewer.

use std::collections::HashMap;
use std::sync::Arc;

use alertkit_core::{Classification, EventKind, HistoryEvent};

/// One `alertkit_events` row to write.
#[derive(Debug)]
pub(crate) struct EventRow<'a> {
    /// The event (for a folded row, the change).
    pub(crate) event: &'a HistoryEvent,
    /// The `classification` column: a `classified` event's verdict, or the
    /// verdict recorded with the change in the same write.
    pub(crate) verdict: Option<&'a Arc<Classification>>,
}

/// The rows for `events`, in order: a change immediately followed by its
/// `classified` event for the same instance and time becomes one row.
pub(crate) fn rows(events: &[HistoryEvent]) -> Vec<EventRow<'_>> {
    let mut out = Vec::with_capacity(events.len());
    let mut rest = events;
    while let Some((event, tail)) = rest.split_first() {
        match tail.first() {
            Some(next) if folds(event, next) => {
                out.push(EventRow {
                    event,
                    verdict: next.classification.as_ref(),
                });
                rest = &tail[1..];
            }
            _ => {
                out.push(EventRow {
                    event,
                    verdict: event.classification.as_ref(),
                });
                rest = tail;
            }
        }
    }
    out
}

/// Whether `verdict` is the `classified` event recorded with `change`: it
/// then reads back exactly from the change's row (see [`unfold`]).
fn folds(change: &HistoryEvent, verdict: &HistoryEvent) -> bool {
    change.kind != EventKind::Classified
        && change.classification.is_none()
        && verdict.kind == EventKind::Classified
        && verdict.classification.is_some()
        && verdict.annotations.is_none()
        && verdict.fingerprint == change.fingerprint
        && verdict.at == change.at
        && verdict.status == change.status
        && verdict.starts_at == change.starts_at
        && verdict.ends_at == change.ends_at
}

/// Appends the events one stored row stands for: a change row carrying a
/// verdict is the change, then its `classified` event.
pub(crate) fn unfold(mut event: HistoryEvent, out: &mut Vec<HistoryEvent>) {
    let verdict = match event.kind {
        EventKind::Classified => None,
        _ => event.classification.take(),
    };
    let Some(classification) = verdict else {
        out.push(event);
        return;
    };
    let mut classified = HistoryEvent::new(
        event.fingerprint,
        EventKind::Classified,
        event.at,
        event.status,
        event.starts_at,
    );
    classified.ends_at = event.ends_at;
    classified.classification = Some(classification);
    out.push(event);
    out.push(classified);
}

/// The row id of each alert a batch writes, by fingerprint key: read with
/// the stored rows, and (SQLite) assigned to the new ones.
#[derive(Debug, Default)]
pub(crate) struct AlertIds(HashMap<i64, i64>);

impl AlertIds {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(HashMap::with_capacity(n))
    }

    pub(crate) fn insert(&mut self, key: i64, id: i64) {
        self.0.insert(key, id);
    }

    /// The id of the alert with fingerprint key `key`, if known.
    pub(crate) fn get(&self, key: i64) -> Option<i64> {
        self.0.get(&key).copied()
    }

    /// The id of the alert with fingerprint key `key`, which the batch
    /// wrote (so it is known; anything else is a bug, reported, not panicked on).
    #[cfg(feature = "sqlite")]
    pub(crate) fn require(&self, key: i64) -> Result<i64, alertkit_core::StoreError> {
        self.get(key).ok_or_else(|| {
            alertkit_core::StoreError::Backend(
                format!("no alert row for the event of fingerprint key {key}").into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use alertkit_core::{AlertRecord, Receipt, Status};
    use time::macros::datetime;

    use super::*;

    fn change_and_verdict() -> Vec<HistoryEvent> {
        let alert = alertkit_core::Alert::firing(
            [("alertname", "X")].into_iter().collect(),
            datetime!(2026-12-05 00:00 UTC),
        );
        let receipt = Receipt::new(alert, datetime!(2026-12-05 00:01 UTC));
        let (record, kind) = AlertRecord::first(&receipt);
        let verdict = Arc::new(Classification::new(
            alertkit_core::Severity::Critical,
            alertkit_core::Category::Availability,
            0.9,
            alertkit_core::ClassificationSource::Rules,
        ));
        vec![
            HistoryEvent::from_receipt(kind, &receipt),
            HistoryEvent::classified(&record, verdict, receipt.received_at),
        ]
    }

    #[test]
    fn a_change_and_its_verdict_are_one_row_and_read_back_as_two_events() {
        let events = change_and_verdict();
        let rows = rows(&events);
        assert_eq!(rows.len(), 1);
        assert_eq!(read_back(&rows), events);
    }

    /// Stores `rows` as the columns would hold them and reads them back.
    fn read_back(rows: &[EventRow<'_>]) -> Vec<HistoryEvent> {
        let mut read = Vec::new();
        for row in rows {
            let mut stored = row.event.clone();
            stored.classification = row.verdict.cloned();
            unfold(stored, &mut read);
        }
        read
    }

    proptest::proptest! {
        /// Whatever the batch state machine produces for a realistic
        /// delivery stream (re-sends, flapping, HA duplicates), with or
        /// without a verdict per receipt, reads back event for event, and
        /// every notifiable change recorded with a verdict shares its row.
        #[test]
        fn rows_read_back_as_the_events_they_were_made_from(
            alerts in alertkit_core::testing::strategies::alert_stream(false, 2),
            verdict_mask in proptest::collection::vec(proptest::bool::ANY, 1..64),
        ) {
            let t0 = datetime!(2026-12-05 00:00 UTC);
            let receipts: Vec<Receipt> = alerts
                .into_iter()
                .enumerate()
                .map(|(i, a)| Receipt::new(a, t0 + time::Duration::milliseconds(i as i64)))
                .collect();
            let keys: Vec<i64> = receipts
                .iter()
                .map(|r| crate::sql::codec::fp_key(r.alert.fingerprint()))
                .collect();
            let verdict = Arc::new(Classification::new(
                alertkit_core::Severity::Warning,
                alertkit_core::Category::Availability,
                0.5,
                alertkit_core::ClassificationSource::Rules,
            ));
            let verdicts: Vec<Option<Arc<Classification>>> = (0..receipts.len())
                .map(|i| verdict_mask[i % verdict_mask.len()].then(|| Arc::clone(&verdict)))
                .collect();
            let batch = crate::sql::apply_batch(&receipts, &keys, Vec::new(), &verdicts);
            let rows = rows(&batch.events);
            proptest::prop_assert_eq!(read_back(&rows), batch.events.clone());
            let classified = batch
                .events
                .iter()
                .filter(|e| e.kind == EventKind::Classified)
                .count();
            proptest::prop_assert_eq!(rows.len(), batch.events.len() - classified);
        }
    }

    #[test]
    fn a_verdict_for_another_instance_keeps_its_own_row() {
        let mut events = change_and_verdict();
        events[1].status = Status::Resolved;
        assert_eq!(rows(&events).len(), 2);
        events.swap(0, 1);
        assert_eq!(rows(&events).len(), 2);
    }
}
