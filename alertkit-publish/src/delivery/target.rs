//! [`DeliveryTarget`]: one publisher with its filter, rate limit, breaker and timeout.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::layer::{BreakerConfig, BreakerHandle, CircuitBreaker, CircuitBreakerLayer};
use alertkit_core::traits::PublisherService;
use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher};
use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::task::{Context, Poll};
use tower::timeout::{Timeout, TimeoutLayer};

use tower::{Layer, Service};

type Stack = CircuitBreaker<Timeout<PublisherService<dyn Publisher>>>;
type FilterFn = dyn Fn(&Notification) -> Result<(), String> + Send + Sync;

/// A publisher and the delivery policy around it.
///
/// The outbound stack, outermost first: filter (a skipped notification
/// costs no rate-limit token) → rate limit (token bucket; waits, never drops)
/// → circuit breaker → timeout → the publisher's single attempt. Retries
/// are the outbox's: a failed attempt is rescheduled durably.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use alertkit_core::memory::RecordingPublisher;
/// use alertkit_publish::delivery::DeliveryTarget;
///
/// let target = DeliveryTarget::new(Arc::new(RecordingPublisher::new("audit", 100)))
///     .with_rate_per_minute(NonZeroU32::new(120).unwrap())
///     .with_timeout(Duration::from_secs(5));
/// assert_eq!(target.name(), "audit");
/// ```
pub struct DeliveryTarget {
    name: Arc<str>,
    publisher: Arc<dyn Publisher>,
    filter: Option<Arc<FilterFn>>,
    quota: Option<Quota>,
    timeout: Duration,
    breaker: BreakerConfig,
    concurrency: usize,
}

impl fmt::Debug for DeliveryTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryTarget")
            .field("name", &self.name)
            .field("filtered", &self.filter.is_some())
            .field("quota", &self.quota)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl DeliveryTarget {
    /// Delivers through `publisher` (named by [`Publisher::name`]) with no
    /// filter or rate limit, a 10 s timeout, the default breaker and up to
    /// 16 attempts in flight.
    pub fn new(publisher: Arc<dyn Publisher>) -> Self {
        Self {
            name: Arc::from(publisher.name()),
            publisher,
            filter: None,
            quota: None,
            timeout: Duration::from_secs(10),
            breaker: BreakerConfig::default(),
            concurrency: 16,
        }
    }

    /// The target's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Only notifications `filter` accepts are sent; the others are settled
    /// as skipped, with the filter's reason in the delivery log.
    #[must_use]
    pub fn with_filter(
        mut self,
        filter: impl Fn(&Notification) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// At most `n` attempts per second (bursts of up to `n`).
    #[must_use]
    pub fn with_rate_per_second(mut self, n: NonZeroU32) -> Self {
        self.quota = Some(Quota::per_second(n));
        self
    }

    /// At most as many attempts as `quota` allows (a token bucket).
    #[must_use]
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }

    /// At most `n` attempts per minute (bursts of up to `n`).
    #[must_use]
    pub fn with_rate_per_minute(mut self, n: NonZeroU32) -> Self {
        self.quota = Some(Quota::per_minute(n));
        self
    }

    /// Each attempt is abandoned (and retried later) after `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// When the breaker opens and recovers.
    #[must_use]
    pub fn with_breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// Attempts in flight at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub(super) fn build(self) -> TargetRuntime {
        let stack = CircuitBreakerLayer::new(self.breaker)
            .named(self.name.to_string())
            .layer(TimeoutLayer::new(self.timeout).layer(PublisherService::new(self.publisher)));
        TargetRuntime {
            breaker: stack.handle(),
            limiter: self.quota.map(|q| Arc::new(RateLimiter::direct(q))),
            quota: self.quota,
            name: self.name,
            filter: self.filter,
            stack,
            concurrency: self.concurrency,
        }
    }
}

/// A target ready to deliver: the built stack and its shared limiter.
pub(super) struct TargetRuntime {
    pub(super) name: Arc<str>,
    pub(super) breaker: BreakerHandle,
    pub(super) concurrency: usize,
    filter: Option<Arc<FilterFn>>,
    limiter: Option<Arc<RateLimiter<NotKeyed, InMemoryState, DefaultClock>>>,
    quota: Option<Quota>,
    stack: Stack,
}

impl TargetRuntime {
    /// Why `n` should not go to this target, if it should not.
    pub(super) fn skip_reason(&self, n: &Notification) -> Option<String> {
        self.filter.as_ref().and_then(|f| f(n).err())
    }

    /// Waits for a rate-limit token.
    pub(super) fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let limiter = self.limiter.clone();
        async move {
            if let Some(l) = limiter {
                l.until_ready().await;
            }
        }
    }

    /// One attempt through breaker, timeout and publisher.
    ///
    /// Every layer of the stack is ready at once (none holds capacity), so
    /// readiness is checked synchronously; a stack that is not ready counts
    /// as overloaded.
    pub(super) fn publish(
        &self,
        n: Notification,
    ) -> impl Future<Output = Result<PublishReceipt, PublishError>> + Send + 'static {
        let mut stack = self.stack.clone();
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let call = match stack.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Ok(stack.call(n)),
            Poll::Ready(Err(e)) => Err(PublishError::from_box(e)),
            Poll::Pending => Err(PublishError::Overloaded),
        };
        async move {
            match call {
                Ok(fut) => fut.await.map_err(PublishError::from_box),
                Err(e) => Err(e),
            }
        }
    }

    /// How many rows to lease at once: all of them must be attempted within
    /// half the lease at this target's rate.
    pub(super) fn claim_limit(&self, batch: usize, lease: Duration) -> usize {
        let Some(q) = self.quota else { return batch };
        let per_lease = (lease / 2).as_secs_f64() / q.replenish_interval().as_secs_f64();
        let burst = f64::from(q.burst_size().get());
        // Truncation is intended: whole notifications.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (per_lease + burst).max(1.0) as usize;
        n.min(batch).max(1)
    }
}

impl fmt::Debug for TargetRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetRuntime")
            .field("name", &self.name)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}
