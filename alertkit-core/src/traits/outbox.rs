//! The [`Outbox`] trait: durable, leased delivery of notifications.
//!
//! A store with an outbox enqueues one row per (target, notifiable change) in
//! the same transaction that records the change, **held** until the
//! classification is attached (the pipeline's [`Handoff`](super::Handoff)
//! releases it) or a bounded wait runs out. Delivery workers
//! [`claim`](Outbox::claim) due rows with a lease, make one attempt each and
//! [`settle`](Outbox::settle) them. Settling is fenced by the attempt number:
//! a worker whose lease expired (and whose row another worker re-claimed)
//! settles nothing. Rows of one alert and target are handed out in order, one
//! at a time, so a resolve never overtakes its firing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use super::{EventKind, Notification};
use crate::{Fingerprint, StoreError};

/// Names one claimed delivery: the outbox row and the attempt it was claimed
/// for. The attempt is the fence: settling with an outdated one does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LeaseRef {
    /// The outbox row.
    pub id: i64,
    /// The attempt number this claim made (1 for the first).
    pub attempt: u32,
}

/// A notification leased to a worker for one delivery attempt to one target.
///
/// Stores build these; fields may be added in a minor release only together
/// with the stores in this workspace.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The lease to settle.
    pub lease: LeaseRef,
    /// The target's name.
    pub target: Arc<str>,
    /// What to deliver, with the alert's latest classification and the
    /// target's reference to its earlier message (`remote_ref`) filled in.
    pub notification: Notification,
    /// When the row was enqueued.
    pub enqueued_at: OffsetDateTime,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The target accepted it; the row is done.
    Delivered,
    /// A filter decided the target should not get it; the row is done.
    Skipped,
    /// It failed transiently; the row is due again later.
    Retry,
    /// It failed for good (or ran out of attempts); the row became a dead letter.
    Dead,
}

impl AttemptOutcome {
    /// The snake_case name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Skipped => "skipped",
            Self::Retry => "retry",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Delivered, Self::Skipped, Self::Retry, Self::Dead]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// The result of one attempt, for [`Outbox::settle`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settlement {
    /// The lease being settled.
    pub lease: LeaseRef,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// When the row is due again ([`AttemptOutcome::Retry`] only).
    pub retry_at: Option<OffsetDateTime>,
    /// HTTP status code, when there was a response.
    pub status_code: Option<u16>,
    /// The error, or why it was skipped (already free of secrets).
    pub detail: Option<String>,
    /// The target's id for the message (Slack `channel:ts`, Rootly alert id);
    /// kept per alert and target and handed to later deliveries as `remote_ref`.
    pub remote_id: Option<String>,
    /// How long the attempt took.
    pub latency: Duration,
}

impl Settlement {
    fn new(lease: LeaseRef, outcome: AttemptOutcome) -> Self {
        Self {
            lease,
            outcome,
            retry_at: None,
            status_code: None,
            detail: None,
            remote_id: None,
            latency: Duration::ZERO,
        }
    }

    /// Delivered.
    pub fn delivered(lease: LeaseRef) -> Self {
        Self::new(lease, AttemptOutcome::Delivered)
    }

    /// Skipped on purpose, saying why.
    pub fn skipped(lease: LeaseRef, reason: impl Into<String>) -> Self {
        Self::new(lease, AttemptOutcome::Skipped).with_detail(reason)
    }

    /// Failed transiently; due again at `at`.
    pub fn retry(lease: LeaseRef, at: OffsetDateTime, error: impl Into<String>) -> Self {
        let mut s = Self::new(lease, AttemptOutcome::Retry).with_detail(error);
        s.retry_at = Some(at);
        s
    }

    /// Failed for good: becomes a dead letter.
    pub fn dead(lease: LeaseRef, error: impl Into<String>) -> Self {
        Self::new(lease, AttemptOutcome::Dead).with_detail(error)
    }

    /// With the HTTP status code.
    #[must_use]
    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status_code = status;
        self
    }

    /// With an error or skip reason.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// With the target's id for the message.
    #[must_use]
    pub fn with_remote_id(mut self, remote_id: Option<String>) -> Self {
        self.remote_id = remote_id;
        self
    }

    /// With the attempt's duration.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// One entry of the delivery log: every attempt at every target.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// The outbox row (dead letters keep the same id).
    pub delivery_id: i64,
    /// The target's name.
    pub target: String,
    /// The alert.
    pub fingerprint: Fingerprint,
    /// What was being delivered.
    pub kind: EventKind,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// When the attempt was settled.
    pub at: OffsetDateTime,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// HTTP status code, when there was a response.
    pub status_code: Option<u16>,
    /// Error or skip reason.
    pub detail: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: f64,
}

