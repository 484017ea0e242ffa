//! [`CircuitBreakerLayer`]: stop calling a service that keeps failing.
//!
//! A breaker is **closed** while the service works. It **opens** after
//! [`BreakerConfig::consecutive_failures`] failures in a row, or when the
//! failures reach [`BreakerConfig::failure_ratio`] of at least
//! [`BreakerConfig::minimum_calls`] calls within [`BreakerConfig::window`].
//! While open, calls fail at once with the policy's "open" error (for
//! [`ClassifyError`] and [`PublishError`], `Overloaded`, which is transient),
//! so a fallback answers or the work is retried later. After
//! [`BreakerConfig::open_for`] it turns **half-open** and lets
//! [`BreakerConfig::half_open_probes`] calls through: a success
//! ([`BreakerConfig::successes_to_close`] of them) closes it, a failure opens
//! it again for another cool-down.
//!
//! Which errors count is the [`BreakerPolicy`]'s call: with [`DefaultPolicy`]
//! a transient error or a malformed answer is a failure, while a rejection of
//! one request (HTTP 4xx) is not, since the service is answering.
//!
//! Clones of a [`CircuitBreaker`] share one state; each service a layer wraps
//! gets its own. Time is tokio's clock, so paused-time tests drive it.

mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

pub use state::BreakerState;
use state::{Admission, Outcome, Shared};

use crate::traits::BoxFuture;
use crate::{BoxError, ClassifyError, PublishError};

/// When a [`CircuitBreaker`] opens and how it recovers.
///
/// ```
/// use std::time::Duration;
/// use alertkit_core::layer::BreakerConfig;
///
/// let config = BreakerConfig::default()
///     .with_consecutive_failures(3)
///     .with_open_for(Duration::from_secs(10));
/// assert_eq!(config.consecutive_failures, 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Open after this many failures in a row (`0` disables this trigger). Default 5.
    pub consecutive_failures: u32,
    /// Open when failures reach this share of the calls in the window (`None` disables). Default 0.5.
    pub failure_ratio: Option<f64>,
    /// The ratio trigger needs at least this many calls in the window. Default 10.
    pub minimum_calls: u32,
    /// The rolling window of the ratio trigger. Default 60 s.
    pub window: Duration,
    /// How long the breaker stays open before probing. Default 30 s.
    pub open_for: Duration,
    /// Calls let through at once while half-open. Default 1.
    pub half_open_probes: u32,
    /// Successful probes needed to close. Default 1.
    pub successes_to_close: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_ratio: Some(0.5),
            minimum_calls: 10,
            window: Duration::from_secs(60),
            open_for: Duration::from_secs(30),
            half_open_probes: 1,
            successes_to_close: 1,
        }
    }
}

impl BreakerConfig {
    /// With the consecutive-failure trigger (`0` disables it).
    #[must_use]
    pub fn with_consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// With the failure-ratio trigger (`None` disables it); the ratio is clamped to `0..=1`.
    #[must_use]
    pub fn with_failure_ratio(mut self, ratio: Option<f64>, minimum_calls: u32) -> Self {
        self.failure_ratio = ratio.filter(|r| !r.is_nan()).map(|r| r.clamp(0.0, 1.0));
        self.minimum_calls = minimum_calls;
        self
    }

    /// With the window of the ratio trigger.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// With the cool-down.
    #[must_use]
    pub fn with_open_for(mut self, open_for: Duration) -> Self {
        self.open_for = open_for;
        self
    }

    /// With the number of concurrent half-open probes (at least 1).
    #[must_use]
    pub fn with_half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes.max(1);
        self
    }

    /// With the number of successful probes that close the breaker (at least 1).
    #[must_use]
    pub fn with_successes_to_close(mut self, n: u32) -> Self {
        self.successes_to_close = n.max(1);
        self
    }
}

/// Decides which errors trip a breaker and what an open breaker answers.
pub trait BreakerPolicy<E>: Clone + Send + Sync + 'static {
    /// Whether `error` counts as a failure of the service (other errors count as successes:
    /// the service answered).
    fn is_failure(&self, error: &E) -> bool;

    /// The error returned without calling the service while the breaker is open.
    fn open_error(&self) -> E;
}

/// The stock policy for alertkit's errors.
///
/// | Error | Failure? | Open error |
/// |---|---|---|
/// | [`ClassifyError`] | all but `Rejected` (an invalid answer counts: the model is misbehaving) | `Overloaded` |
/// | [`PublishError`] | transient ones (transport, timeout, 429, 5xx, overloaded) | `Overloaded` |
/// | [`BoxError`] | per the typed error inside; anything else is a failure | tower's `Overloaded` (recovered as `Overloaded` by every `from_box`) |
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPolicy;

