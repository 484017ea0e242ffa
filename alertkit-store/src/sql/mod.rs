//! What the SQL stores share: row codecs, the batch state machine run, and
//! list scanning. Only the SQL text and binding differ per backend.

pub(crate) mod codec;
pub(crate) mod migrations;
pub(crate) mod outbox;
pub(crate) mod retention;
pub(crate) mod stats;
pub(crate) mod timeline;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use alertkit_core::traits::{Cursor, HistoryPage};
use alertkit_core::{
    AlertRecord, Classification, EventKind, HistoryEvent, HistoryQuery, Receipt, StoreError,
};

use codec::{fp_key, nanos, status_code};

/// Rows read per list query; a page filtered in Rust may need several.
pub(crate) const LIST_CHUNK: i64 = 256;

/// Rejects times the schema cannot hold, naming the receipt, before any write.
pub(crate) fn check_times(receipts: &[Receipt]) -> Result<(), StoreError> {
    for (i, r) in receipts.iter().enumerate() {
        let named = |e: StoreError| match e {
            StoreError::Invalid(m) => StoreError::Invalid(format!("receipts[{i}].{m}")),
            other => other,
        };
        nanos("startsAt", r.alert.starts_at).map_err(named)?;
        if let Some(t) = r.alert.ends_at {
            nanos("endsAt", t).map_err(named)?;
        }
        nanos("received_at", r.received_at).map_err(named)?;
    }
    Ok(())
}

/// What one `record` call writes: each receipt's change, the events to
/// append, and the rows to upsert (every receipt moves at least `last_seen`).
#[derive(Debug)]
pub(crate) struct BatchWrite {
    pub(crate) changes: Vec<Option<EventKind>>,
    pub(crate) events: Vec<HistoryEvent>,
    pub(crate) records: Vec<AlertRecord>,
}

/// Runs the history state machine over a batch against the stored rows of
/// its alerts (`stored`, read in the same transaction). `keys` are the
/// receipts' fingerprint keys, in order; `verdicts` (empty, or one per
/// receipt) are attached to notifiable changes as
/// [`HistoryStore::record_classified`](alertkit_core::HistoryStore::record_classified) says.
pub(crate) fn apply_batch(
    receipts: &[Receipt],
    keys: &[i64],
    stored: Vec<AlertRecord>,
    verdicts: &[Option<Arc<Classification>>],
) -> BatchWrite {
    let mut current: HashMap<i64, AlertRecord> = HashMap::with_capacity(keys.len());
    for rec in stored {
        current.insert(fp_key(rec.fingerprint), rec);
    }
    let mut changes = Vec::with_capacity(receipts.len());
    let mut events = Vec::new();
    for (i, (r, &key)) in receipts.iter().zip(keys).enumerate() {
        let (rec, change) = match current.entry(key) {
            Entry::Vacant(slot) => {
                let (rec, kind) = AlertRecord::first(r);
                (slot.insert(rec), Some(kind))
            }
            Entry::Occupied(slot) => {
                let rec = slot.into_mut();
                let change = rec.apply(r);
                (rec, change)
            }
        };
        if let Some(kind) = change {
            events.push(HistoryEvent::from_receipt(kind, r));
            if let Some(Some(v)) = verdicts.get(i)
                && kind.is_notifiable()
            {
                rec.classification = Some(Arc::clone(v));
                events.push(HistoryEvent::classified(rec, Arc::clone(v), r.received_at));
            }
        }
        changes.push(change);
    }
    let mut records: Vec<AlertRecord> = current.into_values().collect();
    records.sort_unstable_by_key(|r| r.fingerprint);
    BatchWrite {
        changes,
        events,
        records,
    }
}

/// The SQL-side filters of a [`HistoryQuery`] (status, time range, cursor);
/// the rest is checked in Rust by [`Scan::offer`].
#[derive(Debug)]
pub(crate) struct ListPlan<'q> {
    query: &'q HistoryQuery,
    pub(crate) status: Option<i64>,
    pub(crate) since: Option<i64>,
    pub(crate) until: Option<i64>,
    limit: usize,
    after: Option<(i64, i64)>,
}

impl<'q> ListPlan<'q> {
    pub(crate) fn new(query: &'q HistoryQuery) -> Result<Self, StoreError> {
        let after = query
            .after
            .map(|c| {
                i64::try_from(c.last_changed)
                    .map(|n| (n, fp_key(c.fingerprint)))
                    .map_err(|_| StoreError::InvalidQuery("after: cursor out of range".into()))
            })
            .transpose()?;
        Ok(Self {
            query,
            status: query.status.map(status_code),
            since: query.since.map(|t| nanos("since", t)).transpose()?,
            until: query.until.map(|t| nanos("until", t)).transpose()?,
            limit: match query.limit {
                0 => 100,
                n => n.min(1000),
            },
            after,
        })
    }

    pub(crate) fn start(&self) -> Scan<'q> {
        Scan {
            query: self.query,
            limit: self.limit,
            after: self.after,
            records: Vec::with_capacity(self.limit.min(64)),
            more: false,
        }
    }
}

/// Rows read in key order, filtered into a page.
#[derive(Debug)]
pub(crate) struct Scan<'q> {
    query: &'q HistoryQuery,
    limit: usize,
    /// Key of the last row read: where the next chunk starts.
    pub(crate) after: Option<(i64, i64)>,
    records: Vec<AlertRecord>,
    more: bool,
}

impl Scan<'_> {
    /// Takes the records of one chunk of rows read in key order (at most
    /// [`LIST_CHUNK`]); `true` once the page is complete.
    pub(crate) fn feed(&mut self, records: Vec<AlertRecord>) -> Result<bool, StoreError> {
        let exhausted = (records.len() as i64) < LIST_CHUNK;
        for rec in records {
            if self.offer(rec)? {
                return Ok(true);
            }
        }
        Ok(exhausted)
    }

    /// Takes the next row in key order; `true` once the page is full and
    /// another matching row exists.
    fn offer(&mut self, rec: AlertRecord) -> Result<bool, StoreError> {
        self.after = Some((
            nanos("last_changed", rec.last_changed)?,
            fp_key(rec.fingerprint),
        ));
        if !self.query.matches(&rec) {
            return Ok(false);
        }
        if self.records.len() == self.limit {
            self.more = true;
            return Ok(true);
        }
        self.records.push(rec);
        Ok(false)
    }

    pub(crate) fn finish(self) -> HistoryPage {
        let next = if self.more {
            self.records.last().map(Cursor::after)
        } else {
            None
        };
        HistoryPage {
            records: self.records,
            next,
        }
    }
}
