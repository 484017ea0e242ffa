//! Metrics (the Prometheus recorder, descriptions, per-route HTTP metrics)
//! and logs (JSON lines, a request id and a span per request).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Bucket bounds (seconds) for every histogram: 1 ms to 30 s, dense around
/// the seeds' 5 s processing objective.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// HTTP requests by method, route template and status.
pub(crate) const HTTP_REQUESTS: &str = "alert_history_technical_http_requests_total";
/// HTTP request latency by method and route template.
pub(crate) const HTTP_DURATION: &str = "alert_history_technical_http_request_duration_seconds";
/// Server-side failures (5xx answers) by kind.
pub(crate) const ERRORS: &str = "alert_history_technical_errors_total";
/// Refused credentials by scope (`ingest`, `admin`).
pub(crate) const AUTH_FAILURES: &str = "alert_history_technical_auth_failures_total";
/// The most history database connections the pools open.
pub(crate) const DB_CONNECTIONS_MAX: &str = "alert_history_infra_db_connections_max";
/// History database connections in use (set when `/metrics` is scraped).
pub(crate) const DB_CONNECTIONS_ACTIVE: &str = "alert_history_infra_db_connections_active";

static PROMETHEUS: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the global Prometheus recorder once (later calls return the same
/// handle) and describes every metric the server and the library emit.
pub(crate) fn prometheus() -> Result<&'static PrometheusHandle, &'static str> {
    PROMETHEUS
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .map_err(|e| format!("metrics buckets: {e}"))?
                .install_recorder()
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(String::as_str)
}

/// Runs the recorder's upkeep (histogram maintenance) every few seconds.
pub(crate) fn spawn_upkeep(handle: &'static PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// HELP texts, and zero values for the counters dashboards divide by.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, route and status code."
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method and route."
    );
    describe_counter!(
        ERRORS,
        "Server-side failures answered with a 5xx status, by kind."
    );
    describe_counter!(
        AUTH_FAILURES,
        "Requests refused for missing or wrong credentials."
    );
    describe_gauge!(
        DB_CONNECTIONS_MAX,
        "Most history database connections the pools open (SQLite: the writer plus the readers)."
    );
    describe_gauge!(
        DB_CONNECTIONS_ACTIVE,
        "History database connections in use when /metrics was scraped."
    );
    // Emitted by alertkit-core; described here until the library describes them.
    describe_counter!(
        "alert_history_business_alerts_received_total",
        "Alerts submitted to the pipeline."
    );
    describe_histogram!(
        "alert_history_business_alert_processing_duration_seconds",
        metrics::Unit::Seconds,
        "Time from receipt to hand-off for publishing, per notification."
    );
    describe_gauge!(
        "alertkit_pipeline_queue_depth",
        "Jobs waiting per pipeline stage."
    );
    describe_gauge!(
        "alertkit_pipeline_unrecorded_alerts",
        "Alerts acknowledged from the journal and not yet in history (at its bound, 65536 by default, webhooks get 503)."
    );
    describe_counter!(
        "alertkit_pipeline_duplicates_total",
        "Alerts dropped as repeats of a committed state."
    );
    describe_histogram!(
        "alertkit_pipeline_record_duration_seconds",
        metrics::Unit::Seconds,
        "History store write latency per batch."
    );
    describe_counter!(
        "alertkit_pipeline_changes_total",
        "History changes by kind."
    );
    describe_histogram!(
        "alertkit_pipeline_journal_append_duration_seconds",
        metrics::Unit::Seconds,
        "Intake journal append latency per group of batches (what acknowledgements wait for)."
    );
    describe_counter!(
        "alertkit_pipeline_journal_replayed_total",
        "Alerts recorded at start from journal entries a previous run left."
    );
    describe_counter!(
        "alertkit_pipeline_dropped_total",
        "Journaled alerts the history store refused as invalid (logged with their fingerprint)."
    );
    describe_counter!(
        "alertkit_pipeline_classifications_total",
        "Classifications by outcome."
    );
    describe_histogram!(
        "alertkit_pipeline_classify_duration_seconds",
        metrics::Unit::Seconds,
        "Classifier latency."
    );
    describe_counter!(
        "alertkit_pipeline_handoff_total",
        "Notifications handed to publishing, by outcome."
    );
    describe_counter!(
        "alertkit_publish_filtered_total",
        "Notifications filtered out."
    );
    describe_counter!(
        "alertkit_publish_total",
        "Publish attempts by target and outcome."
    );
    describe_counter!(
        "alertkit_component_calls_total",
        "Calls to instrumented components by outcome."
    );
    describe_histogram!(
        "alertkit_component_duration_seconds",
        metrics::Unit::Seconds,
        "Latency of instrumented components."
    );
    describe_counter!(
        "alertkit_classification_cache_total",
        "Classification cache lookups by result."
    );
    describe_counter!(
        "alertkit_fallback_total",
        "Fallbacks to the secondary classifier."
    );
    describe_counter!(
        "alertkit_cache_l2_errors_total",
        "Errors from the L2 cache."
    );
    describe_counter!(
        crate::retention::PRUNED,
        "Rows deleted by retention, by kind (events, alerts, outbox, delivery_log, dead_letters)."
    );
    describe_delivery_and_classification();
    metrics::counter!("alert_history_business_alerts_received_total").increment(0);
    metrics::counter!(ERRORS, "kind" => "store").increment(0);
}

