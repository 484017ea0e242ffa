//! Alertmanager webhook payload version 4.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

use super::{ParseError, from_json};
use crate::model::time::{WireTime, format_optional, format_rfc3339};
use crate::{Alert, Annotations, Fingerprint, LabelSet, Status};

/// Why Alertmanager sent a notification (`notification_reason`, Alertmanager ≥ 0.32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationReason {
    /// `first notification`
    FirstNotification,
    /// `new alerts added`
    NewAlertsAdded,
    /// `some alerts resolved`
    SomeAlertsResolved,
    /// `all alerts resolved`
    AllAlertsResolved,
    /// `repeat interval elapsed`
    RepeatIntervalElapsed,
    /// `unknown`, or a value this version does not know.
    Unknown,
}

impl NotificationReason {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FirstNotification => "first notification",
            Self::NewAlertsAdded => "new alerts added",
            Self::SomeAlertsResolved => "some alerts resolved",
            Self::AllAlertsResolved => "all alerts resolved",
            Self::RepeatIntervalElapsed => "repeat interval elapsed",
            Self::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Self {
        [
            Self::FirstNotification,
            Self::NewAlertsAdded,
            Self::SomeAlertsResolved,
            Self::AllAlertsResolved,
            Self::RepeatIntervalElapsed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(Self::Unknown)
    }
}

impl fmt::Display for NotificationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert whose received `fingerprint` disagrees with its labels.
///
/// **Policy:** the labels win. Alertmanager derives the fingerprint from the
/// labels, so a disagreeing value means a sender bug or a proxy that rewrote
/// labels; trusting it would split one alert's history in two (the API v2
/// path, which carries no fingerprint, would compute the other one). alertkit
/// recomputes, keeps the alert, and reports the disagreement here so the
/// host can count or log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintMismatch {
    /// Index of the alert in `alerts`.
    pub index: usize,
    /// The value received (at most 64 characters of it).
    pub received: String,
    /// The fingerprint of the labels, which alertkit uses.
    pub computed: Fingerprint,
}

/// An Alertmanager webhook notification (payload version 4).
///
/// [`from_json`](WebhookMessage::from_json) accepts exactly what Alertmanager
/// sends (every field up to v0.34, unknown fields ignored, maps that are
/// absent or `null` read as empty); `serde_json::to_vec(&msg)` emits the same
/// shape back, with `{}` rather than `null` and the fingerprints recomputed.
///
/// ```
/// use alertkit_core::{Status, WebhookMessage};
///
/// let body = br#"{"version":"4","groupKey":"{}:{alertname=\"HighLatency\"}","status":"firing",
///   "receiver":"team-db","groupLabels":{"alertname":"HighLatency"},"commonLabels":{},
///   "commonAnnotations":{},"externalURL":"http://alertmanager:9093","truncatedAlerts":0,
///   "alerts":[{"status":"firing","labels":{"alertname":"HighLatency","service":"db","severity":"critical"},
///     "annotations":{"summary":"p99 > 1s"},"startsAt":"2026-08-22T10:00:00.123456789Z",
///     "endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"52abb4dd02d696b5"}]}"#;
/// let msg = WebhookMessage::from_json(body)?;
/// assert_eq!(msg.alerts[0].status, Status::Firing);
/// assert_eq!(msg.alerts[0].ends_at, None);
/// assert_eq!(msg.alerts[0].fingerprint().to_string(), "52abb4dd02d696b5");
/// assert!(msg.fingerprint_mismatches.is_empty());
/// # Ok::<(), alertkit_core::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookMessage {
    /// The aggregation group's identity (`routeKey:groupLabels`).
    pub group_key: String,
    /// Alerts Alertmanager dropped because of `max_alerts`.
    pub truncated_alerts: u64,
    /// `firing` if any alert fires.
    pub status: Status,
    /// Receiver name (regex-quoted by Alertmanager: `team.db` arrives as `team\.db`).
    pub receiver: String,
    /// The group's values for the route's `group_by` labels.
    pub group_labels: LabelSet,
    /// Labels all alerts share.
    pub common_labels: LabelSet,
    /// Annotations all alerts share.
    pub common_annotations: Annotations,
    /// Rendered route `labels` (v0.34+); `None` when the sender omitted the field.
    pub route_labels: Option<LabelSet>,
    /// Alertmanager's external URL.
    pub external_url: String,
    /// Why this notification was sent (v0.32+).
    pub notification_reason: Option<NotificationReason>,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Alerts whose received fingerprint disagreed with their labels (not serialized).
    pub fingerprint_mismatches: Vec<FingerprintMismatch>,
}

