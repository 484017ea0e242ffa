//! Simulation mode (admin): what would have been sent, recorded instead of
//! delivered, and a bundled sample set to feed in. Every route answers 404
//! when simulation is off.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, json_body};
use alertkit_core::memory::RecordingPublisher;
use alertkit_core::{SourceBatch, Status, WebhookMessage};
use time::OffsetDateTime;

fn recorder(s: &AppState) -> Result<&RecordingPublisher, ApiError> {
    s.publishing
        .as_deref()
        .and_then(|p| p.simulation())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "simulation mode is off"))
}

/// The recorder's counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulationStatus {
    /// Always `true` (the route is 404 otherwise).
    enabled: bool,
    /// Notifications recorded since start or the last clear.
    recorded: u64,
    /// Notifications kept (the most recent 10,000).
    kept: usize,
    /// Older notifications dropped to respect the bound.
    dropped: u64,
}

/// Simulation status.
#[utoipa::path(
    get,
    path = "/v1/simulation/status",
    tag = "admin",
    responses(
        (status = 200, description = "simulation is on", body = SimulationStatus),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "simulation is off", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn status(
    State(s): State<Arc<AppState>>,
) -> Result<Json<SimulationStatus>, ApiError> {
    let r = recorder(&s)?;
    Ok(Json(SimulationStatus {
        enabled: true,
        recorded: r.total(),
        kept: r.notifications().len(),
        dropped: r.dropped(),
    }))
}

/// One notification that would have been sent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimulatedNotification {
    fingerprint: String,
    alertname: Option<String>,
    /// `firing`, `resolved` or `refired`.
    kind: String,
    /// The verdict it carried, if any.
    #[schema(value_type = Object)]
    classification: Option<serde_json::Value>,
    /// The Alertmanager receiver it came through.
    receiver: String,
}

/// What would have been sent, oldest first.
#[utoipa::path(
    get,
    path = "/v1/simulation/notifications",
    tag = "admin",
    responses(
        (status = 200, description = "recorded notifications", body = [SimulatedNotification]),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "simulation is off", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn notifications(
    State(s): State<Arc<AppState>>,
) -> Result<Json<Vec<SimulatedNotification>>, ApiError> {
    let r = recorder(&s)?;
    Ok(Json(
        r.notifications()
            .into_iter()
            .map(|n| SimulatedNotification {
                fingerprint: n.alert.fingerprint().to_string(),
                alertname: n.alert.labels.get("alertname").map(str::to_owned),
                kind: n.kind.to_string(),
                classification: n
                    .classification
                    .as_deref()
                    .and_then(|c| serde_json::to_value(c).ok()),
                receiver: n.origin.receiver.clone(),
            })
            .collect(),
    ))
}

/// An empty request body (`{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClearRequest {}

/// How many notifications were cleared.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Cleared {
    cleared: usize,
}

/// Forgets the recorded notifications.
#[utoipa::path(
    post,
    path = "/v1/simulation/notifications/clear",
    tag = "admin",
    request_body = ClearRequest,
    responses(
        (status = 200, description = "cleared", body = Cleared),
        (status = 400, description = "a body other than `{}`", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "simulation is off", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn clear(
    State(s): State<Arc<AppState>>,
    body: Result<Json<ClearRequest>, JsonRejection>,
) -> Result<Json<Cleared>, ApiError> {
    let r = recorder(&s)?;
    let _empty = json_body(body)?;
    let cleared = r.notifications().len();
    r.clear();
    Ok(Json(Cleared { cleared }))
}

/// The bundled sample alerts (a webhook v4 body; documented beside it).
const SAMPLE: &str = include_str!("../../simulation/sample-alerts.json");
/// Where [`SAMPLE`] lives in the source tree.
const SAMPLE_PATH: &str = "examples/server/simulation/sample-alerts.json";

/// What to seed: `{}` fires the sample set.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedRequest {
    /// `firing` (the default): the sample alerts fire as new instances,
    /// stamped now. `resolved`: the sample alerts that are firing resolve.
    status: Option<String>,
}

/// What the seed did; the notifications follow through the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Seeded {
    /// `ok`: committed to history, like `/webhook`.
    status: &'static str,
    /// `firing` or `resolved`.
    seeded: &'static str,
    /// Sample alerts submitted (when resolving: those that were firing).
    received: usize,
    /// Dropped as repeats of a committed state.
    duplicates: usize,
    /// Alerts whose history changed (each one notifies).
    changed: usize,
    /// The submitted alerts' `alertname`s.
    alertnames: Vec<String>,
    /// The sample file in the server's source tree (a webhook v4 body that
    /// can also be posted to `/webhook` by hand).
    source: &'static str,
}

/// Feeds the bundled sample alerts through the normal ingest pipeline
/// (history, classification, outbox, the simulation recorder), so
/// `/v1/simulation/notifications` shows what real alerts would send.
///
/// Six alerts labelled `alertkit_sample="true"` (critical, warning and info;
/// see `examples/server/simulation/README.md`). `{}` fires them as new
/// instances stamped now, so every call notifies again;
/// `{"status":"resolved"}` resolves those that are firing.
#[utoipa::path(
    post,
    path = "/v1/simulation/seed",
    tag = "admin",
    request_body = SeedRequest,
    responses(
        (status = 200, description = "committed; notifications follow through the outbox", body = Seeded),
        (status = 400, description = "a bad body, or `status` other than `firing`/`resolved`", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "simulation is off", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn seed(
    State(s): State<Arc<AppState>>,
    body: Result<Json<SeedRequest>, JsonRejection>,
) -> Result<Json<Seeded>, ApiError> {
    recorder(&s)?;
    let request = json_body(body)?;
    let resolve = match request.status.as_deref() {
        None | Some("firing") => false,
        Some("resolved") => true,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(ApiError::bad_request(
                "status",
                format!("expected \"firing\" or \"resolved\", found {shown:?}"),
            ));
        }
    };
    let mut msg = WebhookMessage::from_json(SAMPLE.as_bytes()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the bundled sample alerts do not parse: {e}"),
        )
    })?;
    let now = OffsetDateTime::now_utc();
    if resolve {
        let mut firing = Vec::with_capacity(msg.alerts.len());
        for mut alert in std::mem::take(&mut msg.alerts) {
            let record = s
                .store
                .get(alert.fingerprint())
                .await
                .map_err(|e| ApiError::store(&e))?;
            // Resolve the instance that fires (same startsAt), or nothing.
            if let Some(r) = record.filter(|r| r.status == Status::Firing) {
                alert.starts_at = r.starts_at;
                firing.push(alert.resolved_at(now));
            }
        }
        msg.alerts = firing;
        msg.status = Status::Resolved;
    } else {
        for alert in &mut msg.alerts {
            alert.starts_at = now;
        }
    }
    let alertnames = msg
        .alerts
        .iter()
        .filter_map(|a| a.labels.get("alertname").map(str::to_owned))
        .collect();
    let receipt = s
        .ingest
        .submit_recorded(SourceBatch::from_webhook(msg))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    Ok(Json(Seeded {
        status: "ok",
        seeded: if resolve { "resolved" } else { "firing" },
        received: receipt.received,
        duplicates: receipt.duplicates,
        changed: receipt.changed.unwrap_or_default(),
        alertnames,
        source: SAMPLE_PATH,
    }))
}