impl BreakerPolicy<ClassifyError> for DefaultPolicy {
    fn is_failure(&self, error: &ClassifyError) -> bool {
        !matches!(
            error,
            ClassifyError::Rejected(_) | ClassifyError::Skipped(_)
        )
    }

    fn open_error(&self) -> ClassifyError {
        ClassifyError::Overloaded
    }
}

impl BreakerPolicy<PublishError> for DefaultPolicy {
    fn is_failure(&self, error: &PublishError) -> bool {
        error.is_transient()
    }

    fn open_error(&self) -> PublishError {
        PublishError::Overloaded
    }
}

impl BreakerPolicy<BoxError> for DefaultPolicy {
    fn is_failure(&self, error: &BoxError) -> bool {
        if let Some(e) = error.downcast_ref::<ClassifyError>() {
            return self.is_failure(e);
        }
        if let Some(e) = error.downcast_ref::<PublishError>() {
            return self.is_failure(e);
        }
        true
    }

    fn open_error(&self) -> BoxError {
        Box::new(tower::load_shed::error::Overloaded::new())
    }
}

/// Wraps a service in a [`CircuitBreaker`].
///
/// ```
/// use std::sync::Arc;
/// use alertkit_core::layer::{BreakerConfig, BreakerState, CircuitBreakerLayer};
/// use alertkit_core::memory::LabelClassifier;
/// use alertkit_core::traits::ClassifierService;
/// use tower::Layer;
///
/// let layer = CircuitBreakerLayer::new(BreakerConfig::default()).named("llm");
/// let service = layer.layer(ClassifierService::new(Arc::new(LabelClassifier)));
/// assert_eq!(service.state(), BreakerState::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<P = DefaultPolicy> {
    config: BreakerConfig,
    policy: P,
    name: Option<metrics::SharedString>,
}

impl CircuitBreakerLayer {
    /// A layer with the [`DefaultPolicy`].
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            policy: DefaultPolicy,
            name: None,
        }
    }
}

impl<P> CircuitBreakerLayer<P> {
    /// With a custom policy.
    pub fn with_policy<Q>(self, policy: Q) -> CircuitBreakerLayer<Q> {
        CircuitBreakerLayer {
            config: self.config,
            policy,
            name: self.name,
        }
    }

    /// Names the breaker; a named breaker reports
    /// `alertkit_circuit_breaker_state{breaker}` (gauge: closed 0, open 1, half-open 2),
    /// `alertkit_circuit_breaker_transitions_total{breaker, to}` and
    /// `alertkit_circuit_breaker_rejected_total{breaker}`.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(metrics::SharedString::from(name.into()));
        self
    }
}

impl<S, P: Clone> Layer<S> for CircuitBreakerLayer<P> {
    type Service = CircuitBreaker<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            policy: self.policy.clone(),
            shared: Arc::new(Shared::new(self.config.clone(), self.name.clone())),
        }
    }
}

/// A read-only view of a breaker's state, for metrics and health endpoints.
#[derive(Debug, Clone)]
pub struct BreakerHandle {
    shared: Arc<Shared>,
}

impl BreakerHandle {
    /// The current state (an open breaker whose cool-down has ended reports half-open).
    pub fn state(&self) -> BreakerState {
        self.shared.state()
    }

    /// The breaker's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.shared.name()
    }
}

/// The service built by [`CircuitBreakerLayer`].
#[derive(Debug)]
pub struct CircuitBreaker<S, P = DefaultPolicy> {
    inner: S,
    policy: P,
    shared: Arc<Shared>,
}

impl<S: Clone, P: Clone> Clone for CircuitBreaker<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, P> CircuitBreaker<S, P> {
    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.shared.state()
    }

    /// A handle that reports this breaker's state (shared with every clone).
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Records a cancellation if the call is dropped before it finishes.
struct Guard {
    shared: Arc<Shared>,
    admission: Option<Admission>,
}

impl Guard {
    fn finish(mut self, outcome: Outcome) {
        if let Some(admission) = self.admission.take() {
            self.shared.record(admission, outcome);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            self.shared.record(admission, Outcome::Cancelled);
        }
    }
}

impl<S, P, Req> Service<Req> for CircuitBreaker<S, P>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    P: BreakerPolicy<S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let Some(admission) = self.shared.admit() else {
            let error = self.policy.open_error();
            return Box::pin(async move { Err(error) });
        };
        let guard = Guard {
            shared: Arc::clone(&self.shared),
            admission: Some(admission),
        };
        let policy = self.policy.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            let outcome = match &result {
                Err(e) if policy.is_failure(e) => Outcome::Failure,
                _ => Outcome::Success,
            };
            guard.finish(outcome);
            result
        })
    }
}
