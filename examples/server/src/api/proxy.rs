//! `POST /webhook/proxy`: ingest like `/webhook` (durably, through the
//! outbox), then wait — boundedly — for each alert's classification and
//! per-target delivery outcome, and answer with them.

use std::sync::Arc;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alertkit_core::traits::DeliveryAttempt;
use alertkit_core::{Alert, SourceBatch, WebhookMessage};
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::ingest::{check_count, read_body};
use super::schema::WebhookMessageDoc;
use crate::progress::Waiter;

/// How long the proxy waits for classifications and delivery outcomes.
const WAIT: Duration = Duration::from_secs(10);
/// The proxy wakes when this process hands off or settles (see
/// [`Progress`](crate::progress::Progress)); it also re-reads this often in
/// case another replica's worker delivered (Postgres, several replicas).
const RECHECK: Duration = Duration::from_millis(500);

/// One target's outcome for one alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TargetOutcome {
    target: String,
    /// `delivered`, `skipped` (filtered), `retry` (failed, will retry),
    /// `dead` (given up), or `pending` (no attempt within the wait).
    outcome: &'static str,
    status_code: Option<u16>,
    /// The error, or why the target's filter skipped it.
    detail: Option<String>,
}

/// What happened to one alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertResult {
    fingerprint: String,
    alertname: Option<String>,
    /// `firing` or `resolved`.
    status: &'static str,
    /// Whether this request changed the alert's history (a repeat does not,
    /// and publishes nothing).
    changed: bool,
    /// The verdict stored for the alert, if any.
    #[schema(value_type = Object)]
    classification: Option<serde_json::Value>,
    targets: Vec<TargetOutcome>,
}

/// The proxy's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProxyResponse {
    /// `ok`: committed to history.
    status: &'static str,
    received: usize,
    duplicates: usize,
    changed: usize,
    /// Whether every changed alert got an outcome at every target in time.
    complete: bool,
    results: Vec<AlertResult>,
}

fn outcome(a: &DeliveryAttempt) -> TargetOutcome {
    TargetOutcome {
        target: a.target.clone(),
        outcome: a.outcome.as_str(),
        status_code: a.status_code,
        detail: a.detail.clone(),
    }
}

/// Classifies and publishes a webhook, answering with per-alert results.
///
/// Durable like `/webhook`: the answer comes after the commit, and delivery
/// goes through the outbox; the proxy only waits (up to 10 s) to report what
/// happened. Targets that did not answer in time are reported `pending`.
#[utoipa::path(
    post,
    path = "/webhook/proxy",
    tag = "ingest",
    request_body = WebhookMessageDoc,
    responses(
        (status = 200, description = "committed; per-alert classification and delivery outcomes", body = ProxyResponse),
        (status = 400, description = "malformed payload (names the JSON path) or too many alerts", body = ErrorBody),
        (status = 401, description = "missing or wrong credentials", body = ErrorBody),
        (status = 413, description = "body above the configured limit", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    ),
    security((), ("ingest_bearer" = []), ("ingest_basic" = []))
)]
pub(crate) async fn webhook_proxy(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ProxyResponse>, ApiError> {
    let body = read_body(&s, &headers, body)?;
    let msg = WebhookMessage::from_json(&body).map_err(|e| ApiError::parse(&e))?;
    check_count(&s, msg.alerts.len())?;
    let mut seen = HashSet::new();
    let alerts: Vec<Alert> = msg
        .alerts
        .iter()
        .filter(|a| seen.insert(a.fingerprint()))
        .cloned()
        .collect();
    let submitted = OffsetDateTime::now_utc();
    // Before the submit: no hand-off of this batch can be missed.
    let mut waiter = s.progress.subscribe();
    // Waits for the history commit (not only the journal): the answer
    // reports what changed.
    let receipt = s
        .ingest
        .submit_recorded(SourceBatch::from_webhook(msg))
        .await
        .map_err(|e| ApiError::pipeline(&e))?;
    let targets = s
        .publishing
        .as_ref()
        .map(|p| p.enabled())
        .unwrap_or_default();
    let deadline = Instant::now() + WAIT;
    let mut results = Vec::with_capacity(alerts.len());
    let mut complete = true;
    for alert in &alerts {
        let (result, done) =
            wait_for(&s, &mut waiter, alert, &targets, submitted, deadline).await?;
        complete &= done;
        results.push(result);
    }
    Ok(Json(ProxyResponse {
        status: "ok",
        received: receipt.received,
        duplicates: receipt.duplicates,
        changed: receipt.changed.unwrap_or_default(),
        complete,
        results,
    }))
}

/// Reads history and the delivery log for `alert` until it is classified
/// and every target has an attempt made after `since`, or `deadline`;
/// between reads, waits for `waiter` (a hand-off or a settle).
async fn wait_for(
    s: &AppState,
    waiter: &mut Waiter,
    alert: &Alert,
    targets: &[String],
    since: OffsetDateTime,
    deadline: Instant,
) -> Result<(AlertResult, bool), ApiError> {
    let fp = alert.fingerprint();
    loop {
        // Signals from here on wake the wait below, even during the reads.
        waiter.mark_seen();
        // The delivery log before the record: a delivery comes after the
        // classification is attached, so a delivered alert is never
        // reported without its verdict.
        let attempts: Vec<DeliveryAttempt> = match (&s.publishing, targets.is_empty()) {
            (Some(p), false) => p
                .outbox()
                .deliveries(fp)
                .await
                .map_err(|e| ApiError::store(&e))?
                .into_iter()
                .filter(|a| a.at >= since)
                .collect(),
            _ => Vec::new(),
        };
        let record = s.store.get(fp).await.map_err(|e| ApiError::store(&e))?;
        let changed = record.as_ref().is_some_and(|r| r.last_changed >= since);
        let outcomes: Vec<TargetOutcome> = targets
            .iter()
            .map(|t| {
                attempts.iter().rev().find(|a| &a.target == t).map_or_else(
                    || TargetOutcome {
                        target: t.clone(),
                        outcome: "pending",
                        status_code: None,
                        detail: None,
                    },
                    outcome,
                )
            })
            .collect();
        let classified = record.as_ref().is_some_and(|r| r.classification.is_some())
            || s.classify
                .as_ref()
                .is_some_and(|c| c.mode.cached().mode == alertkit_llm::EnrichmentMode::Transparent);
        let delivered = outcomes.iter().all(|o| o.outcome != "pending");
        let done = !changed
            || if targets.is_empty() {
                classified
            } else {
                delivered
            };
        if done || Instant::now() >= deadline {
            let result = AlertResult {
                fingerprint: fp.to_string(),
                alertname: alert.labels.get("alertname").map(str::to_owned),
                status: alert.status.as_str(),
                changed,
                classification: record
                    .as_ref()
                    .and_then(|r| r.classification.as_deref())
                    .and_then(|c| serde_json::to_value(c).ok()),
                targets: if changed { outcomes } else { Vec::new() },
            };
            return Ok((result, done));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        waiter.wait(left.min(RECHECK)).await;
    }
}
