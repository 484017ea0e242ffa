//! [`Progress`]: a signal that notifications moved on (handed off by the
//! pipeline, or a delivery attempt settled), so `/webhook/proxy` waits for
//! it instead of polling the store.
//!
//! The signal is coarse (any alert, any target): a waiter re-reads the
//! store when it fires and waits again if its alerts are not done. Bursts
//! coalesce (a `watch` channel keeps only the latest value), so a waiter
//! reads at most once per wake-up however many batches settled meanwhile.

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::traits::{
    DeadLetter, DeadLetterQuery, Delivery, DeliveryAttempt, LeaseRef, QueueDepth, Settlement,
};
use alertkit_core::{Fingerprint, Handoff, Notification, Outbox, StoreError};
use async_trait::async_trait;
use tokio::sync::watch;

/// A counter bumped on every hand-off and settle; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Progress(Arc<watch::Sender<u64>>);

impl Default for Progress {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Progress {
    /// Wakes every waiter.
    pub(crate) fn signal(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A waiter; it sees signals sent after this call.
    pub(crate) fn subscribe(&self) -> Waiter {
        Waiter(self.0.subscribe())
    }
}

/// One waiter on a [`Progress`].
#[derive(Debug)]
pub(crate) struct Waiter(watch::Receiver<u64>);

impl Waiter {
    /// Forgets the signals seen so far: call before reading the state the
    /// wait is about, so a signal sent during the read is not missed.
    pub(crate) fn mark_seen(&mut self) {
        self.0.mark_unchanged();
    }

    /// Waits for a signal after the last [`mark_seen`](Self::mark_seen), at
    /// most `max`. Returns at once if one came in between.
    pub(crate) async fn wait(&mut self, max: Duration) {
        // The sender lives as long as the app; an error means shutdown.
        let _ = tokio::time::timeout(max, self.0.changed()).await;
    }
}

/// The pipeline's hand-off, signalling [`Progress`] after each batch (the
/// classifications are attached to history before the hand-off).
pub(crate) struct SignalHandoff {
    inner: Arc<dyn Handoff>,
    progress: Progress,
}

impl SignalHandoff {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn Handoff>, progress: Progress) -> Self {
        Self { inner, progress }
    }
}

#[async_trait]
impl Handoff for SignalHandoff {
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        let result = self.inner.hand_off(notifications).await;
        self.progress.signal();
        result
    }
}

/// An outbox that signals [`Progress`] after each settle (a delivery
/// attempt logged); everything else goes straight to the store's outbox.
pub(crate) struct SignalOutbox {
    inner: Arc<dyn Outbox>,
    progress: Progress,
}

impl SignalOutbox {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn Outbox>, progress: Progress) -> Self {
        Self { inner, progress }
    }
}

#[async_trait]
impl Outbox for SignalOutbox {
    async fn claim(
        &self,
        worker: &str,
        targets: &[Arc<str>],
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.inner.claim(worker, targets, limit, lease).await
    }

    async fn settle(&self, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        let result = self.inner.settle(settlements).await;
        self.progress.signal();
        result
    }

    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError> {
        self.inner.unlease(leases).await
    }

    async fn deliveries(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.inner.deliveries(fingerprint).await
    }

    async fn dead_letters(&self, query: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(query).await
    }

    async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        self.inner.replay_dead_letters(query).await
    }

    async fn purge_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        self.inner.purge_dead_letters(query).await
    }

    async fn depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        self.inner.depth().await
    }

    fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.inner.wakeup()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Progress;

    #[tokio::test]
    async fn a_signal_during_the_read_is_not_missed() {
        let progress = Progress::default();
        let mut waiter = progress.subscribe();
        waiter.mark_seen();
        // "Reading the state" here; a hand-off lands meanwhile.
        progress.signal();
        // Returns at once: the signal is pending (an hour would hang the test).
        waiter.wait(Duration::from_secs(3600)).await;
        waiter.mark_seen();
        progress.signal();
        progress.signal();
        waiter.wait(Duration::from_secs(3600)).await;
    }
}
