//! Error types of the five traits.
//!
//! Each trait has its own small `#[non_exhaustive]` error with lowercase
//! messages and an `is_transient()` predicate: `true` means "the same call may
//! succeed later" (retry, keep the work, answer 503), `false` means retrying
//! cannot help (drop to dead letters, answer 4xx).
//!
//! Stock tower middleware turns errors into [`BoxError`]; every error here has
//! a `from_box` that recovers the typed error (or maps tower's `Elapsed` and
//! `Overloaded`) so a stack of layers still reports typed errors.

use std::time::Duration;

/// A type-erased error, as tower uses.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Recovers `E` from a boxed error: the error itself, tower's timeout and
/// load-shed errors, or `other` for anything else.
fn recover<E: std::error::Error + Send + Sync + 'static>(
    e: BoxError,
    timeout: impl FnOnce() -> E,
    overloaded: impl FnOnce() -> E,
    other: impl FnOnce(BoxError) -> E,
) -> E {
    match e.downcast::<E>() {
        Ok(typed) => *typed,
        Err(e) if e.is::<tower::timeout::error::Elapsed>() => timeout(),
        Err(e) if e.is::<tower::load_shed::error::Overloaded>() => overloaded(),
        Err(e) => other(e),
    }
}

/// Why a [`Classifier`](crate::Classifier) gave no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifyError {
    /// The classifier did not answer in time.
    #[error("classification timed out")]
    Timeout,
    /// The classifier is refusing work (concurrency limit, open circuit breaker).
    #[error("classifier overloaded")]
    Overloaded,
    /// The classifier could not be reached or failed transiently.
    #[error("classifier unavailable")]
    Unavailable(#[source] BoxError),
    /// The classifier answered with something that is not a valid verdict.
    #[error("invalid classifier response: {0}")]
    InvalidResponse(String),
    /// The classifier cannot handle this alert.
    #[error("classifier rejected the alert: {0}")]
    Rejected(String),
    /// Classification is switched off on purpose (e.g. enrichment mode
    /// `transparent`); not a failure.
    #[error("classification skipped: {0}")]
    Skipped(String),
}

impl ClassifyError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Overloaded | Self::Unavailable(_)
        )
    }

    /// Recovers a typed error from a tower stack's [`BoxError`].
    pub fn from_box(e: BoxError) -> Self {
        recover(e, || Self::Timeout, || Self::Overloaded, Self::Unavailable)
    }
}

/// Why a [`HistoryStore`](crate::HistoryStore) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached, or a pool was exhausted.
    #[error("history store unavailable")]
    Unavailable(#[source] BoxError),
    /// The operation did not finish in time.
    #[error("history store operation timed out")]
    Timeout,
    /// The store refuses more work right now.
    #[error("history store overloaded")]
    Overloaded,
    /// The input cannot be stored (names the offending field).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A query argument is malformed (a bad cursor, an impossible range).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The store is in a state it cannot work with (schema too new, corrupt row).
    #[error("history store failure")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Timeout | Self::Overloaded
        )
    }

    /// Recovers a typed error from a tower stack's [`BoxError`].
    pub fn from_box(e: BoxError) -> Self {
        recover(e, || Self::Timeout, || Self::Overloaded, Self::Unavailable)
    }
}

/// Why a [`Cache`](crate::Cache) operation failed.
///
/// Cache errors never fail an alert: callers treat them as misses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache could not be reached.
    #[error("cache unavailable")]
    Unavailable(#[source] BoxError),
    /// The operation did not finish in time.
    #[error("cache operation timed out")]
    Timeout,
    /// A stored value could not be encoded or decoded.
    #[error("cache value could not be decoded: {0}")]
    Codec(String),
}

impl CacheError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }

    /// Recovers a typed error from a tower stack's [`BoxError`].
    pub fn from_box(e: BoxError) -> Self {
        recover(e, || Self::Timeout, || Self::Timeout, Self::Unavailable)
    }
}

/// Why a [`Publisher`](crate::Publisher) did not deliver a notification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Network or connection failure before a response.
    #[error("transport error")]
    Transport(#[source] BoxError),
    /// No response in time.
    #[error("publish timed out")]
    Timeout,
    /// The target asked us to slow down (HTTP 429 or a local rate limit).
    #[error("rate limited")]
    RateLimited {
        /// How long the target asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The target failed on its side (HTTP 5xx); worth retrying.
    #[error("target error (status {status}): {message}")]
    Server {
        /// HTTP status code.
        status: u16,
        /// Response body excerpt or reason.
        message: String,
        /// How long the target asked us to wait (`Retry-After` on a 503), if it said.
        retry_after: Option<Duration>,
    },
    /// The target refused this notification for good (HTTP 4xx, Slack `ok:false` for a bad payload).
    #[error("rejected by target{}: {message}", status.map(|s| format!(" (status {s})")).unwrap_or_default())]
    Rejected {
        /// HTTP status code, if any.
        status: Option<u16>,
        /// Why.
        message: String,
    },
    /// The publisher is refusing work locally (open circuit breaker, load shedding).
    #[error("publisher overloaded")]
    Overloaded,
    /// The publisher is misconfigured (bad URL, missing secret).
    #[error("publisher misconfigured: {0}")]
    Config(String),
}

impl PublishError {
    /// Whether the same notification may be delivered by a later attempt.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transport(_)
                | Self::Timeout
                | Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Overloaded
        )
    }

    /// How long to wait before retrying, when the target said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status code involved, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } => Some(*status),
            Self::Rejected { status, .. } => *status,
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Recovers a typed error from a tower stack's [`BoxError`].
    pub fn from_box(e: BoxError) -> Self {
        recover(e, || Self::Timeout, || Self::Overloaded, Self::Transport)
    }
}

/// Why an [`AlertSource`](crate::AlertSource) could not produce a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The upstream could not be reached; try again later.
    #[error("alert source unavailable")]
    Unavailable(#[source] BoxError),
    /// The upstream produced something that is not a valid batch; skipping it is safe.
    #[error("invalid batch: {0}")]
    Invalid(#[from] crate::ParseError),
}

impl SourceError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_typed_and_tower_errors() {
        let boxed: BoxError = Box::new(PublishError::Rejected {
            status: Some(400),
            message: "bad".into(),
        });
        assert!(matches!(
            PublishError::from_box(boxed),
            PublishError::Rejected {
                status: Some(400),
                ..
            }
        ));
        let elapsed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert!(matches!(
            ClassifyError::from_box(elapsed),
            ClassifyError::Timeout
        ));
        let other: BoxError = "boom".into();
        let e = StoreError::from_box(other);
        assert!(e.is_transient());
        assert_eq!(e.to_string(), "history store unavailable");
    }

    #[test]
    fn messages_are_lowercase() {
        let e = PublishError::Rejected {
            status: Some(400),
            message: "invalid_payload".into(),
        };
        assert_eq!(
            e.to_string(),
            "rejected by target (status 400): invalid_payload"
        );
        assert!(!e.is_transient());
        assert!(PublishError::RateLimited { retry_after: None }.is_transient());
    }
}
