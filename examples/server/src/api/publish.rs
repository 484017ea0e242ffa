//! Publishing: targets (secrets redacted), the publishing mode, reloads and
//! dead letters.

use std::sync::Arc;

use alertkit_core::traits::{DeadLetter, DeadLetterQuery};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, json_body};
use crate::publishing::Publishing;

fn publishing(s: &AppState) -> Result<&Publishing, ApiError> {
    s.publishing.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this store has no outbox (publishing is off)",
        )
    })
}

/// The configured targets with secrets redacted, and their breaker states.
#[utoipa::path(
    get,
    path = "/publishing/targets",
    tag = "publishing",
    responses(
        (status = 200, description = "mode, redacted targets, breaker per target", body = Object),
        (status = 503, description = "publishing is off", body = ErrorBody),
    )
)]
pub(crate) async fn targets(
    State(s): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(publishing(&s)?.view()))
}

/// The publishing mode.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModeView {
    /// `normal`, or `metrics-only` when no target is enabled.
    mode: &'static str,
}

/// `normal` or `metrics-only` (no enabled target: alerts are stored and counted only).
#[utoipa::path(
    get,
    path = "/publishing/mode",
    tag = "publishing",
    responses((status = 200, description = "the mode", body = ModeView))
)]
pub(crate) async fn mode(State(s): State<Arc<AppState>>) -> Json<ModeView> {
    Json(ModeView {
        mode: s
            .publishing
            .as_deref()
            .map_or("metrics-only", Publishing::mode),
    })
}

/// Re-reads `TARGETS_FILE` (admin); an invalid file keeps the old targets.
#[utoipa::path(
    post,
    path = "/publishing/reload",
    tag = "admin",
    request_body = ReloadRequest,
    responses(
        (status = 200, description = "what changed", body = Object),
        (status = 400, description = "the file is invalid; the old targets stay", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn reload_targets(
    State(s): State<Arc<AppState>>,
    body: Result<Json<ReloadRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let _empty = json_body(body)?;
    let summary = publishing(&s)?
        .reload()
        .await
        .map_err(|e| ApiError::bad_request("targets.file", e))?;
    Ok(Json(serde_json::json!({
        "added": summary.added,
        "removed": summary.removed,
        "changed": summary.changed,
        "unchanged": summary.unchanged,
        "generation": summary.generation,
    })))
}

/// Which dead letters: by target, ids, and page position.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterParams {
    /// Only this target.
    target: Option<String>,
    /// Comma-separated ids (replay/purge: only these).
    ids: Option<String>,
    /// Ids above this one (pagination).
    after: Option<i64>,
    /// Page size (default 100, at most 1000).
    limit: Option<usize>,
}

impl DeadLetterParams {
    fn query(&self) -> Result<DeadLetterQuery, ApiError> {
        let ids = match &self.ids {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| ApiError::bad_request("ids", format!("{s:?} is not an id")))
                })
                .collect::<Result<_, _>>()?,
        };
        let mut q = DeadLetterQuery::default();
        q.ids = ids;
        q.target.clone_from(&self.target);
        q.after_id = self.after;
        q.limit = self.limit.unwrap_or(100).min(1000);
        Ok(q)
    }
}

/// One dead letter.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterView {
    id: i64,
    target: String,
    fingerprint: String,
    alertname: Option<String>,
    kind: String,
    attempts: u32,
    last_error: Option<String>,
    last_status: Option<u16>,
    /// RFC 3339.
    died_at: String,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self {
            id: d.id,
            target: d.target,
            fingerprint: d.notification.alert.fingerprint().to_string(),
            alertname: d
                .notification
                .alert
                .labels
                .get("alertname")
                .map(str::to_owned),
            kind: d.notification.kind.to_string(),
            attempts: d.attempts,
            last_error: d.last_error,
            last_status: d.last_status,
            died_at: d
                .died_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// Notifications that could not be delivered, oldest first.
#[utoipa::path(
    get,
    path = "/api/v2/deadletters",
    tag = "publishing",
    params(DeadLetterParams),
    responses(
        (status = 200, description = "dead letters", body = [DeadLetterView]),
        (status = 400, description = "a bad parameter", body = ErrorBody),
        (status = 503, description = "publishing is off or the store is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn dead_letters(
    State(s): State<Arc<AppState>>,
    Query(p): Query<DeadLetterParams>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    let list = publishing(&s)?
        .outbox()
        .dead_letters(&p.query()?)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(list.into_iter().map(DeadLetterView::from).collect()))
}

/// Which dead letters to replay or purge; every set field must match.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterSelection {
    /// Only this target.
    #[serde(default)]
    target: Option<String>,
    /// Only these ids (empty or absent: all).
    #[serde(default)]
    ids: Vec<i64>,
}

impl DeadLetterSelection {
    fn query(self) -> DeadLetterQuery {
        let mut q = DeadLetterQuery::default();
        q.ids = self.ids;
        q.target = self.target;
        q
    }
}

/// An empty request body (`{}`): reloads take no options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReloadRequest {}

/// How many dead letters an action touched.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CountView {
    count: u64,
}

/// The outbox and the dead letters a replay or purge body selects.
fn selected(
    s: &AppState,
    body: Result<Json<DeadLetterSelection>, JsonRejection>,
) -> Result<(Arc<dyn alertkit_core::Outbox>, DeadLetterQuery), ApiError> {
    let query = json_body(body)?.query();
    Ok((publishing(s)?.outbox(), query))
}

fn count(result: Result<u64, alertkit_core::StoreError>) -> Result<Json<CountView>, ApiError> {
    result
        .map(|count| Json(CountView { count }))
        .map_err(|e| ApiError::store(&e))
}

/// Puts matching dead letters back in the outbox, due now (admin).
#[utoipa::path(
    post,
    path = "/api/v2/deadletters/replay",
    tag = "admin",
    request_body = DeadLetterSelection,
    responses(
        (status = 200, description = "replayed", body = CountView),
        (status = 400, description = "a bad parameter", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn replay_dead_letters(
    State(s): State<Arc<AppState>>,
    body: Result<Json<DeadLetterSelection>, JsonRejection>,
) -> Result<Json<CountView>, ApiError> {
    let (outbox, query) = selected(&s, body)?;
    count(outbox.replay_dead_letters(&query).await)
}

/// Deletes matching dead letters (admin).
#[utoipa::path(
    post,
    path = "/api/v2/deadletters/purge",
    tag = "admin",
    request_body = DeadLetterSelection,
    responses(
        (status = 200, description = "purged", body = CountView),
        (status = 400, description = "a bad parameter", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn purge_dead_letters(
    State(s): State<Arc<AppState>>,
    body: Result<Json<DeadLetterSelection>, JsonRejection>,
) -> Result<Json<CountView>, ApiError> {
    let (outbox, query) = selected(&s, body)?;
    count(outbox.purge_dead_letters(&query).await)
}
