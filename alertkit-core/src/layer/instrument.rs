//! [`InstrumentLayer`]: metrics and a tracing span around any service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::BoxError;
use crate::traits::BoxFuture;

/// Records, for every call of the wrapped service, a tracing span and:
///
/// - `alertkit_component_calls_total{component, outcome="ok"|"error"}` (counter)
/// - `alertkit_component_duration_seconds{component}` (histogram)
///
/// through the `metrics` facade (the host installs a recorder, e.g. the
/// Prometheus exporter).
#[derive(Debug, Clone)]
pub struct InstrumentLayer {
    component: Arc<str>,
}

impl InstrumentLayer {
    /// Instruments a component named `component` (`llm`, `rules`, `slack:ops`, …).
    pub fn new(component: impl Into<Arc<str>>) -> Self {
        Self {
            component: component.into(),
        }
    }
}

impl<S> Layer<S> for InstrumentLayer {
    type Service = Instrument<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Instrument {
            inner,
            component: Arc::clone(&self.component),
        }
    }
}

/// The service built by [`InstrumentLayer`].
#[derive(Debug, Clone)]
pub struct Instrument<S> {
    inner: S,
    component: Arc<str>,
}

impl<S> Instrument<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req> Service<Req> for Instrument<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let component = Arc::clone(&self.component);
        let span = tracing::debug_span!("alertkit.component", component = &*component);
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let start = Instant::now();
                let result = fut.await.map_err(Into::into);
                let outcome = if result.is_ok() { "ok" } else { "error" };
                let name = metrics::SharedString::from(component);
                metrics::counter!("alertkit_component_calls_total", "component" => name.clone(), "outcome" => outcome)
                    .increment(1);
                metrics::histogram!("alertkit_component_duration_seconds", "component" => name)
                    .record(start.elapsed().as_secs_f64());
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "component call failed");
                }
                result
            }
            .instrument(span),
        )
    }
}
