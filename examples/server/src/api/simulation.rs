//! Simulation mode (admin): what would have been sent, recorded instead of
//! delivered. Every route answers 404 when simulation is off.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, json_body};
use alertkit_core::memory::RecordingPublisher;

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
pub(crate) async fn status(State(s): State<AppState>) -> Result<Json<SimulationStatus>, ApiError> {
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
    State(s): State<AppState>,
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
    State(s): State<AppState>,
    body: Result<Json<ClearRequest>, JsonRejection>,
) -> Result<Json<Cleared>, ApiError> {
    let r = recorder(&s)?;
    let _empty = json_body(body)?;
    let cleared = r.notifications().len();
    r.clear();
    Ok(Json(Cleared { cleared }))
}
