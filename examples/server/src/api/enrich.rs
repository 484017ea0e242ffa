//! Classification operations: the enrichment mode, cache and classifier stats.

use std::sync::Arc;

use alertkit_llm::EnrichmentMode;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, json_body};
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
pub(crate) async fn get_mode(State(s): State<Arc<AppState>>) -> Result<Json<ModeView>, ApiError> {
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
    State(s): State<Arc<AppState>>,
    body: Result<Json<SetMode>, JsonRejection>,
) -> Result<Json<ModeView>, ApiError> {
    let body = json_body(body)?;
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
    State(s): State<Arc<AppState>>,
) -> Result<Json<CacheStatsView>, ApiError> {
    let c = classify(&s)?;
    let st = c.cache.stats();
    // Hits answered by the chain's in-process L1 of decoded verdicts never
    // reach the byte cache: count them too.
    let l1_hits = c
        .chain
        .as_ref()
        .and_then(|ch| ch.cache_stats())
        .map_or(0, |s| s.l1_hits);
    let hits = st.hits + l1_hits;
    let lookups = hits + st.misses;
    Ok(Json(CacheStatsView {
        hits,
        misses: st.misses,
        evictions: st.evictions,
        errors: st.errors,
        hit_rate: if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
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
    State(s): State<Arc<AppState>>,
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

/// What a cache warm did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WarmView {
    /// Firing alerts found.
    firing: usize,
    /// Of those, classified now (the others failed; see the logs).
    classified: usize,
    /// Whether the scan stopped at its bound (10,000 alerts) before the end.
    truncated: bool,
}

/// Most alerts one warm classifies.
const WARM_MAX: usize = 10_000;

/// Pre-classifies the currently firing alerts (admin), so their next
/// notifications answer from the cache.
#[utoipa::path(
    post,
    path = "/api/v2/cache/warm",
    tag = "admin",
    request_body = crate::api::publish::ReloadRequest,
    responses(
        (status = 200, description = "what was classified", body = WarmView),
        (status = 400, description = "a body other than `{}`", body = ErrorBody),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
        (status = 503, description = "history or classification unavailable", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn warm_cache(
    State(s): State<Arc<AppState>>,
    body: Result<Json<crate::api::publish::ReloadRequest>, JsonRejection>,
) -> Result<Json<WarmView>, ApiError> {
    let _empty = json_body(body)?;
    let c = classify(&s)?;
    let mut query = alertkit_core::HistoryQuery::default();
    query.status = Some(alertkit_core::Status::Firing);
    query.limit = 1000;
    let mut alerts = Vec::new();
    let mut truncated = false;
    loop {
        let page = s
            .store
            .list(&query)
            .await
            .map_err(|e| ApiError::store(&e))?;
        for r in page.records {
            let mut a =
                alertkit_core::Alert::firing(r.labels, r.starts_at).with_annotations(r.annotations);
            a.generator_url = r.generator_url;
            alerts.push(a);
        }
        if alerts.len() >= WARM_MAX {
            truncated = page.next.is_some() || alerts.len() > WARM_MAX;
            alerts.truncate(WARM_MAX);
            break;
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let firing = alerts.len();
    let classifier = Arc::clone(&c.classifier);
    let attempts = alerts.into_iter().map(move |a| {
        let classifier = Arc::clone(&classifier);
        let fut: std::pin::Pin<Box<dyn Future<Output = bool> + Send>> =
            Box::pin(async move { classifier.classify(&a).await.is_ok() });
        fut
    });
    let results = futures_util::stream::iter(attempts)
        .buffer_unordered(8)
        .collect::<Vec<bool>>()
        .await;
    Ok(Json(WarmView {
        firing,
        classified: results.iter().filter(|ok| **ok).count(),
        truncated,
    }))
}