/// Metrics of alertkit-publish's delivery and alertkit-llm's classification.
fn describe_delivery_and_classification() {
    let counters: [(&'static str, &'static str); 13] = [
        (
            "alert_history_business_publishing_attempts_total",
            "Delivery attempts per target.",
        ),
        (
            "alert_history_business_publishing_success_total",
            "Deliveries a target accepted.",
        ),
        (
            "alert_history_business_publishing_failed_total",
            "Failed delivery attempts per target and reason.",
        ),
        (
            "alertkit_publishing_skipped_total",
            "Notifications a target's filter skipped.",
        ),
        (
            "alertkit_publishing_dead_letters_total",
            "Notifications given up on (dead letters) per target.",
        ),
        (
            "alertkit_circuit_breaker_rejected_total",
            "Calls refused by an open circuit breaker.",
        ),
        (
            "alertkit_circuit_breaker_transitions_total",
            "Circuit breaker state changes.",
        ),
        (
            "alert_history_business_llm_classifications_total",
            "LLM classifications by status (success, error, fallback).",
        ),
        (
            "alert_history_business_llm_errors_total",
            "LLM request errors by reason and stage.",
        ),
        (
            "alert_history_business_llm_tokens_total",
            "LLM tokens used, by kind (prompt, completion).",
        ),
        (
            "alert_history_business_llm_repairs_total",
            "LLM answers repaired before validation, by kind.",
        ),
        (
            "alert_history_enrichment_mode_switches_total",
            "Enrichment mode switches.",
        ),
        (
            "alert_history_enrichment_redis_errors_total",
            "Errors sharing the enrichment mode through Redis.",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, help);
    }
    let gauges: [(&'static str, &'static str); 5] = [
        (
            "alert_history_enrichment_mode_status",
            "Enrichment mode: 0 transparent, 1 enriched, 2 transparent_with_recommendations.",
        ),
        (
            "alert_history_publishing_queue_size",
            "Outbox rows per target and state (pending, in_flight).",
        ),
        (
            "alertkit_publishing_dead_letters",
            "Dead letters kept per target.",
        ),
        (
            "alertkit_publishing_breaker_state",
            "A target's circuit breaker: 0 closed, 1 open, 2 half-open.",
        ),
        (
            "alertkit_circuit_breaker_state",
            "A named circuit breaker: 0 closed, 1 open, 2 half-open.",
        ),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, help);
    }
    describe_histogram!(
        "alertkit_publishing_duration_seconds",
        metrics::Unit::Seconds,
        "Delivery attempt latency per target."
    );
    describe_histogram!(
        "alert_history_business_llm_duration_seconds",
        metrics::Unit::Seconds,
        "LLM request latency by status."
    );
}

/// Sets the database connection gauges from `pool`.
pub(crate) fn record_pool(pool: alertkit_store::PoolStatus) {
    metrics::gauge!(DB_CONNECTIONS_ACTIVE).set(f64::from(pool.in_use));
    metrics::gauge!(DB_CONNECTIONS_MAX).set(f64::from(pool.max));
}

/// Counts a server-side failure of `kind`.
pub(crate) fn count_error(kind: &'static str) {
    metrics::counter!(ERRORS, "kind" => kind).increment(1);
}

/// Middleware: counts requests and observes their latency per route template.
pub(crate) async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

/// The `x-request-id` header: taken from the client or generated.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds a request id (kept from the client or a new UUID), a span carrying
/// it around each request, and the id on the response.
pub(crate) fn request_layers<S>(router: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            // Never the headers (they carry credentials) or the query.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_request(())
        .on_response(
            |res: &Response, latency: Duration, _span: &tracing::Span| {
                tracing::debug!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "request finished");
            },
        )
        .on_failure(());
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// JSON log lines filtered by `level` (already validated by the config).
pub(crate) fn init_logging(level: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| format!("invalid configuration LOG_LEVEL: {e}"))?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))
}
