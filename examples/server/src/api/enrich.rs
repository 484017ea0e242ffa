//! Classification operations: the enrichment mode, cache and classifier stats.

use alertkit_llm::EnrichmentMode;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::classify::Classify;

fn classify(s: &AppState) -> Result<&Classify, ApiError> {
    s.classify.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "classification is not configured in this build",
        )
    })
}

/// The enrichment mode in force and where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModeView {
    /// `transparent`, `enriched` or `transparent_with_recommendations`.
    mode: String,
    /// `config` (ENRICHMENT_MODE), `runtime` (switched here) or `shared` (read from Redis).
    source: String,
}

async fn mode_view(c: &Classify) -> ModeView {
    let state = c.mode.current().await;
    metrics::gauge!("alert_history_enrichment_mode_status").set(state.mode.as_gauge());
    ModeView {
        mode: state.mode.as_str().to_owned(),
        source: state.source.as_str().to_owned(),
    }
}

/// The enrichment mode.
#[utoipa::path(
    get,
    path = "/enrichment/mode",
    tag = "classification",
    responses(
        (status = 200, description = "the mode and its source", body = ModeView),
        (status = 503, description = "classification is off", body = ErrorBody),
    )
)]
pub(crate) async fn get_mode(State(s): State<AppState>) -> Result<Json<ModeView>, ApiError> {
    Ok(Json(mode_view(classify(&s)?).await))
}

/// A new enrichment mode.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetMode {
    /// `transparent`, `enriched` or `transparent_with_recommendations`.
    mode: String,
}

/// Switches the enrichment mode (admin); shared with other replicas through Redis.
#[utoipa::path(
    post,
    path = "/enrichment/mode",
    tag = "admin",
    request_body = SetMode,
    responses(
        (status = 200, description = "the mode now in force", body = ModeView),
        (status = 400, description = "not a mode (field `mode`)", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
        (status = 503, description = "the shared cache is unavailable", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn set_mode(
    State(s): State<AppState>,
    body: Result<Json<SetMode>, JsonRejection>,
) -> Result<Json<ModeView>, ApiError> {
    let body = body
        .map_err(|e| ApiError::bad_request("body", e.body_text()))?
        .0;
    let mode: EnrichmentMode =
        body.mode
            .parse()
            .map_err(|e: alertkit_llm::mode::UnknownMode| {
                ApiError::bad_request("mode", e.to_string())
            })?;
    let c = classify(&s)?;
    c.mode.set(mode).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("mode switched here but not shared: {e}"),
        )
    })?;
    tracing::info!(mode = mode.as_str(), "enrichment mode switched");
    Ok(Json(mode_view(c).await))
}

/// Cache counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CacheStatsView {
    hits: u64,
    misses: u64,
    evictions: u64,
    errors: u64,
    /// hits / (hits + misses), 0 before any lookup.
    hit_rate: f64,
    /// `memory` or `memory+redis`.
    tiers: &'static str,
}

/// Verdict cache counters.
#[utoipa::path(
    get,
    path = "/api/v2/cache/stats",
    tag = "classification",
    responses(
        (status = 200, description = "counters since start", body = CacheStatsView),
        (status = 503, description = "classification is off", body = ErrorBody),
    )
)]
pub(crate) async fn cache_stats(
    State(s): State<AppState>,
) -> Result<Json<CacheStatsView>, ApiError> {
    let c = classify(&s)?;
    let st = c.cache.stats();
    let lookups = st.hits + st.misses;
    Ok(Json(CacheStatsView {
        hits: st.hits,
        misses: st.misses,
        evictions: st.evictions,
        errors: st.errors,
        hit_rate: if lookups == 0 {
            0.0
        } else {
            st.hits as f64 / lookups as f64
        },
        tiers: if c.redis.is_some() {
            "memory+redis"
        } else {
            "memory"
        },
    }))
}

/// What classifies alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ClassifierView {
    /// The classifier's id (model and version).
    id: String,
    /// Whether an LLM is configured.
    llm: bool,
    /// The LLM circuit breaker: `closed`, `open`, `half_open`; absent without an LLM.
    breaker: Option<&'static str>,
    /// The enrichment mode.
    mode: ModeView,
}

/// The classifier in use, its breaker and the enrichment mode.
#[utoipa::path(
    get,
    path = "/api/v2/classification/stats",
    tag = "classification",
    responses(
        (status = 200, description = "the classifier", body = ClassifierView),
        (status = 503, description = "classification is off", body = ErrorBody),
    )
)]
pub(crate) async fn classification_stats(
    State(s): State<AppState>,
) -> Result<Json<ClassifierView>, ApiError> {
    let c = classify(&s)?;
    Ok(Json(ClassifierView {
        id: c.classifier.id().to_owned(),
        llm: c.chain.is_some(),
        breaker: c
            .chain
            .as_ref()
            .and_then(|ch| ch.breaker_state())
            .map(|b| b.as_str()),
        mode: mode_view(c).await,
    }))
}
