//! [`MemoryJournal`]: the reference [`Journal`], in memory.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::traits::{Journal, JournalEntry, decode_receipts, encode_receipts};
use crate::{Receipt, StoreError};

/// A [`Journal`] in memory: entries survive nothing, so it only serves tests
/// and as the reference the conformance suite is checked against. Entries
/// go through [`encode_receipts`] like a durable backend's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use alertkit_core::memory::MemoryJournal;
/// use alertkit_core::{Alert, Journal, LabelSet, Receipt};
/// use time::OffsetDateTime;
///
/// let journal = MemoryJournal::default();
/// let now = OffsetDateTime::now_utc();
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Up")]), now);
/// let seq = journal.append(&[Receipt::new(alert, now)]).await?;
/// assert_eq!(journal.unconsumed().await?.len(), 1);
/// journal.consume(seq).await?;
/// assert!(journal.unconsumed().await?.is_empty());
/// # Ok::<(), alertkit_core::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryJournal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    last: u64,
    entries: std::collections::VecDeque<(u64, Vec<u8>)>,
}

impl MemoryJournal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn append(&self, receipts: &[Receipt]) -> Result<u64, StoreError> {
        let bytes = encode_receipts(receipts)?;
        let mut inner = self.lock();
        inner.last += 1;
        let seq = inner.last;
        inner.entries.push_back((seq, bytes));
        Ok(seq)
    }

    async fn unconsumed(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let entries: Vec<(u64, Vec<u8>)> = self.lock().entries.iter().cloned().collect();
        entries
            .into_iter()
            .map(|(seq, bytes)| Ok(JournalEntry::new(seq, decode_receipts(&bytes)?)))
            .collect()
    }

    async fn consume(&self, seq: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        while inner.entries.front().is_some_and(|(s, _)| *s <= seq) {
            inner.entries.pop_front();
        }
        Ok(())
    }
}
