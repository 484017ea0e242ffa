//! [`FanOut`]: one notification to many targets; [`DirectHandoff`]: publish without an outbox.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::future::join_all;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use crate::traits::{BoxFuture, PublisherService};
use crate::{BoxError, Handoff, Notification, PublishError, PublishReceipt, Publisher, StoreError};

type TargetService = BoxCloneSyncService<Notification, PublishReceipt, BoxError>;

/// The result of one notification at one target.
#[derive(Debug)]
#[non_exhaustive]
pub struct TargetResult {
    /// The target's name.
    pub target: Arc<str>,
    /// What happened.
    pub result: Result<PublishReceipt, PublishError>,
}

/// Sends each notification to every target concurrently and reports per target.
///
/// Targets are publishers or whole tower stacks (a filter, a rate limit and a
/// timeout around a publisher), chosen at runtime.
///
/// ```
/// use std::sync::Arc;
/// use alertkit_core::layer::{FanOut, FilterLayer, PublishFilter};
/// use alertkit_core::memory::RecordingPublisher;
/// use alertkit_core::traits::PublisherService;
/// use alertkit_core::Severity;
/// use tower::ServiceBuilder;
///
/// let pager = Arc::new(RecordingPublisher::new("pager", 100));
/// let chat = Arc::new(RecordingPublisher::new("chat", 100));
/// let fanout = FanOut::new()
///     .with_publisher(chat.clone())
///     .with_service(
///         "pager",
///         ServiceBuilder::new()
///             .layer(FilterLayer::new(PublishFilter { min_severity: Some(Severity::Critical), ..Default::default() }))
///             .service(PublisherService::new(pager.clone())),
///     );
/// assert_eq!(fanout.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FanOut {
    targets: Vec<(Arc<str>, TargetService)>,
}

impl FanOut {
    /// No targets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a publisher as a target, under its own name.
    #[must_use]
    pub fn with_publisher<P: Publisher + ?Sized>(self, publisher: Arc<P>) -> Self {
        let name = publisher.name().to_owned();
        self.with_service(name, PublisherService::new(publisher))
    }

    /// Adds a tower service stack as a target named `name`.
    #[must_use]
    pub fn with_service<S>(mut self, name: impl Into<Arc<str>>, service: S) -> Self
    where
        S: Service<Notification, Response = PublishReceipt> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let service = BoxCloneSyncService::new(service.map_err(Into::into));
        self.targets.push((name.into(), service));
        self
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no targets (alertkit's "metrics-only" publishing mode).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Target names, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|(name, _)| &**name)
    }

    /// Publishes `n` to every target concurrently.
    pub async fn publish_all(&self, n: &Notification) -> Vec<TargetResult> {
        join_all(self.targets.iter().map(|(name, svc)| {
            let svc = svc.clone();
            let n = n.clone();
            let target = Arc::clone(name);
            async move {
                let result = svc.oneshot(n).await.map_err(PublishError::from_box);
                TargetResult { target, result }
            }
        }))
        .await
    }
}

impl Service<Notification> for FanOut {
    type Response = Vec<TargetResult>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Vec<TargetResult>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, n: Notification) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.publish_all(&n).await) })
    }
}

/// A [`Handoff`] that publishes immediately through a [`FanOut`].
///
/// Delivery is best effort: one attempt per target (wrap targets in retry
/// layers for more), failures are logged and counted, and nothing survives a
/// restart. Use it for tests, simulation and embedding without a database;
/// production deployments hand off to the durable outbox of `alertkit-store`.
#[derive(Debug, Clone)]
pub struct DirectHandoff {
    fanout: FanOut,
}

impl DirectHandoff {
    /// Publishes through `fanout`.
    pub fn new(fanout: FanOut) -> Self {
        Self { fanout }
    }
}

#[async_trait]
impl Handoff for DirectHandoff {
    async fn hand_off(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        if self.fanout.is_empty() {
            return Ok(());
        }
        for n in notifications {
            for TargetResult { target, result } in self.fanout.publish_all(n).await {
                let outcome = match &result {
                    Ok(receipt) if receipt.is_delivered() => "delivered",
                    Ok(_) => "skipped",
                    Err(e) => {
                        tracing::warn!(target = %target, dedup_key = %n.alert.state_key(), error = %e, "delivery failed");
                        "failed"
                    }
                };
                let target = metrics::SharedString::from(target);
                metrics::counter!("alertkit_publish_total", "target" => target, "outcome" => outcome)
                    .increment(1);
            }
        }
        Ok(())
    }
}
