//! Operations: Prometheus metrics, the OpenAPI document, the admin view of
//! the configuration.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ErrorBody;
use crate::config::{Config, EnrichmentMode, IngestAuth, redact_url};
use crate::telemetry;

/// The OpenAPI document, serialised once when the router is built.
#[derive(Debug, Clone)]
pub(crate) struct OpenApiJson(pub(crate) Bytes);

/// Prometheus text exposition of every metric. Gauges read from the
/// database (connections in use, outbox depth) are refreshed first.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "no metrics recorder", body = ErrorBody),
    )
)]
pub(crate) async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    if let Some(db) = &s.database {
        telemetry::record_pool(db.pool_status());
    }
    if let Some(p) = &s.publishing
        && let Err(e) = alertkit_publish::delivery::record_queue_metrics(&*p.outbox()).await
    {
        // The other metrics are still worth answering with.
        tracing::warn!(error = %e, "could not read the outbox depth for /metrics");
    }
    match telemetry::prometheus() {
        Ok(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorBody::new(e.to_owned())),
        )
            .into_response(),
    }
}

/// This document: OpenAPI 3.1 for every route.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi(Extension(doc): Extension<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}

/// The effective configuration, secrets shown as `***`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfigView {
    /// `host:port`.
    listen: String,
    /// The log filter.
    log_level: String,
    /// `sqlite` or `postgres`.
    database_backend: &'static str,
    /// Without credentials or query.
    database_url: String,
    /// Connections (PostgreSQL) or readers (SQLite).
    database_pool_size: u32,
    /// PostgreSQL schema, when set.
    database_schema: Option<String>,
    /// Without credentials, when set.
    redis_url: Option<String>,
    /// The model endpoint, when set.
    llm_base_url: Option<String>,
    /// The model, when set.
    llm_model: Option<String>,
    /// `***` when set.
    llm_api_key: Option<&'static str>,
    /// `transparent`, `enriched` or `transparent_with_recommendations`.
    #[schema(value_type = String)]
    enrichment_mode: EnrichmentMode,
    /// `***` (always set when this answers).
    admin_api_key: &'static str,
    /// Whether the simulation endpoints are on.
    simulation_enabled: bool,
    /// `none`, `bearer` or `basic`.
    ingest_auth: &'static str,
    /// The basic auth user, when basic auth is on.
    ingest_basic_user: Option<String>,
    /// The publishing targets file, when set.
    targets_file: Option<String>,
    /// Request bodies above this get 413.
    max_body_bytes: usize,
    /// Requests with more alerts get 400.
    max_alerts_per_request: usize,
    /// History older than this many days is pruned (0: kept forever).
    retention_days: u64,
    /// Seconds between prunes.
    retention_interval_seconds: u64,
    /// Settings that are validated but not used by this build yet.
    not_yet_used: Vec<&'static str>,
}

impl From<&Config> for ConfigView {
    fn from(c: &Config) -> Self {
        let not_yet_used = Vec::new();

        Self {
            listen: c.listen.to_string(),
            log_level: c.log_level.clone(),
            database_backend: c.database.kind.as_str(),
            database_url: c.database.redacted(),
            database_pool_size: c.database.pool_size,
            database_schema: c.database.schema.clone(),
            redis_url: c.redis_url.as_ref().map(|u| redact_url(u.expose())),
            llm_base_url: c.llm.as_ref().map(|l| redact_url(&l.base_url)),
            llm_model: c.llm.as_ref().and_then(|l| l.model.clone()),
            llm_api_key: c
                .llm
                .as_ref()
                .and_then(|l| l.api_key.as_ref())
                .map(|_| "***"),
            enrichment_mode: c.enrichment_mode,
            admin_api_key: "***",
            simulation_enabled: c.simulation_enabled,
            ingest_auth: c.ingest_auth.scheme(),
            ingest_basic_user: match &c.ingest_auth {
                IngestAuth::Basic { user, .. } => Some(user.clone()),
                _ => None,
            },
            targets_file: c.targets_file.as_ref().map(|p| p.display().to_string()),
            max_body_bytes: c.limits.max_body_bytes,
            max_alerts_per_request: c.limits.max_alerts_per_request,
            retention_days: c.retention.days,
            retention_interval_seconds: c.retention.every.as_secs(),
            not_yet_used,
        }
    }
}

/// The effective configuration (admin only; secrets are never shown).
#[utoipa::path(
    get,
    path = "/api/v2/admin/config",
    tag = "admin",
    responses(
        (status = 200, description = "the configuration in force", body = ConfigView),
        (status = 401, description = "missing or wrong admin key", body = ErrorBody),
        (status = 403, description = "no ADMIN_API_KEY configured", body = ErrorBody),
    ),
    security(("admin_bearer" = []), ("admin_key" = []))
)]
pub(crate) async fn admin_config(State(s): State<Arc<AppState>>) -> Json<ConfigView> {
    Json(ConfigView::from(&*s.config))
}
