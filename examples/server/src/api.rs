//! HTTP handlers and the router.

use std::sync::Arc;

use alertkit_core::pipeline::{Ingest, IngestReceipt, PipelineError};
use alertkit_core::traits::Cursor;
use alertkit_core::{
    ApiV2Defaults, Fingerprint, HistoryQuery, HistoryStore, Matchers, Origin, ParseError, Severity,
    SourceBatch, Status, StoreError, WebhookMessage, parse_postable_alerts,
};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::views::{AlertView, EventView};

/// Largest request body accepted (answered 413 above it).
pub(crate) const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Most alerts accepted in one request.
pub(crate) const MAX_ALERTS_PER_REQUEST: usize = 10_000;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) ingest: Ingest,
    pub(crate) store: Arc<dyn HistoryStore>,
}

/// The whole HTTP API.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/api/v2/alerts", post(api_v2_alerts))
        .route("/api/v2/history", get(history_list))
        .route("/api/v2/history/{fingerprint}", get(history_one))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// An error answer: a status and a JSON body naming what is wrong.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": message.into(), "field": field}),
        }
    }

    fn parse(e: &ParseError) -> Self {
        Self::bad_request(e.path(), e.to_string())
    }

    fn store(e: &StoreError) -> Self {
        match e {
            StoreError::InvalidQuery(m) | StoreError::Invalid(m) => {
                Self::bad_request("query", m.clone())
            }
            e if e.is_transient() => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({"error": e.to_string()}),
            },
            e => {
                tracing::error!(error = %e, "history store failure");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    body: json!({"error": "internal error"}),
                }
            }
        }
    }

    fn pipeline(e: &PipelineError) -> Self {
        match e {
            PipelineError::Store(s) => Self::store(s),
            e => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: json!({"error": e.to_string()}),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

fn receipt_json(r: IngestReceipt) -> serde_json::Value {
    json!({"status": "ok", "received": r.received, "duplicates": r.duplicates, "changed": r.changed})
}

fn check_count(n: usize) -> Result<(), ApiError> {
    if n > MAX_ALERTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "alerts",
            format!("{n} alerts exceed the limit of {MAX_ALERTS_PER_REQUEST} per request"),
        ));
    }
    Ok(())
}

/// `POST /webhook`: an Alertmanager webhook v4, acknowledged after commit.
async fn webhook(
    State(s): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let msg = WebhookMessage::from_json(&body).map_err(|e| ApiError::parse(&e))?;
    check_count(msg.alerts.len())?;
    for m in &msg.fingerprint_mismatches {
        tracing::debug!(index = m.index, received = %m.received, computed = %m.computed, "webhook fingerprint disagrees with labels; using the labels");
    }
    let receipt = s
        .ingest
        .submit(SourceBatch::from_webhook(msg))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    Ok(Json(receipt_json(receipt)))
}

/// `POST /api/v2/alerts`: Alertmanager's API v2; valid alerts are stored even when others are rejected.
async fn api_v2_alerts(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let parsed =
        parse_postable_alerts(&body, ApiV2Defaults::now()).map_err(|e| ApiError::parse(&e))?;
    check_count(parsed.alerts.len() + parsed.errors.len())?;
    let receipt = s
        .ingest
        .submit(SourceBatch::new(Origin::named("api/v2"), parsed.alerts))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    if parsed.errors.is_empty() {
        return Ok(Json(receipt_json(receipt)).into_response());
    }
    let errors: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| json!({"field": e.path(), "error": e.to_string()}))
        .collect();
    Ok((
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "some alerts were rejected", "errors": errors, "accepted": receipt.received})),
    )
        .into_response())
}

/// Query string of `GET /api/v2/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    severity: Option<String>,
    filter: Option<String>,
    q: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
    #[serde(default)]
    oldest_first: bool,
}

impl ListParams {
    fn into_query(self) -> Result<HistoryQuery, ApiError> {
        let mut q = HistoryQuery::default();
        q.status = match self.status.as_deref() {
            None => None,
            Some("firing") => Some(Status::Firing),
            Some("resolved") => Some(Status::Resolved),
            Some(other) => {
                return Err(ApiError::bad_request(
                    "status",
                    format!("{other:?} is not firing or resolved"),
                ));
            }
        };
        q.severity = self
            .severity
            .map(|s| s.parse::<Severity>())
            .transpose()
            .map_err(|e| ApiError::bad_request("severity", e.to_string()))?;
        if let Some(f) = self.filter {
            q.matchers =
                Matchers::parse(&f).map_err(|e| ApiError::bad_request("filter", e.to_string()))?;
        }
        q.text = self.q;
        q.limit = self.limit.unwrap_or(100).min(1000);
        q.after = self
            .after
            .map(|c| c.parse::<Cursor>())
            .transpose()
            .map_err(|e| ApiError::bad_request("after", e.to_string()))?;
        q.oldest_first = self.oldest_first;
        Ok(q)
    }
}

/// `GET /api/v2/history`: filtered, keyset-paginated alerts.
async fn history_list(
    State(s): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let query = params.into_query()?;
    let page = s
        .store
        .list(&query)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let alerts: Vec<AlertView<'_>> = page.records.iter().map(AlertView::from).collect();
    Ok(Json(
        json!({"alerts": alerts, "next": page.next.map(|c| c.to_string())}),
    ))
}

/// `GET /api/v2/history/{fingerprint}`: one alert and its timeline.
async fn history_one(
    State(s): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fp: Fingerprint =
        fingerprint
            .parse()
            .map_err(|e: alertkit_core::model::InvalidFingerprint| {
                ApiError::bad_request("fingerprint", e.to_string())
            })?;
    let Some(record) = s.store.get(fp).await.map_err(|e| ApiError::store(&e))? else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            body: json!({"error": format!("no alert with fingerprint {fp}")}),
        });
    };
    let timeline = s
        .store
        .timeline(fp)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let events: Vec<EventView<'_>> = timeline.iter().map(EventView::from).collect();
    Ok(Json(
        json!({"alert": AlertView::from(&record), "timeline": events}),
    ))
}

/// `GET /readyz`: the history store answers.
async fn readyz(State(s): State<AppState>) -> Response {
    match s.store.get(Fingerprint::from_u64(0)).await {
        Ok(_) => {
            Json(json!({"status": "ready", "checks": {"history_store": "ok"}})).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "checks": {"history_store": e.to_string()}})),
        )
            .into_response(),
    }
}
