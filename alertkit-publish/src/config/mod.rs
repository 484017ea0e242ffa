//! Target configuration: a TOML file of targets → [`TargetConfig`]s.
//!
//! ```toml
//! [[targets]]
//! name = "ops-slack"               # unique; letters, digits, `-`, `_`, `.`
//! type = "slack"                   # slack | pagerduty | rootly | webhook
//! enabled = true                   # default true
//! rate_limit = "1/s"               # default per type; "none" for no limit
//! timeout_secs = 10                # whole-request timeout, 1..=300, default 10
//! filters = { min_severity = "warning", matchers = '{env="prod"}', min_confidence = 0.5, drop_noise = true }
//! url_env = "SLACK_WEBHOOK_URL"    # any `<key>_env` reads `<key>` from the environment
//!
//! [[targets]]
//! name = "pager"
//! type = "pagerduty"
//! routing_key_env = "PAGERDUTY_ROUTING_KEY"
//! filters = { min_severity = "critical" }
//! ```
//!
//! The keys besides the common ones above are those of the type's config:
//! [`SlackConfig`](crate::slack::SlackConfig),
//! [`PagerDutyConfig`](crate::pagerduty::PagerDutyConfig),
//! [`RootlyConfig`](crate::rootly::RootlyConfig),
//! [`WebhookConfig`](crate::webhook::WebhookConfig). Unknown keys are
//! errors, and every error names the target and the key.
//!
//! Default rate limits: Slack `1/s`, PagerDuty `120/min`, Rootly `3000/min`,
//! webhooks none. Enforcing them is the delivery layer's job
//! ([`RateLimit::quota`] gives a `governor` quota).
//!
//! `TargetConfig` serializes as a **redacted view** for APIs: secrets are
//! `"***"`, webhook URLs show only scheme and host.

mod parse;
mod rate;

pub use parse::{parse_targets, parse_targets_with_env};
pub use rate::{InvalidRateLimit, RateLimit};

use serde::{Serialize, Serializer};

use crate::filter::TargetFilter;

/// Default whole-request timeout, seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// One configured target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TargetConfig {
    /// Unique name.
    pub name: String,
    /// Whether the target gets notifications.
    pub enabled: bool,
    /// Which notifications it wants.
    pub filters: TargetFilter,
    /// Delivery rate limit; `None` for none.
    #[serde(serialize_with = "serialize_rate_limit")]
    pub rate_limit: Option<RateLimit>,
    /// Whole-request HTTP timeout in seconds.
    pub timeout_secs: u64,
    /// Type and type-specific settings.
    #[serde(flatten)]
    pub settings: TargetSettings,
}

fn serialize_rate_limit<S: Serializer>(
    value: &Option<RateLimit>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(limit) => serializer.collect_str(limit),
        None => serializer.serialize_str("none"),
    }
}

impl TargetConfig {
    /// An enabled target with no filters, the type's default rate limit and timeout.
    pub fn new(name: impl Into<String>, settings: TargetSettings) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            filters: TargetFilter::default(),
            rate_limit: settings.default_rate_limit(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            settings,
        }
    }

    /// With filters.
    #[must_use]
    pub fn with_filters(mut self, filters: TargetFilter) -> Self {
        self.filters = filters;
        self
    }

    /// With a rate limit (`None`: unlimited).
    #[must_use]
    pub fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    /// Enabled or not.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

/// The type of a target and its settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum TargetSettings {
    /// Slack.
    #[cfg(feature = "slack")]
    #[serde(rename = "slack")]
    Slack(crate::slack::SlackConfig),
    /// PagerDuty Events API v2.
    #[cfg(feature = "pagerduty")]
    #[serde(rename = "pagerduty")]
    PagerDuty(crate::pagerduty::PagerDutyConfig),
    /// Rootly.
    #[cfg(feature = "rootly")]
    #[serde(rename = "rootly")]
    Rootly(crate::rootly::RootlyConfig),
    /// A generic webhook.
    #[cfg(feature = "webhook")]
    #[serde(rename = "webhook")]
    Webhook(crate::webhook::WebhookConfig),
}

impl TargetSettings {
    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "slack")]
            Self::Slack(_) => "slack",
            #[cfg(feature = "pagerduty")]
            Self::PagerDuty(_) => "pagerduty",
            #[cfg(feature = "rootly")]
            Self::Rootly(_) => "rootly",
            #[cfg(feature = "webhook")]
            Self::Webhook(_) => "webhook",
        }
    }

    /// The vendor's rate limit (see the [module docs](self)).
    pub fn default_rate_limit(&self) -> Option<RateLimit> {
        match self {
            #[cfg(feature = "slack")]
            Self::Slack(_) => Some(RateLimit::SLACK),
            #[cfg(feature = "pagerduty")]
            Self::PagerDuty(_) => Some(RateLimit::PAGERDUTY),
            #[cfg(feature = "rootly")]
            Self::Rootly(_) => Some(RateLimit::ROOTLY),
            #[cfg(feature = "webhook")]
            Self::Webhook(_) => None,
        }
    }
}

/// Why a targets file was refused. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read targets file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("targets file line {line}: {message}")]
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A target (or the file's top level) has an invalid key.
    #[error("target {target:?}: key {key:?}: {message}")]
    Invalid {
        /// The target's name, or `#<n>` (1-based) when it has none; empty for the top level.
        target: String,
        /// Dotted path of the key (`filters.min_severity`).
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        target: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            target: target.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}
