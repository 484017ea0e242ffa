//! History statistics: counts over an interval, top firing and flapping alerts.

use std::sync::Arc;

use std::time::Duration;

use alertkit_core::traits::{StatsQuery, validate_per_hour};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};

/// The interval: `interval` back from now (default `1h`), or `since`/`until` (RFC 3339).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsParams {
    /// `30m`, `1h`, `24h`, `7d` … (default `1h`), ending now.
    interval: Option<String>,
    /// Start (RFC 3339); with `until`, instead of `interval`.
    since: Option<String>,
    /// End (RFC 3339), default now.
    until: Option<String>,
    /// Entries in top lists (default 10, at most 1000).
    limit: Option<usize>,
    /// Flapping only: state changes per hour at least (default 2).
    min_per_hour: Option<f64>,
}

fn parse_interval(s: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "interval",
            format!("{s:?} is not a duration like 30m, 1h, 24h or 7d"),
        )
    };
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    if n == 0 || n.saturating_mul(secs) > 366 * 86_400 {
        return Err(bad());
    }
    Ok(Duration::from_secs(n * secs))
}

fn parse_time(field: &str, s: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::bad_request(field, format!("{s:?} is not an RFC 3339 time")))
}

impl StatsParams {
    fn query(&self) -> Result<StatsQuery, ApiError> {
        let until = match &self.until {
            Some(t) => parse_time("until", t)?,
            None => OffsetDateTime::now_utc(),
        };
        let since = match (&self.since, &self.interval) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "interval",
                    "give either interval or since, not both",
                ));
            }
            (Some(t), None) => parse_time("since", t)?,
            (None, i) => until - parse_interval(i.as_deref().unwrap_or("1h"))?,
        };
        let q = StatsQuery::new(since, until).with_limit(self.limit.unwrap_or(10));
        q.validate()
            .map_err(|e| ApiError::bad_request("since", e.to_string()))?;
        Ok(q)
    }
}

fn stats(s: &AppState) -> Result<&dyn alertkit_core::traits::HistoryStats, ApiError> {
    s.stats.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this store keeps no statistics",
        )
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    alertkit_core::model::format_rfc3339(t)
}

/// Counts over the interval.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatsView {
    since: String,
    until: String,
    /// Alerts that changed in the interval.
    alerts: u64,
    by_status: Vec<(String, u64)>,
    by_severity: Vec<(String, u64)>,
    /// The busiest namespaces.
    by_namespace: Vec<(String, u64)>,
    /// Distinct namespaces.
    namespaces: u64,
    /// Firing and re-firing events.
    firings: u64,
    /// Resolve events.
    resolved: u64,
    /// Mean `endsAt − startsAt` of those resolves, in seconds.
    mean_time_to_resolve_seconds: Option<f64>,
}

/// Counts by status, severity and namespace, firings, resolves and mean time to resolve.
#[utoipa::path(
    get,
    path = "/api/v2/history/stats",
    tag = "history",
    params(StatsParams),
    responses(
        (status = 200, description = "counts over the interval", body = StatsView),
        (status = 400, description = "a bad parameter (named in `field`)", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn history_stats(
    State(s): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<StatsView>, ApiError> {
    // Read-your-writes: everything acknowledged so far is in history.
    s.ingest.sync().await;
    let q = p.query()?;
    let r = stats(&s)?
        .stats(&q)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(StatsView {
        since: rfc3339(q.since),
        until: rfc3339(q.until),
        alerts: r.unique_fingerprints,
        by_status: r
            .by_status
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), *n))
            .collect(),
        by_severity: r
            .by_severity
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), *n))
            .collect(),
        by_namespace: r.by_namespace.clone(),
        namespaces: r.namespaces,
        firings: r.firings,
        resolved: r.resolved_count,
        mean_time_to_resolve_seconds: r.mean_time_to_resolve.map(|d| d.as_secs_f64()),
    }))
}

/// One often-firing alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopView {
    fingerprint: String,
    alertname: String,
    namespace: String,
    fire_count: u64,
    last_fired: String,
}

/// The alerts that fired most in the interval.
#[utoipa::path(
    get,
    path = "/api/v2/history/top",
    tag = "history",
    params(StatsParams),
    responses(
        (status = 200, description = "most firings first", body = [TopView]),
        (status = 400, description = "a bad parameter (named in `field`)", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn history_top(
    State(s): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<Vec<TopView>>, ApiError> {
    // Read-your-writes: everything acknowledged so far is in history.
    s.ingest.sync().await;
    let q = p.query()?;
    let top = stats(&s)?
        .top_firing(&q)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(
        top.into_iter()
            .map(|t| TopView {
                fingerprint: t.fingerprint.to_string(),
                alertname: t.alertname,
                namespace: t.namespace,
                fire_count: t.fire_count,
                last_fired: rfc3339(t.last_fired),
            })
            .collect(),
    ))
}

/// One flapping alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FlappingView {
    fingerprint: String,
    alertname: String,
    namespace: String,
    /// Firing, resolved and re-fired events in the interval.
    transitions: u64,
    per_hour: f64,
}

/// Alerts changing state at least `min_per_hour` times an hour (default 2).
#[utoipa::path(
    get,
    path = "/api/v2/history/flapping",
    tag = "history",
    params(StatsParams),
    responses(
        (status = 200, description = "most transitions first", body = [FlappingView]),
        (status = 400, description = "a bad parameter (named in `field`)", body = ErrorBody),
        (status = 503, description = "history unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn history_flapping(
    State(s): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<Vec<FlappingView>>, ApiError> {
    // Read-your-writes: everything acknowledged so far is in history.
    s.ingest.sync().await;
    let q = p.query()?;
    let per_hour = p.min_per_hour.unwrap_or(2.0);
    validate_per_hour(per_hour)
        .map_err(|e| ApiError::bad_request("min_per_hour", e.to_string()))?;
    let list = stats(&s)?
        .flapping(&q, per_hour)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(
        list.into_iter()
            .map(|f| FlappingView {
                fingerprint: f.fingerprint.to_string(),
                alertname: f.alertname,
                namespace: f.namespace,
                transitions: f.transitions,
                per_hour: f.per_hour,
            })
            .collect(),
    ))
}
