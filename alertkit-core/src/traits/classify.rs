//! The [`Classifier`] trait and its tower adapters.

use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use tower::{Service, ServiceExt};

use super::BoxFuture;
use crate::{Alert, BoxError, Classification, ClassifyError};

/// Decides how urgent an alert is and what it is about.
///
/// Implementations must be cheap to call concurrently. A fast, CPU-only
/// classifier (rules) may do its work inline; a remote one (an LLM) should be
/// wrapped in timeouts and limits, which is what the tower adapters are for.
///
/// ```
/// use alertkit_core::{Alert, Category, Classification, ClassificationSource, Classifier, ClassifyError};
///
/// struct EverythingIsCritical;
///
/// #[async_trait::async_trait]
/// impl Classifier for EverythingIsCritical {
///     fn id(&self) -> &str { "everything-is-critical/1" }
///     async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
///         Ok(Classification::new(alertkit_core::Severity::Critical, Category::Other, 1.0, ClassificationSource::Rules))
///     }
/// }
/// ```
#[async_trait]
pub trait Classifier: Send + Sync + 'static {
    /// Identifier and version (`rules/2026-11`, `llm/gpt-4o-mini`); part of
    /// cache keys, so change it when the verdicts may change.
    fn id(&self) -> &str;

    /// Classifies one alert.
    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError>;

    /// The verdict, when it is known without waiting (rules, a cache hit);
    /// `None` means "ask [`classify`](Classifier::classify)". The pipeline
    /// uses it to record fast verdicts in the same history write as the
    /// change. Must not block, do I/O or start work it would abandon; the
    /// default knows nothing at once.
    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        let _ = alert;
        None
    }
}

#[async_trait]
impl<T: Classifier + ?Sized> Classifier for Arc<T> {
    fn id(&self) -> &str {
        (**self).id()
    }

    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        (**self).try_classify_now(alert)
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        (**self).classify(alert).await
    }
}

/// Drives a [`Classifier`] as a `tower::Service<Alert>`, so any tower layer applies.
#[derive(Debug)]
pub struct ClassifierService<C: ?Sized> {
    inner: Arc<C>,
}

impl<C: ?Sized> ClassifierService<C> {
    /// Wraps a shared classifier.
    pub fn new(inner: Arc<C>) -> Self {
        Self { inner }
    }

    /// The wrapped classifier.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }
}

impl<C: ?Sized> Clone for ClassifierService<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Classifier + ?Sized> Service<Alert> for ClassifierService<C> {
    type Response = Classification;
    type Error = ClassifyError;
    type Future = BoxFuture<Result<Classification, ClassifyError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, alert: Alert) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.classify(&alert).await })
    }
}

/// Turns a tower service stack back into a [`Classifier`], recovering typed
/// errors with [`ClassifyError::from_box`].
#[derive(Debug, Clone)]
pub struct ServiceClassifier<S> {
    service: S,
    id: Arc<str>,
}

impl<S> ServiceClassifier<S> {
    /// A classifier named `id` backed by `service` (cloned per call, as tower services are).
    pub fn new(id: impl Into<Arc<str>>, service: S) -> Self {
        Self {
            service,
            id: id.into(),
        }
    }
}

#[async_trait]
impl<S> Classifier for ServiceClassifier<S>
where
    S: Service<Alert, Response = Classification> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    fn id(&self) -> &str {
        &self.id
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        self.service
            .clone()
            .oneshot(alert.clone())
            .await
            .map_err(|e| ClassifyError::from_box(e.into()))
    }
}
