//! The [`AlertSource`] trait: where batches of alerts come from.

use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use tokio::sync::Mutex;
use tower::Service;

use super::BoxFuture;
use crate::{Alert, Origin, SourceError, WebhookMessage};

/// A batch of alerts from one place, processed together.
#[derive(Debug, Clone)]
pub struct SourceBatch {
    /// Where it came from.
    pub origin: Arc<Origin>,
    /// The alerts.
    pub alerts: Vec<Alert>,
}

impl SourceBatch {
    /// A batch from `origin`.
    pub fn new(origin: Origin, alerts: Vec<Alert>) -> Self {
        Self {
            origin: Arc::new(origin),
            alerts,
        }
    }

    /// The alerts of a webhook message, with its origin.
    pub fn from_webhook(msg: WebhookMessage) -> Self {
        let origin = Origin::of_webhook(&msg);
        Self::new(origin, msg.alerts)
    }
}

/// A pull-based producer of alert batches (a queue consumer, a poller, a
/// replay file). Push-based producers such as HTTP handlers use
/// [`Ingest::submit`](crate::pipeline::Ingest::submit) instead.
///
/// The pipeline calls [`next_batch`](AlertSource::next_batch) and, once the
/// batch is committed to history, [`commit`](AlertSource::commit), so a source
/// backed by a broker can acknowledge upstream only after durability.
#[async_trait]
pub trait AlertSource: Send + Sync + 'static {
    /// The source's name, for metrics and logs.
    fn name(&self) -> &str;

    /// The next batch; `Ok(None)` when the source is exhausted.
    async fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError>;

    /// Called after the last batch returned was committed to history.
    async fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// An [`AlertSource`] over any stream of batches (tests, replays, channels).
pub struct StreamSource<S> {
    name: String,
    stream: S,
}

impl<S> StreamSource<S> {
    /// A source named `name` reading `stream`.
    pub fn new(name: impl Into<String>, stream: S) -> Self {
        Self {
            name: name.into(),
            stream,
        }
    }
}

impl<S> std::fmt::Debug for StreamSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S> AlertSource for StreamSource<S>
where
    S: Stream<Item = Result<SourceBatch, SourceError>> + Send + Sync + Unpin + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        self.stream.next().await.transpose()
    }
}

/// Drives an [`AlertSource`] as a `tower::Service<()>` that pulls one batch per call.
///
/// Calls are serialised (a source is a cursor); `commit` is not exposed here.
pub struct SourceService<S> {
    inner: Arc<Mutex<S>>,
}

impl<S> std::fmt::Debug for SourceService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceService").finish_non_exhaustive()
    }
}

impl<S> Clone for SourceService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: AlertSource> SourceService<S> {
    /// Wraps a source.
    pub fn new(source: S) -> Self {
        Self {
            inner: Arc::new(Mutex::new(source)),
        }
    }
}

impl<S: AlertSource> Service<()> for SourceService<S> {
    type Response = Option<SourceBatch>;
    type Error = SourceError;
    type Future = BoxFuture<Result<Option<SourceBatch>, SourceError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.lock().await.next_batch().await })
    }
}
