//! The verdict a [`Classifier`](crate::Classifier) attaches to an alert.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Severity;

/// What an alert is about: a fixed taxonomy, so rules, models and dashboards agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Something is down, unreachable or crash-looping.
    Availability,
    /// Requests are slow.
    Latency,
    /// Requests fail (5xx, exceptions, failed jobs).
    Errors,
    /// A resource is running hot right now (CPU, memory, connections, throttling).
    Saturation,
    /// A resource will run out (disk, quota, inodes, growth trends).
    Capacity,
    /// Intrusion, auth failures, vulnerabilities.
    Security,
    /// Certificates or credentials expiring or invalid.
    Certificates,
    /// A rollout, config change or version mismatch.
    Deployment,
    /// Data integrity, replication, backups, queues and backlogs.
    Data,
    /// Packet loss, DNS, connectivity between components.
    Network,
    /// Misconfiguration detected at runtime.
    Configuration,
    /// The monitoring itself: scrapes failing, rules failing, heartbeats.
    Observability,
    /// None of the above.
    Other,
}

impl Category {
    /// The snake_case name used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Availability => "availability",
            Category::Latency => "latency",
            Category::Errors => "errors",
            Category::Saturation => "saturation",
            Category::Capacity => "capacity",
            Category::Security => "security",
            Category::Certificates => "certificates",
            Category::Deployment => "deployment",
            Category::Data => "data",
            Category::Network => "network",
            Category::Configuration => "configuration",
            Category::Observability => "observability",
            Category::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who produced a [`Classification`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClassificationSource {
    /// A rule classifier.
    Rules,
    /// A language model.
    Llm,
    /// Served from a cache (the original source is not recorded twice).
    Cache,
    /// Nothing matched; a default verdict.
    Default,
}

/// A classifier's verdict on one alert.
///
/// ```
/// use alertkit_core::{Category, Classification, ClassificationSource, Severity};
///
/// let c = Classification::new(Severity::Critical, Category::Availability, 0.9, ClassificationSource::Rules)
///     .with_summary("api is down")
///     .with_recommendations(["check the pods: kubectl get pods -n api"]);
/// let json = serde_json::to_string(&c).unwrap();
/// assert!(json.contains(r#""severity":"critical""#));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// How urgent.
    pub severity: Severity,
    /// What it is about.
    pub category: Category,
    /// Confidence in `0.0..=1.0`.
    pub confidence: f64,
    /// One line for humans.
    #[serde(default)]
    pub summary: String,
    /// Concrete investigation or remediation steps.
    #[serde(default)]
    pub recommendations: Vec<String>,
    /// Who decided.
    pub source: ClassificationSource,
    /// Model or rule-pack identifier and version, when relevant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Arc<str>>,
    /// How long classification took.
    #[serde(default, with = "duration_ms", rename = "latency_ms")]
    pub latency: Duration,
}

impl Classification {
    /// A verdict with no summary, recommendations, model or latency; `confidence` is clamped to `0..=1`.
    pub fn new(
        severity: Severity,
        category: Category,
        confidence: f64,
        source: ClassificationSource,
    ) -> Self {
        Self {
            severity,
            category,
            confidence: if confidence.is_nan() {
                0.0
            } else {
                confidence.clamp(0.0, 1.0)
            },
            summary: String::new(),
            recommendations: Vec::new(),
            source,
            model: None,
            latency: Duration::ZERO,
        }
    }

    /// With a one-line summary.
    #[must_use]
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// With recommendations.
    #[must_use]
    pub fn with_recommendations<I, S>(mut self, recommendations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.recommendations = recommendations.into_iter().map(Into::into).collect();
        self
    }

    /// With a model / rule-pack identifier.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<Arc<str>>) -> Self {
        self.model = Some(model.into());
        self
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
