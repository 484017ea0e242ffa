//! OpenAPI schemas of bodies whose Rust types live in `alertkit-core`
//! (which does not depend on utoipa). Documentation only: the handlers parse
//! with the core's wire parsers; tests check these shapes against them.

#![allow(dead_code, reason = "documentation-only shapes, never built")]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// An Alertmanager webhook notification (version 4), as Alertmanager's
/// `webhook_configs` posts it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookMessage)]
pub(crate) struct WebhookMessageDoc {
    /// `"4"`.
    version: Option<String>,
    /// `firing` or `resolved` (of the group).
    status: Option<String>,
    /// The receiver name.
    receiver: Option<String>,
    /// The group key.
    group_key: Option<String>,
    /// Alerts Alertmanager had to leave out (`max_alerts`).
    truncated_alerts: Option<u64>,
    /// The labels the group is keyed on.
    group_labels: Option<BTreeMap<String, String>>,
    /// Labels all alerts share.
    common_labels: Option<BTreeMap<String, String>>,
    /// Annotations all alerts share.
    common_annotations: Option<BTreeMap<String, String>>,
    /// Alertmanager's URL.
    #[serde(rename = "externalURL")]
    external_url: Option<String>,
    /// The alerts.
    alerts: Vec<WebhookAlertDoc>,
}

/// One alert of a webhook notification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookAlert)]
pub(crate) struct WebhookAlertDoc {
    /// `firing` or `resolved`.
    status: Option<String>,
    /// Identifying labels (at least one).
    labels: BTreeMap<String, String>,
    /// Descriptive annotations.
    annotations: Option<BTreeMap<String, String>>,
    /// RFC 3339.
    starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing.
    ends_at: Option<String>,
    /// The alert's source.
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    /// Alertmanager's fingerprint (16 hex digits); recomputed from the labels.
    fingerprint: Option<String>,
}

/// One alert of an Alertmanager API v2 `POST /api/v2/alerts` body (an array).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PostableAlert)]
pub(crate) struct PostableAlertDoc {
    /// Identifying labels (at least one non-empty).
    labels: BTreeMap<String, String>,
    /// Descriptive annotations.
    annotations: Option<BTreeMap<String, String>>,
    /// RFC 3339; defaults to `endsAt`, else now.
    starts_at: Option<String>,
    /// RFC 3339; defaults to now plus the resolve timeout. Not after now means resolved.
    ends_at: Option<String>,
    /// The alert's source.
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
}

/// A classifier's verdict.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Classification)]
pub(crate) struct ClassificationDoc {
    /// `critical`, `warning`, `info`, `noise` or `unknown`.
    severity: String,
    /// The category (`availability`, `latency`, `errors`, …).
    category: String,
    /// 0 to 1.
    confidence: f64,
    /// One line.
    summary: String,
    /// What to do.
    recommendations: Vec<String>,
    /// `rules`, `llm`, `cache` or `default`.
    source: String,
    /// The model, for `llm` verdicts.
    model: Option<String>,
    /// How long classifying took.
    latency_ms: u64,
}