/// A notification that could not be delivered.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its id (the outbox row's).
    pub id: i64,
    /// The target's name.
    pub target: String,
    /// What could not be delivered.
    pub notification: Notification,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: Option<String>,
    /// The last HTTP status code.
    pub last_status: Option<u16>,
    /// When it was enqueued.
    pub enqueued_at: OffsetDateTime,
    /// When it was given up.
    pub died_at: OffsetDateTime,
}

/// Selects dead letters to list, replay or purge. Every set field must match.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeadLetterQuery {
    /// Only these ids (empty: any).
    pub ids: Vec<i64>,
    /// Only this target.
    pub target: Option<String>,
    /// Only those that died before this time.
    pub died_before: Option<OffsetDateTime>,
    /// Only ids above this one (list pagination).
    pub after_id: Option<i64>,
    /// Most to list (0: the store's default); replay and purge ignore it.
    pub limit: usize,
}

/// Rows waiting per target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QueueDepth {
    /// The target's name.
    pub target: String,
    /// Waiting, held or scheduled for a retry.
    pub pending: u64,
    /// Leased to a worker now.
    pub in_flight: u64,
    /// Dead letters.
    pub dead: u64,
}

impl QueueDepth {
    /// Counts for `target`.
    pub fn new(target: impl Into<String>, pending: u64, in_flight: u64, dead: u64) -> Self {
        Self {
            target: target.into(),
            pending,
            in_flight,
            dead,
        }
    }
}

/// Durable, leased delivery of notifications.
///
/// A store with an outbox enqueues one row per (target, notifiable change)
/// in the transaction that records the change, held until the pipeline's
/// [`Handoff`](super::Handoff) releases it (or a bounded wait runs out).
/// Workers [`claim`](Outbox::claim) due rows with a lease, make one attempt
/// each and [`settle`](Outbox::settle) them, fenced by the attempt number;
/// rows of one alert and target are handed out in order, one at a time. The
/// contract is checked by `testing::conformance::outbox`.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Leases up to `limit` due rows for `targets` to `worker` for `lease`,
    /// oldest first; at most one row per alert and target is out at a time.
    /// Rows whose lease expired are due again (their worker crashed).
    async fn claim(
        &self,
        worker: &str,
        targets: &[Arc<str>],
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Settles attempts (one transaction), logging each in the delivery log.
    /// Returns, per settlement, whether the lease was still held; a `false`
    /// changed nothing.
    async fn settle(&self, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError>;

    /// Gives leases back unattempted (graceful shutdown): the rows are due now
    /// and the attempt does not count.
    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError>;

    /// The delivery log of one alert, oldest first.
    async fn deliveries(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;

    /// Dead letters, by id.
    async fn dead_letters(&self, query: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError>;

    /// Puts matching dead letters back in the outbox, due now with a fresh
    /// attempt count. Returns how many.
    async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError>;

    /// Deletes matching dead letters. Returns how many.
    async fn purge_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError>;

    /// Rows waiting, in flight and dead, per target.
    async fn depth(&self) -> Result<Vec<QueueDepth>, StoreError>;

    /// Signalled when rows become due early (released, replayed), so idle
    /// workers need not wait for their next poll.
    fn wakeup(&self) -> Arc<tokio::sync::Notify>;
}

#[async_trait]
impl<T: Outbox + ?Sized> Outbox for Arc<T> {
    async fn claim(
        &self,
        worker: &str,
        targets: &[Arc<str>],
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        (**self).claim(worker, targets, limit, lease).await
    }

    async fn settle(&self, settlements: &[Settlement]) -> Result<Vec<bool>, StoreError> {
        (**self).settle(settlements).await
    }

    async fn unlease(&self, leases: &[LeaseRef]) -> Result<(), StoreError> {
        (**self).unlease(leases).await
    }

    async fn deliveries(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        (**self).deliveries(fingerprint).await
    }

    async fn dead_letters(&self, query: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        (**self).dead_letters(query).await
    }

    async fn replay_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        (**self).replay_dead_letters(query).await
    }

    async fn purge_dead_letters(&self, query: &DeadLetterQuery) -> Result<u64, StoreError> {
        (**self).purge_dead_letters(query).await
    }

    async fn depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        (**self).depth().await
    }

    fn wakeup(&self) -> Arc<tokio::sync::Notify> {
        (**self).wakeup()
    }
}
