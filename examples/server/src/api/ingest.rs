//! Ingest: Alertmanager's webhook and API v2 bodies into the pipeline.

use std::sync::Arc;

use alertkit_core::pipeline::IngestReceipt;
use alertkit_core::{ApiV2Defaults, Origin, SourceBatch, WebhookMessage, parse_postable_alerts};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::schema::{PostableAlertDoc, WebhookMessageDoc};

/// A batch committed: to history, or (SQLite with the intake journal) to the
/// journal, with history following within one record cycle.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestResponse {
    /// `ok`.
    status: &'static str,
    /// Alerts in the request.
    received: usize,
    /// Alerts that repeated a recently committed state.
    duplicates: usize,
    /// Alerts that changed history; absent when the batch was acknowledged
    /// on the journal append, before history was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<usize>,
}

impl From<IngestReceipt> for IngestResponse {
    fn from(r: IngestReceipt) -> Self {
        Self {
            status: "ok",
            received: r.received,
            duplicates: r.duplicates,
            changed: r.changed,
        }
    }
}

/// Some alerts of an API v2 body were rejected; the others were stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PartialRejection {
    /// `some alerts were rejected`.
    error: &'static str,
    /// One entry per rejected alert, with its JSON path (`[1].labels`).
    errors: Vec<ErrorBody>,
    /// Alerts stored.
    accepted: usize,
}

/// Refuses an explicit non-JSON content type (a missing one is accepted).
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = ct
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        body: ErrorBody {
            field: Some("content-type".to_owned()),
            ..ErrorBody::new("the body must be JSON (Content-Type: application/json)")
        },
    })
}

/// The body, or the JSON error for a wrong type, an unreadable or too large body.
pub(super) fn read_body(
    s: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    check_json(headers)?;
    body.map_err(|e| ApiError::body(&e, s.config.limits.max_body_bytes))
}

pub(super) fn check_count(s: &AppState, n: usize) -> Result<(), ApiError> {
    let limit = s.config.limits.max_alerts_per_request;
    if n > limit {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                field: Some("alerts".to_owned()),
                limit: Some(limit as u64),
                ..ErrorBody::new(format!(
                    "{n} alerts exceed the limit of {limit} per request"
                ))
            },
        });
    }
    Ok(())
}

/// Receives an Alertmanager webhook notification; answers once it is committed.
#[utoipa::path(
    post,
    path = "/webhook",
    tag = "ingest",
    request_body = WebhookMessageDoc,
    responses(
        (status = 200, description = "committed to history", body = IngestResponse),
        (status = 400, description = "malformed payload (names the JSON path) or too many alerts", body = ErrorBody),
        (status = 401, description = "missing or wrong credentials", body = ErrorBody),
        (status = 413, description = "body above the configured limit", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 503, description = "history unavailable; Alertmanager retries", body = ErrorBody),
    ),
    security((), ("ingest_bearer" = []), ("ingest_basic" = []))
)]
pub(crate) async fn webhook(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let body = read_body(&s, &headers, body)?;
    let msg = WebhookMessage::from_json(&body).map_err(|e| ApiError::parse(&e))?;
    check_count(&s, msg.alerts.len())?;
    for m in &msg.fingerprint_mismatches {
        tracing::debug!(index = m.index, received = %m.received, computed = %m.computed, "webhook fingerprint disagrees with labels; using the labels");
    }
    let receipt = s
        .ingest
        .submit(SourceBatch::from_webhook(msg))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    Ok(Json(receipt.into()))
}

/// Receives alerts in Alertmanager's API v2 format (Prometheus can post here).
///
/// Best effort like Alertmanager: valid alerts are stored even when others
/// are rejected; then the answer is 400 listing the rejected ones.
#[utoipa::path(
    post,
    path = "/api/v2/alerts",
    tag = "ingest",
    request_body = Vec<PostableAlertDoc>,
    responses(
        (status = 200, description = "all alerts committed", body = IngestResponse),
        (status = 400, description = "some or all alerts rejected", body = PartialRejection),
        (status = 401, description = "missing or wrong credentials", body = ErrorBody),
        (status = 413, description = "body above the configured limit", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    ),
    security((), ("ingest_bearer" = []), ("ingest_basic" = []))
)]
pub(crate) async fn api_v2_alerts(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&s, &headers, body)?;
    let parsed =
        parse_postable_alerts(&body, ApiV2Defaults::now()).map_err(|e| ApiError::parse(&e))?;
    check_count(&s, parsed.alerts.len() + parsed.errors.len())?;
    let receipt = s
        .ingest
        .submit(SourceBatch::new(Origin::named("api/v2"), parsed.alerts))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    if parsed.errors.is_empty() {
        return Ok(Json(IngestResponse::from(receipt)).into_response());
    }
    let errors = parsed
        .errors
        .iter()
        .map(|e| ErrorBody {
            field: Some(e.path().to_owned()),
            ..ErrorBody::new(e.to_string())
        })
        .collect();
    Ok((
        StatusCode::BAD_REQUEST,
        Json(PartialRejection {
            error: "some alerts were rejected",
            errors,
            accepted: receipt.received,
        }),
    )
        .into_response())
}
