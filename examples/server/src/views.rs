//! JSON shapes of the history API.

use alertkit_core::{AlertRecord, Classification, HistoryEvent, model::format_rfc3339};
use serde::Serialize;
use time::OffsetDateTime;

fn ts(t: OffsetDateTime) -> String {
    format_rfc3339(t)
}

/// One alert's current state.
#[derive(Debug, Serialize)]
pub(crate) struct AlertView<'a> {
    fingerprint: String,
    status: &'static str,
    severity: &'static str,
    labels: &'a alertkit_core::LabelSet,
    annotations: &'a alertkit_core::Annotations,
    starts_at: String,
    ends_at: Option<String>,
    first_seen: String,
    last_seen: String,
    last_changed: String,
    fire_count: u32,
    transitions: u32,
    generator_url: &'a str,
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
#[derive(Debug, Serialize)]
pub(crate) struct EventView<'a> {
    kind: &'static str,
    at: String,
    status: &'static str,
    starts_at: String,
    ends_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a alertkit_core::Annotations>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
