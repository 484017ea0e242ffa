//! HTTP status → [`PublishError`] classification.

use std::time::Duration;

use alertkit_core::PublishError;

/// The longest `Retry-After` honoured; longer requests are capped, so a
/// confused target cannot stall a queue for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value given in seconds (`"30"`, `"1.5"`), capped at
/// [`MAX_RETRY_AFTER`]. HTTP dates and garbage read as `None`.
///
/// ```
/// use std::time::Duration;
/// use alertkit_publish::http::parse_retry_after;
///
/// assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
/// assert_eq!(parse_retry_after("-1"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = v.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        secs.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// Classifies a response status (see the [module docs](super)).
///
/// `message` is what the error reports (a body excerpt or the vendor's
/// error code). 2xx is `Ok`.
///
/// # Errors
///
/// `RateLimited` for 429, `Server` for 408 and 5xx, `Rejected` otherwise.
///
/// ```
/// use std::time::Duration;
/// use alertkit_publish::http::classify_status;
///
/// assert!(classify_status(202, None, "").is_ok());
/// let e = classify_status(503, Some(Duration::from_secs(7)), "down").unwrap_err();
/// assert!(e.is_transient());
/// assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
/// assert!(!classify_status(400, None, "invalid_payload").unwrap_err().is_transient());
/// ```
pub fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    message: impl Into<String>,
) -> Result<(), PublishError> {
    match status {
        200..=299 => Ok(()),
        429 => Err(PublishError::RateLimited { retry_after }),
        408 | 500..=599 => Err(PublishError::Server {
            status,
            message: message.into(),
            retry_after,
        }),
        _ => Err(PublishError::Rejected {
            status: Some(status),
            message: message.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(matches!(
            classify_status(408, None, "slow"),
            Err(PublishError::Server { status: 408, .. })
        ));
        assert!(matches!(
            classify_status(302, None, "moved"),
            Err(PublishError::Rejected {
                status: Some(302),
                ..
            })
        ));
        assert!(matches!(
            classify_status(429, None, ""),
            Err(PublishError::RateLimited { retry_after: None })
        ));
        assert_eq!(parse_retry_after("999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("1e3"), None);
        assert_eq!(parse_retry_after(""), None);
    }
}
