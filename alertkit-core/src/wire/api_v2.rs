//! Alertmanager API v2 `POST /api/v2/alerts` body.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::{ParseError, from_json};
use crate::model::time::WireTime;
use crate::{Alert, Annotations, LabelSet, Status};

/// The clock and defaults Alertmanager applies to posted alerts.
#[derive(Debug, Clone, Copy)]
pub struct ApiV2Defaults {
    /// "Now", for missing `startsAt` and for deciding firing vs resolved.
    pub now: OffsetDateTime,
    /// Lifetime of an alert posted without `endsAt` (Alertmanager's `resolve_timeout`, default 5 minutes).
    pub resolve_timeout: Duration,
}

impl ApiV2Defaults {
    /// Defaults at the current time with the 5 minute `resolve_timeout`.
    pub fn now() -> Self {
        Self {
            now: OffsetDateTime::now_utc(),
            resolve_timeout: Duration::from_secs(300),
        }
    }
}

/// The outcome of [`parse_postable_alerts`]: Alertmanager is best effort, so
/// valid alerts are kept even when others are rejected.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PostableAlerts {
    /// The valid alerts, in request order.
    pub alerts: Vec<Alert>,
    /// When each valid alert expires unless re-sent (its explicit or default
    /// `endsAt`), parallel to `alerts`.
    pub expires_at: Vec<OffsetDateTime>,
    /// One error per rejected alert.
    pub errors: Vec<ParseError>,
}

/// A body that is not a JSON array of objects at all: nothing can be accepted.
pub type PostableAlertsError = ParseError;

/// Parses a `POST /api/v2/alerts` body with Alertmanager's rules
/// (`api/v2/api.go`, `alert.Validate`):
///
/// 1. a missing `startsAt` becomes `endsAt` if given, else `now`;
/// 2. a missing `endsAt` becomes `now + resolve_timeout`;
/// 3. labels with empty values are removed;
/// 4. an alert needs at least one label, and `endsAt` may not precede `startsAt`.
///
/// Label names may be any non-empty UTF-8 string (Alertmanager's UTF-8 mode,
/// the default since 0.27); values are any UTF-8.
///
/// An alert is `resolved` when its `endsAt` is not after `now`; a firing
/// alert's future `endsAt` is kept in [`PostableAlerts::expires_at`] and the
/// alert's own `ends_at` is `None`, exactly as Alertmanager's webhook shows it.
///
/// ```
/// use alertkit_core::{ApiV2Defaults, Status, parse_postable_alerts};
///
/// let body = br#"[{"labels":{"alertname":"DiskFull"}},{"labels":{}},{"labels":{"a":"b"},"startsAt":"2026-08-22T10:05:00Z","endsAt":"2026-08-22T10:00:00Z"}]"#;
/// let parsed = parse_postable_alerts(body, ApiV2Defaults::now())?;
/// assert_eq!(parsed.alerts.len(), 1);
/// assert_eq!(parsed.alerts[0].status, Status::Firing);
/// assert_eq!(parsed.errors[0].to_string(), "[1].labels: at least one label is required");
/// assert_eq!(parsed.errors[1].to_string(), "[2].endsAt: before startsAt");
/// # Ok::<(), alertkit_core::ParseError>(())
/// ```
pub fn parse_postable_alerts(
    bytes: &[u8],
    defaults: ApiV2Defaults,
) -> Result<PostableAlerts, PostableAlertsError> {
    let raw: Vec<&RawValue> = from_json_borrowed(bytes)?;
    let mut out = PostableAlerts {
        alerts: Vec::with_capacity(raw.len()),
        expires_at: Vec::with_capacity(raw.len()),
        errors: Vec::new(),
    };
    for (index, item) in raw.into_iter().enumerate() {
        let prefix = format!("[{index}]");
        match from_json::<WirePostable>(item.get().as_bytes()).and_then(|p| p.into_alert(defaults))
        {
            Ok((alert, expires)) => {
                out.alerts.push(alert);
                out.expires_at.push(expires);
            }
            Err(e) => out.errors.push(e.under(&prefix)),
        }
    }
    Ok(out)
}

fn from_json_borrowed<'a>(bytes: &'a [u8]) -> Result<Vec<&'a RawValue>, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Vec<&'a RawValue> = Deserialize::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            // Reuse the path-aware conversion for a uniform message.
            from_json::<Vec<serde::de::IgnoredAny>>(bytes)
                .err()
                .unwrap_or_else(|| ParseError::validation(".", e.to_string()))
        })?;
    Ok(value)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePostable {
    #[serde(default)]
    labels: LabelSet,
    #[serde(default)]
    annotations: Annotations,
    #[serde(default)]
    starts_at: Option<WireTime>,
    #[serde(default)]
    ends_at: Option<WireTime>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

impl WirePostable {
    fn into_alert(self, d: ApiV2Defaults) -> Result<(Alert, OffsetDateTime), ParseError> {
        if self.labels.is_empty() {
            return Err(ParseError::validation(
                "labels",
                "at least one label is required",
            ));
        }
        let ends_given = self.ends_at.and_then(|t| t.0);
        let starts_at = self
            .starts_at
            .and_then(|t| t.0)
            .or(ends_given)
            .unwrap_or(d.now);
        let ends_at = ends_given.unwrap_or_else(|| d.now + d.resolve_timeout);
        if ends_at < starts_at {
            return Err(ParseError::validation("endsAt", "before startsAt"));
        }
        let resolved = ends_at <= d.now;
        let alert = Alert {
            labels: self.labels,
            annotations: self.annotations,
            status: if resolved {
                Status::Resolved
            } else {
                Status::Firing
            },
            starts_at,
            ends_at: resolved.then_some(ends_at),
            generator_url: Arc::from(self.generator_url),
        };
        Ok((alert, ends_at))
    }
}
