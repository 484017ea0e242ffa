//! The [`Alert`] type.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Annotations, Fingerprint, LabelSet, Severity};

/// Whether an alert is currently firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, as Alertmanager describes it.
///
/// Cheap to clone: labels, annotations and the generator URL are shared. The
/// [`fingerprint`](Alert::fingerprint) is always derived from the labels (see
/// [`WebhookMessage`](crate::WebhookMessage) for what happens when a sender's
/// fingerprint disagrees).
///
/// ```
/// use alertkit_core::{Alert, LabelSet, Status};
/// use time::macros::datetime;
///
/// let alert = Alert::firing(
///     LabelSet::from_pairs([("alertname", "DiskFull"), ("instance", "db1")]),
///     datetime!(2026-08-22 10:00 UTC),
/// );
/// assert_eq!(alert.status, Status::Firing);
/// assert_eq!(alert.ends_at, None);
/// assert_eq!(alert.alertname(), Some("DiskFull"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Alert {
    /// Identity of the alert.
    pub labels: LabelSet,
    /// Descriptive text (`summary`, `description`, `runbook_url`, …).
    pub annotations: Annotations,
    /// Firing or resolved.
    pub status: Status,
    /// When the condition started to hold.
    pub starts_at: OffsetDateTime,
    /// When it stopped; `None` while firing (Alertmanager sends Go's zero time).
    pub ends_at: Option<OffsetDateTime>,
    /// Link to the expression in the source (Prometheus graph URL); may be empty.
    pub generator_url: Arc<str>,
}

impl Alert {
    /// A firing alert with no annotations and no generator URL.
    pub fn firing(labels: LabelSet, starts_at: OffsetDateTime) -> Self {
        Self {
            labels,
            annotations: Annotations::default(),
            status: Status::Firing,
            starts_at,
            ends_at: None,
            generator_url: Arc::from(""),
        }
    }

    /// This alert, resolved at `ends_at`.
    #[must_use]
    pub fn resolved_at(mut self, ends_at: OffsetDateTime) -> Self {
        self.status = Status::Resolved;
        self.ends_at = Some(ends_at);
        self
    }

    /// This alert with `annotations`.
    #[must_use]
    pub fn with_annotations(mut self, annotations: Annotations) -> Self {
        self.annotations = annotations;
        self
    }

    /// The fingerprint of the labels.
    pub fn fingerprint(&self) -> Fingerprint {
        self.labels.fingerprint()
    }

    /// The `alertname` label.
    pub fn alertname(&self) -> Option<&str> {
        self.labels.get("alertname")
    }

    /// The severity its `severity` label claims (see [`Severity::from_label`]).
    pub fn label_severity(&self) -> Severity {
        self.labels
            .get("severity")
            .map_or(Severity::Unknown, Severity::from_label)
    }

    /// The `summary` annotation, else `description`, else `message`.
    pub fn summary(&self) -> Option<&str> {
        ["summary", "description", "message"]
            .into_iter()
            .find_map(|k| self.annotations.get(k))
    }

    /// The key that identifies one *state* of an alert: two receipts with the
    /// same key carry the same information for history and publishing
    /// (fingerprint, status, `startsAt`, `endsAt`).
    pub fn state_key(&self) -> StateKey {
        StateKey {
            fingerprint: self.fingerprint(),
            status: self.status,
            starts_at: self.starts_at.unix_timestamp_nanos(),
            ends_at: self.ends_at.map(OffsetDateTime::unix_timestamp_nanos),
        }
    }
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alert")
            .field("fingerprint", &self.fingerprint())
            .field("status", &self.status)
            .field("labels", &self.labels)
            .field("annotations", &self.annotations)
            .field("starts_at", &self.starts_at)
            .field("ends_at", &self.ends_at)
            .field("generator_url", &self.generator_url)
            .finish()
    }
}

/// Identity of one alert state: see [`Alert::state_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateKey {
    /// Fingerprint of the labels.
    pub fingerprint: Fingerprint,
    /// Firing or resolved.
    pub status: Status,
    /// `startsAt` as Unix nanoseconds.
    pub starts_at: i128,
    /// `endsAt` as Unix nanoseconds, `None` while firing.
    pub ends_at: Option<i128>,
}

impl fmt::Display for StateKey {
    /// `fingerprint:status:startsNanos[:endsNanos]`, stable across versions: usable as a dedup key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.fingerprint, self.status, self.starts_at)?;
        if let Some(ends) = self.ends_at {
            write!(f, ":{ends}")?;
        }
        Ok(())
    }
}
