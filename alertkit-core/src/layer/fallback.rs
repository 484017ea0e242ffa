//! [`FallbackLayer`]: try a primary service, and a secondary one when it fails.

use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use crate::BoxError;
use crate::traits::BoxFuture;

/// Wraps a primary service so that any error from it (a timeout, an open
/// circuit, a malformed answer) is answered by `fallback` instead.
///
/// The standard classifier chain is an LLM with the rule classifier as
/// fallback; the same layer works for any request type that is `Clone`.
#[derive(Debug, Clone)]
pub struct FallbackLayer<F> {
    fallback: F,
}

impl<F> FallbackLayer<F> {
    /// Falls back to `fallback`.
    pub fn new(fallback: F) -> Self {
        Self { fallback }
    }
}

impl<S, F: Clone> Layer<S> for FallbackLayer<F> {
    type Service = Fallback<S, F>;

    fn layer(&self, primary: S) -> Self::Service {
        Fallback::new(primary, self.fallback.clone())
    }
}

/// The service built by [`FallbackLayer`].
#[derive(Debug, Clone)]
pub struct Fallback<S, F> {
    primary: S,
    fallback: F,
    /// Set when `poll_ready` found the primary broken: the next call goes to the fallback.
    primary_failed: bool,
}

impl<S, F> Fallback<S, F> {
    /// `primary`, then `fallback` on error.
    pub fn new(primary: S, fallback: F) -> Self {
        Self {
            primary,
            fallback,
            primary_failed: false,
        }
    }

    /// The primary service.
    pub fn get_ref(&self) -> &S {
        &self.primary
    }

    /// The fallback service.
    pub fn fallback(&self) -> &F {
        &self.fallback
    }
}

impl<S, F, Req> Service<Req> for Fallback<S, F>
where
    Req: Clone + Send + 'static,
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    F: Service<Req, Response = S::Response> + Clone + Send + 'static,
    F::Error: Into<BoxError>,
    F::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // A primary that cannot become ready is itself a failure: the call
        // then goes straight to the fallback (see `call`).
        match self.primary.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e.into(), "primary not ready; using fallback");
                self.primary_failed = true;
                Poll::Ready(Ok(()))
            }
            other => {
                self.primary_failed = false;
                other.map_err(Into::into)
            }
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fallback = self.fallback.clone();
        if std::mem::take(&mut self.primary_failed) {
            metrics::counter!("alertkit_fallback_total").increment(1);
            return Box::pin(async move { fallback.oneshot(req).await.map_err(Into::into) });
        }
        let primary = self.primary.call(req.clone());
        Box::pin(async move {
            let result = primary.await.map_err(Into::<BoxError>::into);
            match result {
                Ok(response) => Ok(response),
                Err(e) => {
                    tracing::debug!(error = %e, "primary failed; using fallback");
                    metrics::counter!("alertkit_fallback_total").increment(1);
                    fallback.oneshot(req).await.map_err(Into::into)
                }
            }
        })
    }
}
