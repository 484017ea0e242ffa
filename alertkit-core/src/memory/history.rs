//! [`MemoryHistoryStore`]: a bounded in-process [`HistoryStore`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::lock;
use crate::traits::{Cursor, HistoryPage};
use crate::{
    AlertRecord, Classification, EventKind, Fingerprint, HistoryEvent, HistoryQuery, HistoryStore,
    Receipt, RecordOutcome, StateKey, Status, StoreError,
};

/// Bounds of a [`MemoryHistoryStore`].
#[derive(Debug, Clone, Copy)]
pub struct MemoryHistoryConfig {
    /// Alerts kept; beyond it the least recently changed resolved alert
    /// (else the least recently changed alert) is forgotten.
    pub max_alerts: usize,
    /// Timeline entries kept per alert (oldest dropped first).
    pub max_events_per_alert: usize,
    /// Page size when a query asks for 0.
    pub default_page_size: usize,
    /// Largest page served.
    pub max_page_size: usize,
}

impl Default for MemoryHistoryConfig {
    fn default() -> Self {
        Self {
            max_alerts: 100_000,
            max_events_per_alert: 256,
            default_page_size: 100,
            max_page_size: 1_000,
        }
    }
}

/// History kept in memory, bounded by [`MemoryHistoryConfig`].
///
/// Real and complete (it passes the `HistoryStore` conformance suite) but not
/// durable: a restart forgets everything. Use it for tests, simulation and
/// embedding; the SQLite and Postgres stores of `alertkit-store` are durable.
///
/// ```
/// # tokio_test_block_on(async {
/// use alertkit_core::{Alert, HistoryStore, LabelSet, Receipt, EventKind};
/// use alertkit_core::memory::MemoryHistoryStore;
/// use time::OffsetDateTime;
///
/// let store = MemoryHistoryStore::default();
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Up")]), OffsetDateTime::UNIX_EPOCH);
/// let receipt = Receipt::new(alert, OffsetDateTime::now_utc());
/// let first = store.record(&[receipt.clone()]).await.unwrap();
/// assert_eq!(first.changes, [Some(EventKind::Firing)]);
/// let again = store.record(&[receipt]).await.unwrap();
/// assert_eq!(again.changes, [None]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryHistoryStore {
    config: MemoryHistoryConfig,
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    alerts: HashMap<Fingerprint, Entry, FingerprintHasher>,
    /// `(last_changed nanos, fingerprint)` of every alert, for pages and eviction.
    order: BTreeSet<(i128, Fingerprint)>,
    /// The same keys for resolved alerts only: the first eviction candidates.
    resolved: BTreeSet<(i128, Fingerprint)>,
}

/// Fingerprints are already FNV hashes: use them as `HashMap` hashes as they are.
#[derive(Debug, Default, Clone, Copy)]
struct FingerprintHasher;

impl std::hash::BuildHasher for FingerprintHasher {
    type Hasher = IdentityHasher;

    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

/// Passes a `u64` through; other input (never written by `Fingerprint`) is folded in.
#[derive(Debug)]
struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug)]
struct Entry {
    record: AlertRecord,
    events: VecDeque<HistoryEvent>,
}

impl MemoryHistoryStore {
    /// An empty store with `config`.
    pub fn new(config: MemoryHistoryConfig) -> Self {
        Self {
            config,
            state: RwLock::default(),
        }
    }

    /// Number of alerts held.
    pub fn len(&self) -> usize {
        lock::read(&self.state).alerts.len()
    }

    /// Whether the store holds no alerts.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    fn index(&mut self, key: (i128, Fingerprint), status: Status) {
        self.order.insert(key);
        if status == Status::Resolved {
            self.resolved.insert(key);
        }
    }

    fn unindex(&mut self, key: &(i128, Fingerprint)) {
        self.order.remove(key);
        self.resolved.remove(key);
    }

    fn apply(&mut self, r: &Receipt, config: &MemoryHistoryConfig) -> Option<EventKind> {
        let fp = r.alert.fingerprint();
        let Some(entry) = self.alerts.get_mut(&fp) else {
            let (record, kind) = AlertRecord::first(r);
            self.index((r.received_at.unix_timestamp_nanos(), fp), record.status);
            // Room for the classification that usually follows, and a resolve.
            let mut events = VecDeque::with_capacity(4);
            events.push_back(HistoryEvent::from_receipt(kind, r));
            self.alerts.insert(fp, Entry { record, events });
            self.evict(config.max_alerts);
            return Some(kind);
        };
        let old_key = (entry.record.last_changed.unix_timestamp_nanos(), fp);
        let kind = entry.record.apply(r)?;
        let new_key = (entry.record.last_changed.unix_timestamp_nanos(), fp);
        let status = entry.record.status;
        entry.events.push_back(HistoryEvent::from_receipt(kind, r));
        while entry.events.len() > config.max_events_per_alert.max(1) {
            entry.events.pop_front();
        }
        self.unindex(&old_key);
        self.index(new_key, status);
        Some(kind)
    }

    fn evict(&mut self, max_alerts: usize) {
        while self.alerts.len() > max_alerts.max(1) {
            let Some(key) = self
                .resolved
                .first()
                .or_else(|| self.order.first())
                .copied()
            else {
                return;
            };
            self.unindex(&key);
            self.alerts.remove(&key.1);
        }
    }
}

