use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use super::{app, call, config, send, webhook_body};
use crate::api;

const ADMIN_KEY: &str = "admin-key-0123456789";

#[tokio::test]
async fn metrics_are_scraped_in_prometheus_text() {
    let (pipeline, app) = app(&[]);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, "GET", "/api/v2/history/0123456789abcdef", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Draining the pipeline hands the notification off, which observes the latency.
    pipeline.shutdown().await;

    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    for needle in [
        "# TYPE alert_history_business_alerts_received_total counter",
        "# HELP alert_history_business_alerts_received_total ",
        "# TYPE alert_history_business_alert_processing_duration_seconds histogram",
        "alert_history_business_alert_processing_duration_seconds_bucket{le=\"5\"}",
        "# TYPE alert_history_technical_http_requests_total counter",
        r#"alert_history_technical_http_requests_total{method="POST",route="/webhook",status="200"}"#,
        // The route template, not the raw path.
        r#"alert_history_technical_http_requests_total{method="GET",route="/api/v2/history/{fingerprint}",status="404"}"#,
        "# TYPE alert_history_technical_http_request_duration_seconds histogram",
        r#"alert_history_technical_http_request_duration_seconds_bucket{method="POST",route="/webhook",le="0.005"}"#,
        "# TYPE alert_history_technical_errors_total counter",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let received: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("alert_history_business_alerts_received_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(received >= 1.0, "{received}");
}

#[tokio::test]
async fn db_connection_gauges_are_set_when_scraped() {
    let dir = super::fresh_dir("server-pool");
    let url = format!("sqlite://{}", dir.join("pool.db").display());
    let cfg = config(&[("DATABASE_URL", &url), ("DATABASE_POOL_SIZE", "3")]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    // The writer plus three readers.
    let pool = opened.pool_status();
    assert_eq!(pool.max, 4, "{pool:?}");
    assert!(pool.in_use + pool.idle <= pool.max, "{pool:?}");
    let (pipeline, mut state) = crate::build(opened.parts(), None, None, cfg);
    state.database = Some(opened.clone());
    let app = api::router(state);
    // One alert through the journal sets the unrecorded-backlog gauge.
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    // Other tests open stores of other sizes in this process (one global
    // recorder), so only the families and sane values are checked here.
    for family in [
        "alert_history_infra_db_connections_active",
        "alert_history_infra_db_connections_max",
        "alertkit_pipeline_unrecorded_alerts",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} gauge\n")),
            "{family} in\n{text}"
        );
        assert!(text.contains(&format!("# HELP {family} ")), "{text}");
        let value: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{family} ")))
            .unwrap()
            .parse()
            .unwrap();
        assert!(value >= 0.0, "{family} {value}");
    }
    pipeline.shutdown().await;
    opened.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn readiness_reports_each_dependency() {
    let path =
        std::env::temp_dir().join(format!("alertkit-server-readyz-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let cfg = config(&[
        ("DATABASE_URL", &url),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
    ]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    let classify = match crate::classify::Classify::build(&cfg).await {
        Ok(c) => Some(Arc::new(c)),
        Err(e) if std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none() => {
            eprintln!("redis part skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    };
    let redis = classify.is_some();
    let (_pipeline, state) = crate::build(opened.parts(), classify, None, cfg);
    let app = api::router(state);
    let (status, body) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(
        body["checks"]["database"]["detail"],
        "sqlite: reachable, migrations applied"
    );
    if redis {
        assert_eq!(body["checks"]["redis"]["status"], "ok", "{body}");
    }
    assert_eq!(body["checks"]["journal"]["status"], "ok", "{body}");
    assert_eq!(
        body["checks"]["journal"]["detail"],
        "appends and flushes succeed; 0 of at most 65536 acknowledged alerts not yet in history",
        "{body}"
    );

    // The journal's files go away: not ready, and why.
    let journal_dir = alertkit_store::FileJournal::path_beside(&url).unwrap();
    let renamed = journal_dir.with_extension("journal-moved");
    std::fs::rename(&journal_dir, &renamed).unwrap();
    let (status, body) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["journal"]["status"], "failed", "{body}");
    assert!(
        body["checks"]["journal"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot find")),
        "{body}"
    );
    std::fs::rename(&renamed, &journal_dir).unwrap();

    // The database goes away: not ready, and why.
    opened.close().await;
    let (status, body) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"]["status"], "failed");
    let (status, _) = call(&app, "GET", "/healthz", vec![]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&journal_dir);
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let (_p, app) = app(&[]);
    let req = Request::get("/healthz").body(Body::empty()).unwrap();
    let (_, headers, _) = send(&app, req).await;
    let made = headers["x-request-id"].to_str().unwrap();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let req = Request::get("/healthz")
        .header("x-request-id", "from-the-proxy-1")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, req).await;
    assert_eq!(headers["x-request-id"], "from-the-proxy-1");
}

/// Concrete URIs for a templated path.
fn concrete(path: &str) -> String {
    path.replace("{fingerprint}", "0123456789abcdef")
}

/// Every (method, path) the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn openapi_covers_exactly_the_routes_served() {
    let (_p, app) = app(&[("ADMIN_API_KEY", ADMIN_KEY)]);
    let (status, doc) = call(&app, "GET", "/openapi.json", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc, serde_json::to_value(api::openapi()).unwrap());
    let ops = documented(&doc);

    // The README's endpoint table lists the same operations.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut listed = BTreeSet::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        for part in line.split('`').skip(1).step_by(2) {
            if let Some((method, path)) = part.split_once(' ')
                && ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method)
                && path.starts_with('/')
            {
                listed.insert((method.to_owned(), path.to_owned()));
            }
        }
    }
    assert_eq!(listed, ops, "README endpoint table vs OpenAPI");

    for (method, path) in &ops {
        // Served: neither the 404 fallback nor 405.
        let req = Request::builder()
            .method(method.as_str())
            .uri(concrete(path))
            .header("x-admin-key", ADMIN_KEY)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(if method == "POST" { "[]" } else { "" }))
            .unwrap();
        let (status, _, body) = send(&app, req).await;
        let text = String::from_utf8_lossy(&body);
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !text.contains("no such route"),
            "{method} {path}: {status} {text}"
        );
        // No undocumented method on a documented path.
        for other in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if ops.contains(&(other.to_owned(), path.clone())) {
                continue;
            }
            let req = Request::builder()
                .method(other)
                .uri(concrete(path))
                .header("x-admin-key", ADMIN_KEY)
                .body(Body::empty())
                .unwrap();
            let (status, _, _) = send(&app, req).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{other} {path} is served but undocumented"
            );
        }
        // Documented answers, with a request body for POST.
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path}: no 200"
        );
        if method == "POST" {
            assert!(
                op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{path}"
            );
        }
    }

    // Every schema reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    for scheme in ["ingest_bearer", "ingest_basic", "admin_bearer", "admin_key"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
}