impl WebhookMessage {
    /// A message for `alerts`, as Alertmanager would build it for `receiver`:
    /// status, common labels and annotations derived from the alerts.
    pub fn from_alerts(receiver: impl Into<String>, alerts: Vec<Alert>) -> Self {
        let status = if alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        };
        let mut iter = alerts.iter();
        let (common_labels, common_annotations) = match iter.next() {
            Some(first) => iter.fold(
                (first.labels.clone(), first.annotations.clone()),
                |(l, a), alert| {
                    (
                        l.intersection(&alert.labels),
                        a.intersection(&alert.annotations),
                    )
                },
            ),
            None => Default::default(),
        };
        Self {
            group_key: String::new(),
            truncated_alerts: 0,
            status,
            receiver: receiver.into(),
            group_labels: LabelSet::default(),
            common_labels,
            common_annotations,
            route_labels: Some(LabelSet::default()),
            external_url: String::new(),
            notification_reason: None,
            alerts,
            fingerprint_mismatches: Vec::new(),
        }
    }

    /// Parses and validates a webhook body.
    ///
    /// Rules beyond the JSON shape: `version`, when present, must be `"4"`;
    /// every alert needs `startsAt` and at least one label, and `endsAt` may not
    /// precede `startsAt`. A missing alert `status` is derived from `endsAt`
    /// (Alertmanager only sends a non-zero `endsAt` for resolved alerts).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        // serde would also accept a positional array for a struct; a webhook is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ParseError::validation(
                ".",
                "expected a JSON object, found an array",
            ));
        }
        let wire: WireMessage = from_json(bytes)?;
        if let Some(version) = &wire.version
            && version != "4"
        {
            let shown: String = version.chars().take(16).collect();
            return Err(ParseError::validation(
                "version",
                format!("unsupported webhook version {shown:?}, expected \"4\""),
            ));
        }
        let mut alerts = Vec::with_capacity(wire.alerts.len());
        let mut fingerprint_mismatches = Vec::new();
        for (index, a) in wire.alerts.into_iter().enumerate() {
            let path = |field: &str| format!("alerts[{index}].{field}");
            if a.labels.is_empty() {
                return Err(ParseError::validation(
                    path("labels"),
                    "at least one label is required",
                ));
            }
            let Some(starts_at) = a.starts_at.0 else {
                return Err(ParseError::validation(
                    path("startsAt"),
                    "a start time is required",
                ));
            };
            let ends_at = a.ends_at.and_then(|t| t.0);
            if ends_at.is_some_and(|e| e < starts_at) {
                return Err(ParseError::validation(path("endsAt"), "before startsAt"));
            }
            let status = a.status.unwrap_or(if ends_at.is_some() {
                Status::Resolved
            } else {
                Status::Firing
            });
            let alert = Alert {
                labels: a.labels,
                annotations: a.annotations,
                status,
                starts_at,
                ends_at,
                generator_url: Arc::from(a.generator_url),
            };
            let computed = alert.fingerprint();
            let received = match a.fingerprint {
                Some(ReceivedFingerprint::Valid(fp)) if fp != computed => Some(fp.to_string()),
                Some(ReceivedFingerprint::Invalid(s)) if !s.is_empty() => Some(s),
                _ => None,
            };
            if let Some(received) = received {
                fingerprint_mismatches.push(FingerprintMismatch {
                    index,
                    received,
                    computed,
                });
            }
            alerts.push(alert);
        }
        let status = wire.status.unwrap_or_else(|| {
            if alerts.iter().any(|a| a.status == Status::Firing) {
                Status::Firing
            } else {
                Status::Resolved
            }
        });
        Ok(Self {
            group_key: wire.group_key,
            truncated_alerts: wire.truncated_alerts,
            status,
            receiver: wire.receiver,
            group_labels: wire.group_labels,
            common_labels: wire.common_labels,
            common_annotations: wire.common_annotations,
            route_labels: wire.route_labels,
            external_url: wire.external_url,
            notification_reason: wire
                .notification_reason
                .as_deref()
                .map(NotificationReason::parse),
            alerts,
            fingerprint_mismatches,
        })
    }
}

// --- wire shapes ---------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    group_labels: LabelSet,
    #[serde(default)]
    common_labels: LabelSet,
    #[serde(default)]
    common_annotations: Annotations,
    #[serde(default)]
    route_labels: Option<LabelSet>,
    #[serde(default, rename = "externalURL")]
    external_url: String,
    #[serde(default, rename = "notification_reason")]
    notification_reason: Option<String>,
    #[serde(default)]
    alerts: Vec<WireAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert {
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    labels: LabelSet,
    #[serde(default)]
    annotations: Annotations,
    #[serde(default = "WireTime::missing")]
    starts_at: WireTime,
    #[serde(default)]
    ends_at: Option<WireTime>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    fingerprint: Option<ReceivedFingerprint>,
}

/// A received `fingerprint` field, parsed without allocating when it is valid.
enum ReceivedFingerprint {
    Valid(Fingerprint),
    /// Not 16 hex digits: kept (truncated) for the mismatch report.
    Invalid(String),
}

impl<'de> Deserialize<'de> for ReceivedFingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ReceivedFingerprint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fingerprint string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(match s.parse() {
                    Ok(fp) => ReceivedFingerprint::Valid(fp),
                    Err(_) => ReceivedFingerprint::Invalid(s.chars().take(64).collect()),
                })
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl WireTime {
    fn missing() -> Self {
        WireTime(None)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMessageOut<'a> {
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
    status: Status,
    receiver: &'a str,
    group_labels: &'a LabelSet,
    common_labels: &'a LabelSet,
    common_annotations: &'a Annotations,
    #[serde(skip_serializing_if = "Option::is_none")]
    route_labels: Option<&'a LabelSet>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    #[serde(
        rename = "notification_reason",
        skip_serializing_if = "Option::is_none"
    )]
    notification_reason: Option<&'static str>,
    alerts: Vec<WireAlertOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAlertOut<'a> {
    status: Status,
    labels: &'a LabelSet,
    annotations: &'a Annotations,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: String,
}

impl Serialize for WebhookMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireMessageOut {
            version: "4",
            group_key: &self.group_key,
            truncated_alerts: self.truncated_alerts,
            status: self.status,
            receiver: &self.receiver,
            group_labels: &self.group_labels,
            common_labels: &self.common_labels,
            common_annotations: &self.common_annotations,
            route_labels: self.route_labels.as_ref(),
            external_url: &self.external_url,
            notification_reason: self.notification_reason.map(NotificationReason::as_str),
            alerts: self
                .alerts
                .iter()
                .map(|a| WireAlertOut {
                    status: a.status,
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: format_rfc3339(a.starts_at),
                    ends_at: format_optional(a.ends_at),
                    generator_url: &a.generator_url,
                    fingerprint: a.fingerprint().to_string(),
                })
                .collect(),
        }
        .serialize(serializer)
    }
}
