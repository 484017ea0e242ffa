//! The HTTP API: routes, their OpenAPI document, and the layers around them.
//!
//! Every route is registered through [`OpenApiRouter::routes`], so the
//! router and `/openapi.json` cannot disagree.

mod enrich;
pub(crate) mod error;
mod health;
mod history;
mod ingest;
mod ops;
mod proxy;
pub(crate) mod publish;
pub(crate) mod schema;
mod simulation;
mod stats;

use std::sync::Arc;

use alertkit_core::HistoryStore;
use alertkit_core::pipeline::Ingest;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::{Extension, Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use health::Probe;

use crate::auth::{self, Guards};
use crate::config::Config;
use crate::telemetry;
use error::ErrorBody;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Submits batches to the pipeline.
    pub(crate) ingest: Ingest,
    /// Reads history.
    pub(crate) store: Arc<dyn HistoryStore>,
    /// The configuration in force.
    pub(crate) config: Arc<Config>,
    /// History statistics (`None` when the store keeps none).
    pub(crate) stats: Option<Arc<dyn alertkit_core::traits::HistoryStats>>,
    /// Classification: cache, chain, enrichment mode (`None` in tests).
    pub(crate) classify: Option<Arc<crate::classify::Classify>>,
    /// Targets and delivery (`None` in tests over the memory store).
    pub(crate) publishing: Option<Arc<crate::publishing::Publishing>>,
    /// Readiness probes, one per dependency.
    pub(crate) probes: Arc<[Probe]>,
    /// The SQL database, for the connection gauges at scrape time (`None`
    /// over the memory store).
    pub(crate) database: Option<crate::store::Opened>,
    /// Signalled when notifications are handed off or deliveries settle
    /// (what `/webhook/proxy` waits for).
    pub(crate) progress: crate::progress::Progress,
}

/// The document's metadata and security schemes; paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "alertkit reference server",
        description = "Alertmanager-compatible ingest and the alert history."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "ingest", description = "Alertmanager webhook and API v2 ingest"),
        (name = "history", description = "alert history"),
        (name = "operations", description = "health, readiness, metrics, this document"),
        (name = "classification", description = "enrichment mode, verdict cache, classifier"),
        (name = "publishing", description = "targets, delivery and dead letters"),
        (name = "admin", description = "needs ADMIN_API_KEY"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("ingest_bearer", bearer());
        components.add_security_scheme(
            "ingest_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme("admin_bearer", bearer());
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Admin-Key"))),
        );
    }
}

/// Every route with its documentation, grouped by the credentials it needs.
fn routes(guards: &Arc<Guards>) -> OpenApiRouter<Arc<AppState>> {
    let ingest = OpenApiRouter::new()
        .routes(routes!(ingest::webhook))
        .routes(routes!(ingest::api_v2_alerts))
        .routes(routes!(proxy::webhook_proxy))
        .route_layer(from_fn_with_state(Arc::clone(guards), auth::require_ingest));
    let admin = OpenApiRouter::new()
        .routes(routes!(ops::admin_config))
        .routes(routes!(publish::reload_targets))
        .routes(routes!(enrich::set_mode))
        .routes(routes!(enrich::warm_cache))
        .routes(routes!(simulation::status))
        .routes(routes!(simulation::notifications))
        .routes(routes!(simulation::clear))
        .routes(routes!(simulation::seed))
        .routes(routes!(publish::replay_dead_letters))
        .routes(routes!(publish::purge_dead_letters))
        .route_layer(from_fn_with_state(Arc::clone(guards), auth::require_admin));
    let open = OpenApiRouter::new()
        .routes(routes!(history::history_list))
        .routes(routes!(history::history_one))
        .routes(routes!(stats::history_stats))
        .routes(routes!(stats::history_top))
        .routes(routes!(stats::history_flapping))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(publish::targets))
        .routes(routes!(publish::mode))
        .routes(routes!(publish::dead_letters))
        .routes(routes!(enrich::get_mode))
        .routes(routes!(enrich::cache_stats))
        .routes(routes!(enrich::classification_stats));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ingest)
        .merge(admin)
        .merge(open)
}

/// The OpenAPI document of every route.
#[cfg(test)]
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    routes(&Arc::new(Guards::default())).into_openapi()
}

/// The whole HTTP API over `state`.
pub(crate) fn router(state: AppState) -> Router {
    // Installs the recorder on first use, so every app has `/metrics`.
    if let Err(e) = telemetry::prometheus() {
        tracing::error!(error = e, "metrics are unavailable");
    }
    let guards = Arc::new(Guards {
        ingest: state.config.ingest_auth.clone(),
        admin: state.config.admin_api_key.clone(),
    });
    let (router, doc) = routes(&guards).split_for_parts();
    let doc = serde_json::to_vec(&doc).unwrap_or_default();
    let router = router
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(ErrorBody::new("no such route; see /openapi.json")),
            )
        })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(ErrorBody::new("method not allowed; see /openapi.json")),
            )
                .into_response()
        })
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(Extension(ops::OpenApiJson(doc.into())))
        .layer(from_fn(telemetry::track_http))
        // One reference count per request instead of a clone of every field.
        .with_state(Arc::new(state));
    telemetry::request_layers(router)
}
