//! The [`Publisher`] trait, the [`Notification`] it delivers, and the
//! [`Handoff`] seam between the pipeline and delivery.

use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use time::OffsetDateTime;
use tower::{Service, ServiceExt};

use super::BoxFuture;
use crate::{Alert, BoxError, Classification, EventKind, PublishError, StoreError};

/// Where a batch of alerts came from (Alertmanager's grouping, when known).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Origin {
    /// Alertmanager receiver name, or the source's name.
    pub receiver: String,
    /// Alertmanager aggregation group key.
    pub group_key: String,
    /// Alertmanager's external URL (for silence links).
    pub external_url: String,
}

impl Origin {
    /// An origin with only a receiver / source name.
    pub fn named(receiver: impl Into<String>) -> Self {
        Self {
            receiver: receiver.into(),
            ..Self::default()
        }
    }

    /// The origin of an Alertmanager webhook message.
    pub fn of_webhook(msg: &crate::WebhookMessage) -> Self {
        Self {
            receiver: msg.receiver.clone(),
            group_key: msg.group_key.clone(),
            external_url: msg.external_url.clone(),
        }
    }
}

/// One alert state change to deliver to targets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Notification {
    /// The alert as received.
    pub alert: Alert,
    /// What changed (firing, resolved, re-fired).
    pub kind: EventKind,
    /// The classification, when one was made in time.
    pub classification: Option<Arc<Classification>>,
    /// Where the alert came from.
    pub origin: Arc<Origin>,
    /// When alertkit received the alert state.
    pub received_at: OffsetDateTime,
    /// What the target called its earlier message about this alert (Slack
    /// `channel:ts`, Rootly alert id), when a delivery recorded one; lets a
    /// resolve update or close what the firing created.
    pub remote_ref: Option<Arc<str>>,
}

impl Notification {
    /// A notification for `alert` with the dedup key derived from its state.
    pub fn new(alert: Alert, kind: EventKind, origin: Arc<Origin>) -> Self {
        Self {
            alert,
            kind,
            classification: None,
            origin,
            received_at: OffsetDateTime::now_utc(),
            remote_ref: None,
        }
    }

    /// Stable key of this state change (see [`Alert::state_key`]); deliveries
    /// of the same key must be idempotent at the target.
    pub fn dedup_key(&self) -> String {
        self.alert.state_key().to_string()
    }

    /// With the target's reference to its earlier message about this alert.
    #[must_use]
    pub fn with_remote_ref(mut self, remote_ref: impl Into<Arc<str>>) -> Self {
        self.remote_ref = Some(remote_ref.into());
        self
    }

    /// With a classification attached.
    #[must_use]
    pub fn with_classification(mut self, classification: Arc<Classification>) -> Self {
        self.classification = Some(classification);
        self
    }
}

/// What happened to one notification at one target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishOutcome {
    /// The target accepted it.
    Delivered,
    /// A filter decided this target should not get it.
    Skipped {
        /// Why (e.g. `severity info below warning`).
        reason: String,
    },
}

/// A publisher's answer for one delivered (or deliberately skipped) notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReceipt {
    /// Delivered or skipped.
    pub outcome: PublishOutcome,
    /// HTTP status code, when there was a request.
    pub status_code: Option<u16>,
    /// Id the target gave the message (Slack `ts`, Rootly alert id), to update it later.
    pub remote_id: Option<String>,
}

impl PublishReceipt {
    /// Delivered, with nothing else to report.
    pub fn delivered() -> Self {
        Self {
            outcome: PublishOutcome::Delivered,
            status_code: None,
            remote_id: None,
        }
    }

    /// Not sent, on purpose.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self {
            outcome: PublishOutcome::Skipped {
                reason: reason.into(),
            },
            status_code: None,
            remote_id: None,
        }
    }

    /// With the HTTP status code.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_code = Some(status);
        self
    }

    /// With the target's id for the message.
    #[must_use]
    pub fn with_remote_id(mut self, id: impl Into<String>) -> Self {
        self.remote_id = Some(id.into());
        self
    }

    /// Whether the target got the notification.
    pub fn is_delivered(&self) -> bool {
        self.outcome == PublishOutcome::Delivered
    }
}

/// Delivers notifications to one target (Slack, PagerDuty, a webhook, a file…).
///
/// A plugin is a few dozen lines: a name and one async method. Retries, rate
/// limits and timeouts are layered on from outside (see [`crate::layer`]),
/// so `publish` makes one attempt and says, through [`PublishError`], whether
/// another attempt could succeed.
///
/// ```
/// use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher};
///
/// /// Prints one line per notification.
/// struct Stdout;
///
/// #[async_trait::async_trait]
/// impl Publisher for Stdout {
///     fn name(&self) -> &str { "stdout" }
///     async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
///         println!("{} {} {}", n.kind, n.alert.fingerprint(), n.alert.labels);
///         Ok(PublishReceipt::delivered())
///     }
/// }
/// ```
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// The target's name, unique among the configured targets.
    fn name(&self) -> &str;

    /// Makes one delivery attempt.
    async fn publish(&self, notification: &Notification) -> Result<PublishReceipt, PublishError>;
}

#[async_trait]
impl<T: Publisher + ?Sized> Publisher for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn publish(&self, notification: &Notification) -> Result<PublishReceipt, PublishError> {
        (**self).publish(notification).await
    }
}

/// Drives a [`Publisher`] as a `tower::Service<Notification>`.
#[derive(Debug)]
pub struct PublisherService<P: ?Sized> {
    inner: Arc<P>,
}

impl<P: ?Sized> PublisherService<P> {
    /// Wraps a shared publisher.
    pub fn new(inner: Arc<P>) -> Self {
        Self { inner }
    }

    /// The wrapped publisher.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }
}

impl<P: ?Sized> Clone for PublisherService<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: Publisher + ?Sized> Service<Notification> for PublisherService<P> {
    type Response = PublishReceipt;
    type Error = PublishError;
    type Future = BoxFuture<Result<PublishReceipt, PublishError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: Notification) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.publish(&n).await })
    }
}

/// Turns a tower service stack back into a [`Publisher`], recovering typed
/// errors with [`PublishError::from_box`].
#[derive(Debug, Clone)]
pub struct ServicePublisher<S> {
    service: S,
    name: Arc<str>,
}

impl<S> ServicePublisher<S> {
    /// A publisher named `name` backed by `service`.
    pub fn new(name: impl Into<Arc<str>>, service: S) -> Self {
        Self {
            service,
            name: name.into(),
        }
    }
}

#[async_trait]
impl<S> Publisher for ServicePublisher<S>
where
    S: Service<Notification, Response = PublishReceipt> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, notification: &Notification) -> Result<PublishReceipt, PublishError> {
        self.service
            .clone()
            .oneshot(notification.clone())
            .await
            .map_err(|e| PublishError::from_box(e.into()))
    }
}

/// The seam between the pipeline and delivery.
///
/// The pipeline calls `hand_off` once notifications are ready (classified, or
/// the classification wait ran out). An implementation takes responsibility
/// for delivery when it returns `Ok`: the durable outbox (alertkit-store)
/// commits them for its workers; [`DirectHandoff`](crate::layer::DirectHandoff)
/// publishes right away to a [`FanOut`](crate::layer::FanOut).
#[async_trait]
pub trait Handoff: Send + Sync + 'static {
    /// Takes responsibility for delivering `notifications`.
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: Handoff + ?Sized> Handoff for Arc<T> {
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        (**self).hand_off(notifications).await
    }
}