/// The documented webhook and answer shapes name the fields the real ones use.
#[tokio::test]
async fn documented_shapes_match_the_wire() {
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let props = |schema: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    // A full Alertmanager notification.
    let am: Value = serde_json::from_str(
        r#"{"version":"4","status":"firing","receiver":"r","groupKey":"{}:{}","truncatedAlerts":0,
            "groupLabels":{},"commonLabels":{"a":"b"},"commonAnnotations":{},"externalURL":"http://am",
            "alerts":[{"status":"firing","labels":{"a":"b"},"annotations":{},"startsAt":"2026-08-22T10:00:00Z",
                       "endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0123456789abcdef"}]}"#,
    )
    .unwrap();
    alertkit_core::WebhookMessage::from_json(am.to_string().as_bytes()).unwrap();
    assert_eq!(keys(&am), props("WebhookMessage"));
    assert_eq!(keys(&am["alerts"][0]), props("WebhookAlert"));

    // Real answers carry the documented fields.
    let (_p, app) = app(&[("ADMIN_API_KEY", ADMIN_KEY)]);
    let (_, ingest) = call(&app, "POST", "/webhook", am.to_string().into_bytes()).await;
    assert_eq!(keys(&ingest), props("IngestResponse"));
    let (_, list) = call(&app, "GET", "/api/v2/history", vec![]).await;
    assert_eq!(keys(&list), props("HistoryPageView"));
    assert_eq!(keys(&list["alerts"][0]), props("AlertView"));
    let fp = list["alerts"][0]["fingerprint"].as_str().unwrap();
    let (_, one) = call(&app, "GET", &format!("/api/v2/history/{fp}"), vec![]).await;
    assert_eq!(keys(&one), props("AlertHistoryView"));
    let classification = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.get("classification"))
        .expect("the label classifier ran");
    let documented = props("Classification");
    assert!(
        keys(classification).is_subset(&documented),
        "{classification}"
    );
    let (_, ready) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(keys(&ready), props("Readiness"));
    let req = Request::get("/api/v2/admin/config")
        .header("x-admin-key", ADMIN_KEY)
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&app, req).await;
    let view: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(keys(&view), props("ConfigView"));
}

#[test]
fn the_readme_documents_every_key() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for key in crate::config::keys() {
        assert!(
            readme.contains(&format!("`{}`", key.env)),
            "{} missing",
            key.env
        );
        assert!(
            readme.contains(&format!("`{}`", key.path)),
            "{} missing",
            key.path
        );
    }
    assert!(readme.contains("`CONFIG_FILE`"));
}
