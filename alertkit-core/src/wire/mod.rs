//! Alertmanager wire formats: the webhook payload v4 and the API v2 alerts body.
//!
//! Parsing never panics and every error names the offending path, e.g.
//! `alerts[3].startsAt: invalid RFC 3339 time "yesterday"`. Unknown fields are
//! ignored, as Alertmanager adds fields over time.

mod api_v2;
mod webhook;

pub use api_v2::{ApiV2Defaults, PostableAlerts, PostableAlertsError, parse_postable_alerts};
pub use webhook::{FingerprintMismatch, NotificationReason, WebhookMessage};

use std::fmt;

use serde::de::DeserializeOwned;

/// What kind of problem a [`ParseError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The body is not well-formed JSON (or is truncated).
    Syntax,
    /// A field has the wrong type or an invalid value.
    Data,
    /// The document is well-formed but breaks a rule (no labels, `endsAt` before `startsAt`, …).
    Validation,
}

/// A payload that cannot be accepted, with the JSON path of the offending field.
///
/// ```
/// use alertkit_core::WebhookMessage;
///
/// let body = br#"{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"yesterday"}]}"#;
/// let err = WebhookMessage::from_json(body).unwrap_err();
/// assert_eq!(err.path(), "alerts[0].startsAt");
/// assert_eq!(err.to_string(), r#"alerts[0].startsAt: invalid RFC 3339 time "yesterday""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    kind: ParseErrorKind,
    path: String,
    message: String,
}

impl ParseError {
    pub(crate) fn validation(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ParseErrorKind::Validation,
            path: path.into(),
            message: message.into(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// JSON path of the offending value (`alerts[3].startsAt`); `.` for the whole document.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error under a path prefix (`[3]` + `.labels` → `[3].labels`).
    pub(crate) fn under(mut self, prefix: &str) -> Self {
        self.path = if self.path == "." {
            prefix.to_owned()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Deserializes `bytes`, keeping the path of the first error.
///
/// Path tracking costs an allocation per map key, so valid documents take the
/// plain path and only a failure is parsed again to locate the error.
pub(crate) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    // Validating UTF-8 once for the whole body is faster than serde_json
    // validating each string of a byte slice.
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text).or_else(|_| from_json_tracked(bytes)),
        Err(_) => from_json_tracked(bytes),
    }
}

fn from_json_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(|e| path_error_parts(".".to_owned(), &e))?;
    Ok(value)
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ParseError {
    let path = e.path().to_string();
    path_error_parts(path, e.inner())
}

fn path_error_parts(path: String, e: &serde_json::Error) -> ParseError {
    use serde_json::error::Category;
    let full = e.to_string();
    match e.classify() {
        Category::Data => {
            // serde_json appends " at line L column C"; the path says more.
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            ParseError {
                kind: ParseErrorKind::Data,
                path,
                message,
            }
        }
        Category::Syntax | Category::Eof | Category::Io => ParseError {
            kind: ParseErrorKind::Syntax,
            path,
            message: full,
        },
    }
}
