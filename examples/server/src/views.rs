//! JSON shapes of the history API.

use alertkit_core::{AlertRecord, Classification, HistoryEvent, model::format_rfc3339};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

#[allow(unused_imports, reason = "named in schema attributes")]
use std::collections::BTreeMap;

use crate::api::schema::ClassificationDoc;

fn ts(t: OffsetDateTime) -> String {
    format_rfc3339(t)
}

/// One alert's current state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertView<'a> {
    /// Alertmanager's fingerprint of the labels (16 hex digits).
    fingerprint: String,
    /// `firing` or `resolved`.
    status: &'static str,
    /// The classification's severity, else the `severity` label's.
    severity: &'static str,
    /// Identifying labels.
    #[schema(value_type = BTreeMap<String, String>)]
    labels: &'a alertkit_core::LabelSet,
    /// The latest annotations.
    #[schema(value_type = BTreeMap<String, String>)]
    annotations: &'a alertkit_core::Annotations,
    /// RFC 3339.
    starts_at: String,
    /// RFC 3339, once resolved.
    ends_at: Option<String>,
    /// When alertkit first received it.
    first_seen: String,
    /// When alertkit last received it.
    last_seen: String,
    /// When its status or annotations last changed.
    last_changed: String,
    /// How often it started firing.
    fire_count: u32,
    /// Status changes.
    transitions: u32,
    /// The alert's source.
    generator_url: &'a str,
    /// The latest classification.
    #[schema(value_type = Option<ClassificationDoc>)]
    classification: Option<&'a Classification>,
}

impl<'a> From<&'a AlertRecord> for AlertView<'a> {
    fn from(r: &'a AlertRecord) -> Self {
        Self {
            fingerprint: r.fingerprint.to_string(),
            status: r.status.as_str(),
            severity: r.severity().as_str(),
            labels: &r.labels,
            annotations: &r.annotations,
            starts_at: ts(r.starts_at),
            ends_at: r.ends_at.map(ts),
            first_seen: ts(r.first_seen),
            last_seen: ts(r.last_seen),
            last_changed: ts(r.last_changed),
            fire_count: r.fire_count,
            transitions: r.transitions,
            generator_url: &r.generator_url,
            classification: r.classification.as_deref(),
        }
    }
}

/// One timeline entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView<'a> {
    /// `firing`, `resolved`, `refired`, `annotations_changed`, `classified`, …
    kind: &'static str,
    /// When it happened (RFC 3339).
    at: String,
    /// The status after it.
    status: &'static str,
    /// RFC 3339.
    starts_at: String,
    /// RFC 3339, when resolved.
    ends_at: Option<String>,
    /// The annotations, when they changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    annotations: Option<&'a alertkit_core::Annotations>,
    /// The classification, for `classified` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ClassificationDoc>)]
    classification: Option<&'a Classification>,
}

impl<'a> From<&'a HistoryEvent> for EventView<'a> {
    fn from(e: &'a HistoryEvent) -> Self {
        Self {
            kind: e.kind.as_str(),
            at: ts(e.at),
            status: e.status.as_str(),
            starts_at: ts(e.starts_at),
            ends_at: e.ends_at.map(ts),
            annotations: e.annotations.as_ref(),
            classification: e.classification.as_deref(),
        }
    }
}
