//! Publishing for alertkit: vendor publishers, target configuration and filters.
//!
//! Each publisher implements [`alertkit_core::Publisher`]: it makes **one**
//! delivery attempt and reports through [`PublishError`](alertkit_core::PublishError)
//! whether another could succeed (429 → rate limited with `Retry-After`;
//! 408/5xx, timeouts and connection errors → transient; other 4xx →
//! rejected for good). Retries with backoff, rate limiting and circuit
//! breaking are the delivery layer's job.
//!
//! | Publisher | Target | Remote id (for later updates) |
//! |---|---|---|
//! | [`slack::SlackPublisher`] | incoming webhook, or `chat.postMessage`/`chat.update` with a bot token | `channel:ts` (bot mode) |
//! | [`pagerduty::PagerDutyPublisher`] | Events API v2 | the `dedup_key` |
//! | [`rootly::RootlyPublisher`] | `POST /v1/alerts`, `/v1/alerts/{id}/resolve` | the Rootly alert id |
//! | [`webhook::WebhookPublisher`] | any Alertmanager-v4 webhook receiver, HMAC-signed | – |
//!
//! Targets are usually configured in a TOML file (see [`config`]) and held by
//! a [`TargetRegistry`], which reloads the file without a restart and serves
//! a redacted view for APIs. Secrets are [`Secret`]s: never in `Debug`,
//! logs, errors or serialized output.
//!
//! # Features
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `slack` | Slack incoming webhooks and the bot-token Web API | yes |
//! | `pagerduty` | PagerDuty Events API v2 | yes |
//! | `rootly` | Rootly alerts REST API | yes |
//! | `webhook` | Generic Alertmanager-v4 webhooks with HMAC signing, and [`webhook::verify_signature`] for receivers | yes |
//! | `http` | The shared HTTP client and response classification ([`http`]); enabled by each of the above | yes (implied) |
//!
//! # Example
//!
//! ```
//! use alertkit_publish::TargetRegistry;
//!
//! let registry = TargetRegistry::from_toml(r#"
//!     [[targets]]
//!     name = "ops-slack"
//!     type = "slack"
//!     url = "https://hooks.slack.com/services/T000/B000/XXXX"
//!     filters = { min_severity = "warning", drop_noise = true }
//!
//!     [[targets]]
//!     name = "pager"
//!     type = "pagerduty"
//!     routing_key = "0123456789abcdef0123456789abcdef"
//!     filters = { min_severity = "critical" }
//! "#)?;
//! let targets = registry.current();
//! for target in targets.enabled() {
//!     // The delivery layer wires target.publisher(), target.filter() and target.rate_limit().
//!     println!("{} {:?}", target.name(), target.rate_limit().map(|r| r.to_string()));
//! }
//! // Or publish directly, each target behind its filter:
//! let fanout = targets.fanout();
//! assert_eq!(fanout.names().collect::<Vec<_>>(), ["ops-slack", "pager"]);
//! // A redacted view for an API:
//! let view = serde_json::to_string(&*targets)?;
//! assert!(view.contains(r#""url":"https://hooks.slack.com/***""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The core building blocks (filters, fan-out, the direct hand-off, the
//! recording publisher used by simulation mode) are re-exported.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(
    feature = "slack",
    feature = "pagerduty",
    feature = "rootly",
    feature = "webhook"
))]
pub mod config;
pub mod delivery;
mod filter;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "pagerduty")]
pub mod pagerduty;
#[cfg(any(
    feature = "slack",
    feature = "pagerduty",
    feature = "rootly",
    feature = "webhook"
))]
mod registry;
#[cfg(feature = "http")]
mod render;
#[cfg(feature = "rootly")]
pub mod rootly;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use filter::{Filtered, TargetFilter};
#[cfg(any(
    feature = "slack",
    feature = "pagerduty",
    feature = "rootly",
    feature = "webhook"
))]
pub use registry::{EnvLookup, ReloadSummary, Target, TargetRegistry, TargetSet, build_publisher};

pub use alertkit_core::layer::{
    DirectHandoff, FanOut, Filter, FilterLayer, PublishFilter, TargetResult,
};
pub use alertkit_core::memory::RecordingPublisher;
pub use alertkit_core::{REDACTED, Secret};
