//! [`RetryPolicy`]: when a failed delivery is tried again, and when it is given up.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use alertkit_core::PublishError;

/// Exponential backoff with jitter, bounded attempts, and the target's
/// `Retry-After` honoured.
///
/// Attempt `n` (from 1) that failed transiently is retried after
/// `base * 2^(n-1)`, capped at `max_delay`, with the upper half jittered
/// (so a burst of failures does not retry in lockstep). A `Retry-After`
/// from the target replaces the computed delay (capped at
/// `max_retry_after`). After `max_attempts` attempts, or on a permanent
/// error, the notification becomes a dead letter.
///
/// ```
/// use std::time::Duration;
/// use alertkit_core::PublishError;
/// use alertkit_publish::delivery::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// let busy = PublishError::RateLimited { retry_after: Some(Duration::from_secs(30)) };
/// assert_eq!(policy.delay(1, &busy), Some(Duration::from_secs(30)));
/// let bad = PublishError::Rejected { status: Some(400), message: "invalid_payload".into() };
/// assert_eq!(policy.delay(1, &bad), None);
/// assert_eq!(policy.delay(policy.max_attempts, &busy), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 10).
    pub max_attempts: u32,
    /// Delay after the first failure (default 2 s).
    pub base: Duration,
    /// Longest computed delay (default 10 min).
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured (default 1 h).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// With at most `n` attempts (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// With backoff from `base` up to `max_delay`.
    #[must_use]
    pub fn with_backoff(mut self, base: Duration, max_delay: Duration) -> Self {
        self.base = base;
        self.max_delay = max_delay.max(base);
        self
    }

    /// How long to wait before attempt `attempt + 1`, or `None` to give up.
    pub fn delay(&self, attempt: u32, error: &PublishError) -> Option<Duration> {
        if !error.is_transient() || attempt >= self.max_attempts {
            return None;
        }
        if let Some(after) = error.retry_after() {
            return Some(after.min(self.max_retry_after));
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        // Full delay for the lower half, a random point in the upper half.
        let half = exp / 2;
        let jitter = half.mul_f64(random_unit());
        Some(half + jitter)
    }
}

/// A random number in `[0, 1)` from the standard library's hash seed.
fn random_unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x616b);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_bounds() {
        let p = RetryPolicy::default();
        let err = PublishError::Timeout;
        for attempt in 1..p.max_attempts {
            let d = p.delay(attempt, &err).unwrap_or_default();
            let exp = p
                .base
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(p.max_delay);
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d:?} vs {exp:?}"
            );
        }
        assert_eq!(p.delay(p.max_attempts, &err), None);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        let e = PublishError::Server {
            status: 503,
            message: "maintenance".into(),
            retry_after: Some(Duration::from_secs(7200)),
        };
        assert_eq!(p.delay(1, &e), Some(Duration::from_secs(3600)));
    }
}
