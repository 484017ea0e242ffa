//! The history API: filtered, paginated alerts and one alert's timeline.

use std::sync::Arc;

use alertkit_core::traits::Cursor;
use alertkit_core::{Fingerprint, HistoryQuery, Matchers, Severity, Status};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::views::{AlertView, EventView};

/// Query string of `GET /api/v2/history`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// `firing` or `resolved`.
    status: Option<String>,
    /// `critical`, `warning`, `info`, `noise` or `unknown`.
    severity: Option<String>,
    /// Alertmanager matchers, e.g. `{alertname=~"Disk.*",env="prod"}`.
    filter: Option<String>,
    /// Text in the summary or description.
    q: Option<String>,
    /// At most this many alerts (default 100, at most 1000).
    limit: Option<usize>,
    /// The cursor from a previous page's `next`.
    after: Option<String>,
    /// Oldest change first instead of newest.
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

/// One page of alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryPageView<'a> {
    /// The alerts, newest change first unless `oldest_first`.
    alerts: Vec<AlertView<'a>>,
    /// Cursor for the next page (`after=`), when there is one.
    next: Option<String>,
}

/// One alert and its timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertHistoryView<'a> {
    /// The alert's current state.
    alert: AlertView<'a>,
    /// Everything that happened to it, oldest first.
    timeline: Vec<EventView<'a>>,
    /// Every delivery attempt at every target, oldest first (the
    /// notification audit trail); empty when publishing is off.
    deliveries: Vec<DeliveryView>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    target: String,
    /// `firing`, `resolved` or `refired`.
    kind: &'static str,
    attempt: u32,
    /// RFC 3339.
    at: String,
    /// `delivered`, `skipped`, `retry` or `dead`.
    outcome: &'static str,
    status_code: Option<u16>,
    /// The error, or why a filter skipped it.
    detail: Option<String>,
    latency_ms: f64,
}

impl From<alertkit_core::traits::DeliveryAttempt> for DeliveryView {
    fn from(a: alertkit_core::traits::DeliveryAttempt) -> Self {
        Self {
            target: a.target,
            kind: a.kind.as_str(),
            attempt: a.attempt,
            at: alertkit_core::model::format_rfc3339(a.at),
            outcome: a.outcome.as_str(),
            status_code: a.status_code,
            detail: a.detail,
            latency_ms: a.latency_ms,
        }
    }
}

/// Lists alerts, filtered and keyset-paginated.
#[utoipa::path(
    get,
    path = "/api/v2/history",
    tag = "history",
    params(ListParams),
    responses(
        (status = 200, description = "one page", body = HistoryPageView<'_>),
        (status = 400, description = "a bad parameter (named in `field`)", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn history_list(
    State(s): State<Arc<AppState>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    // Read-your-writes: everything acknowledged so far is in history.
    s.ingest.sync().await;
    let Query(params) = params.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let query = params.into_query()?;
    let page = s
        .store
        .list(&query)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let view = HistoryPageView {
        alerts: page.records.iter().map(AlertView::from).collect(),
        next: page.next.map(|c| c.to_string()),
    };
    json_response(&view)
}

/// One alert (by fingerprint) and its timeline.
#[utoipa::path(
    get,
    path = "/api/v2/history/{fingerprint}",
    tag = "history",
    params(("fingerprint" = String, Path, description = "16 hex digits")),
    responses(
        (status = 200, description = "the alert, its timeline and its deliveries", body = AlertHistoryView<'_>),
        (status = 400, description = "not a fingerprint", body = ErrorBody),
        (status = 404, description = "no such alert", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn history_one(
    State(s): State<Arc<AppState>>,
    Path(fingerprint): Path<String>,
) -> Result<Response, ApiError> {
    // Read-your-writes: everything acknowledged so far is in history.
    s.ingest.sync().await;
    let fp: Fingerprint =
        fingerprint
            .parse()
            .map_err(|e: alertkit_core::model::InvalidFingerprint| {
                ApiError::bad_request("fingerprint", e.to_string())
            })?;
    let Some(record) = s.store.get(fp).await.map_err(|e| ApiError::store(&e))? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no alert with fingerprint {fp}"),
        ));
    };
    let timeline = s
        .store
        .timeline(fp)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let deliveries = match &s.publishing {
        Some(p) => p
            .outbox()
            .deliveries(fp)
            .await
            .map_err(|e| ApiError::store(&e))?
            .into_iter()
            .map(DeliveryView::from)
            .collect(),
        None => Vec::new(),
    };
    let view = AlertHistoryView {
        alert: AlertView::from(&record),
        timeline: timeline.iter().map(EventView::from).collect(),
        deliveries,
    };
    json_response(&view)
}

/// A JSON answer from a view borrowing the handler's records.
fn json_response(view: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(view).map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a history view");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