#[async_trait]
impl HistoryStore for MemoryHistoryStore {
    async fn record(&self, receipts: &[Receipt]) -> Result<RecordOutcome, StoreError> {
        self.record_classified(receipts, &[]).await
    }

    async fn record_classified(
        &self,
        receipts: &[Receipt],
        verdicts: &[Option<Arc<Classification>>],
    ) -> Result<RecordOutcome, StoreError> {
        let mut state = lock::write(&self.state);
        let max_events = self.config.max_events_per_alert.max(1);
        let changes = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let change = state.apply(r, &self.config);
                if let (Some(kind), Some(Some(v))) = (change, verdicts.get(i))
                    && kind.is_notifiable()
                    && let Some(entry) = state.alerts.get_mut(&r.alert.fingerprint())
                {
                    entry.record.classification = Some(Arc::clone(v));
                    let event =
                        HistoryEvent::classified(&entry.record, Arc::clone(v), r.received_at);
                    entry.events.push_back(event);
                    while entry.events.len() > max_events {
                        entry.events.pop_front();
                    }
                }
                change
            })
            .collect();
        Ok(RecordOutcome { changes })
    }

    async fn attach_classifications(
        &self,
        items: &[(StateKey, Arc<Classification>)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut state = lock::write(&self.state);
        let max_events = self.config.max_events_per_alert.max(1);
        Ok(items
            .iter()
            .map(|(key, classification)| {
                let Some(entry) = state.alerts.get_mut(&key.fingerprint) else {
                    return false;
                };
                let rec = &mut entry.record;
                if rec.starts_at.unix_timestamp_nanos() != key.starts_at {
                    return false;
                }
                rec.classification = Some(Arc::clone(classification));
                let event = HistoryEvent::classified(rec, Arc::clone(classification), at);
                entry.events.push_back(event);
                while entry.events.len() > max_events {
                    entry.events.pop_front();
                }
                true
            })
            .collect())
    }

    async fn get(&self, fingerprint: Fingerprint) -> Result<Option<AlertRecord>, StoreError> {
        Ok(lock::read(&self.state)
            .alerts
            .get(&fingerprint)
            .map(|e| e.record.clone()))
    }

    async fn timeline(&self, fingerprint: Fingerprint) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(lock::read(&self.state)
            .alerts
            .get(&fingerprint)
            .map(|e| e.events.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn list(&self, query: &HistoryQuery) -> Result<HistoryPage, StoreError> {
        let limit = match query.limit {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        }
        .max(1);
        let state = lock::read(&self.state);
        let after = query.after.map(|c| (c.last_changed, c.fingerprint));
        let keys: Box<dyn Iterator<Item = &(i128, Fingerprint)>> = match (query.oldest_first, after)
        {
            (false, Some(c)) => Box::new(state.order.range(..c).rev()),
            (false, None) => Box::new(state.order.iter().rev()),
            (true, Some(c)) => Box::new(state.order.range((Bound::Excluded(c), Bound::Unbounded))),
            (true, None) => Box::new(state.order.iter()),
        };
        let mut records = Vec::with_capacity(limit.min(64));
        let mut more = false;
        for (_, fp) in keys {
            let Some(entry) = state.alerts.get(fp) else {
                continue;
            };
            if !query.matches(&entry.record) {
                continue;
            }
            if records.len() == limit {
                more = true;
                break;
            }
            records.push(entry.record.clone());
        }
        let next = if more {
            records.last().map(Cursor::after)
        } else {
            None
        };
        Ok(HistoryPage { records, next })
    }
}

mod stats;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Alert, LabelSet};

    fn receipt(name: &str, resolved: bool, secs: i64) -> Receipt {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs);
        let mut alert = Alert::firing(LabelSet::from_pairs([("alertname", name)]), t);
        if resolved {
            alert = alert.resolved_at(t);
        }
        Receipt::new(alert, t)
    }

    #[tokio::test]
    async fn evicts_the_least_recently_changed_resolved_alert_first() {
        let store = MemoryHistoryStore::new(MemoryHistoryConfig {
            max_alerts: 3,
            ..MemoryHistoryConfig::default()
        });
        let fp = |n: &str| LabelSet::from_pairs([("alertname", n)]).fingerprint();
        store
            .record(&[
                receipt("firing-old", false, 1),
                receipt("resolved-old", true, 2),
                receipt("resolved-new", true, 3),
                receipt("firing-new", false, 4),
            ])
            .await
            .unwrap();
        assert_eq!(store.len(), 3);
        assert!(store.get(fp("resolved-old")).await.unwrap().is_none());
        store.record(&[receipt("another", false, 5)]).await.unwrap();
        assert!(store.get(fp("resolved-new")).await.unwrap().is_none());
        // No resolved alert left: the least recently changed one goes.
        store.record(&[receipt("third", false, 6)]).await.unwrap();
        assert!(store.get(fp("firing-old")).await.unwrap().is_none());
        assert!(store.get(fp("firing-new")).await.unwrap().is_some());
        let page = store.list(&HistoryQuery::default()).await.unwrap();
        assert_eq!(page.records.len(), 3);
    }
}
