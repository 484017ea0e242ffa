use std::sync::Arc;

use super::build_plain;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{call, config, memory, webhook_body};
use crate::api;

#[tokio::test]
async fn webhook_then_history() {
    let (pipeline, state) = build_plain(memory(), config(&[]));
    let app = api::router(state);
    let (status, body) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], 1);
    let (_, again) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(again["duplicates"], 1);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("resolved", "2026-08-22T10:05:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, list) = call(
        &app,
        "GET",
        "/api/v2/history?filter=%7Balertname%3D%22DiskFull%22%7D",
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["status"], "resolved");
    let fp = alerts[0]["fingerprint"].as_str().unwrap().to_owned();
    pipeline.shutdown().await;
    let (status, one) = call(&app, "GET", &format!("/api/v2/history/{fp}"), vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<_> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["firing", "classified", "resolved", "classified"]);
}

#[tokio::test]
async fn client_mistakes_are_400_with_the_field() {
    let (_pipeline, state) = build_plain(memory(), config(&[]));
    let app = api::router(state);
    let bad = br#"{"alerts":[{"labels":{"a":"b"},"startsAt":"yesterday"}]}"#.to_vec();
    let (status, body) = call(&app, "POST", "/webhook", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "alerts[0].startsAt");
    let (status, body) = call(&app, "GET", "/api/v2/history?filter=%7Ba%3D", vec![]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "filter");
    let (status, body) = call(&app, "GET", "/api/v2/history?status=pending", vec![]).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
    let (status, _) = call(&app, "GET", "/api/v2/history/nothex", vec![]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "GET", "/api/v2/history/0123456789abcdef", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_v2_is_best_effort() {
    let (_pipeline, state) = build_plain(memory(), config(&[]));
    let app = api::router(state);
    let body = br#"[{"labels":{"alertname":"A"}},{"labels":{}}]"#.to_vec();
    let (status, body) = call(&app, "POST", "/api/v2/alerts", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["errors"][0]["field"], "[1].labels");
    let (_, list) = call(&app, "GET", "/api/v2/history", vec![]).await;
    assert_eq!(list["alerts"].as_array().unwrap().len(), 1);
    let (status, _) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_default_profile_keeps_history_in_sqlite() {
    let path = std::env::temp_dir().join(format!("alertkit-server-test-{}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    let store = alertkit_store::SqliteHistoryStore::open(&url)
        .await
        .unwrap();
    let (pipeline, state) = build_plain(Arc::new(store.clone()), config(&[]));
    let app = api::router(state);
    let (status, body) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pipeline.shutdown().await;
    store.close().await;

    // A new process would see the same history.
    let reopened = alertkit_store::SqliteHistoryStore::open(&url)
        .await
        .unwrap();
    let (_pipeline, state) = build_plain(Arc::new(reopened), config(&[]));
    let app = api::router(state);
    let (_, list) = call(&app, "GET", "/api/v2/history", vec![]).await;
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["classification"]["source"], "default",
        "classification persisted"
    );
    let _ = std::fs::remove_file(&path);
}

/// A real Alertmanager posts to the running server over HTTP; the history
/// follows its alerts from firing to resolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_delivers_to_the_server() {
    use alertkit_core::testing::alertmanager::Alertmanager;
    use alertkit_core::{HistoryQuery, HistoryStore, Status};

    let store = memory();
    let (pipeline, state) = build_plain(store.clone(), config(&[]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let webhook = format!("http://{addr}/webhook");
    let Some(am) = tokio::task::spawn_blocking(move || Alertmanager::start(&webhook))
        .await
        .unwrap()
    else {
        return;
    };
    let am = Arc::new(am);

    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let alerts = |ends: Option<time::OffsetDateTime>| {
        let mut body = Vec::new();
        for instance in ["db1", "db2"] {
            let mut a = json!({"labels": {"alertname": "DiskFull", "instance": instance, "severity": "warning"},
                               "annotations": {"summary": "95% used"},
                               "startsAt": alertkit_core::model::format_rfc3339(start)});
            if let Some(ends) = ends {
                a["endsAt"] = json!(alertkit_core::model::format_rfc3339(ends));
            }
            body.push(a);
        }
        Value::Array(body)
    };
    let wait_for = |status: Status| {
        let store = store.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let page = store.list(&HistoryQuery::default()).await.unwrap();
                if page.records.len() == 2 && page.records.iter().all(|r| r.status == status) {
                    return page.records;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "alerts never became {status}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };

    let (firing, am2) = (alerts(None), Arc::clone(&am));
    tokio::task::spawn_blocking(move || am2.post_alerts(&firing))
        .await
        .unwrap();
    wait_for(Status::Firing).await;

    let (resolved, am2) = (
        alerts(Some(time::OffsetDateTime::now_utc())),
        Arc::clone(&am),
    );
    tokio::task::spawn_blocking(move || am2.post_alerts(&resolved))
        .await
        .unwrap();
    let records = wait_for(Status::Resolved).await;

    for r in records {
        let kinds: Vec<_> = store
            .timeline(r.fingerprint)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(kinds.first(), Some(&"firing"));
        assert!(kinds.contains(&"resolved"), "{kinds:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "firing").count(),
            1,
            "re-sent notifications recorded once: {kinds:?}"
        );
    }
    server.abort();
    pipeline.shutdown().await;
    tokio::task::spawn_blocking(move || drop(am)).await.unwrap();
}

/// `DATABASE_URL=postgres://…` opens the PostgreSQL store through the same
/// path as `main`, and the API reads back what was ingested. Skipped without
/// a server unless `ALERTKIT_REQUIRE_SERVICES` is set (as in CI).
#[tokio::test]
async fn postgres_database_url_is_wired() {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    // A fresh schema per run (its name carries the time, so the store
    // tests' cleanup of stale `alertkit_test_*` schemas removes it later):
    // a schema kept across runs would hold migrations of older builds.
    let schema = format!(
        "alertkit_test_{}_{}_server",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let cfg = config(&[
        ("DATABASE_URL", &url),
        ("DATABASE_SCHEMA", &schema),
        ("DATABASE_POOL_SIZE", "2"),
    ]);
    let opened = match crate::store::open(&cfg.database).await {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var_os("ALERTKIT_REQUIRE_SERVICES").is_none(),
                "ALERTKIT_REQUIRE_SERVICES is set: {e}"
            );
            eprintln!("skipped: no PostgreSQL ({e})");
            return;
        }
    };
    let (pipeline, state) = crate::build(opened.parts(), None, None, cfg);
    let app = api::router(state);
    // Unique per run: the schema outlives the test.
    let name = format!(
        "ServerPg{}x{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let body = serde_json::to_vec(&json!([{"labels": {"alertname": name}}])).unwrap();
    let (status, answer) = call(&app, "POST", "/api/v2/alerts", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let filter = format!("/api/v2/history?filter=%7Balertname%3D%22{name}%22%7D");
    let (status, list) = call(&app, "GET", &filter, vec![]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["alerts"].as_array().unwrap().len(), 1, "{list}");
    let (status, ready) = call(&app, "GET", "/readyz", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "ok");
    assert_eq!(
        ready["checks"]["database"]["detail"],
        "postgres: reachable, migrations applied"
    );
    pipeline.shutdown().await;
    opened.close().await;
}

#[tokio::test]
async fn history_stats_top_and_flapping() {
    let (pipeline, app) = super::app(&[]);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    pipeline.shutdown().await;
    let (status, stats) = call(&app, "GET", "/api/v2/history/stats?interval=1h", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["alerts"], 1, "{stats}");
    assert_eq!(stats["firings"], 1, "{stats}");
    let (status, top) = call(
        &app,
        "GET",
        "/api/v2/history/top?interval=24h&limit=5",
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{top}");
    assert_eq!(top[0]["alertname"], "DiskFull", "{top}");
    let (status, flapping) = call(&app, "GET", "/api/v2/history/flapping", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(flapping, json!([]));
    let (status, err) = call(
        &app,
        "GET",
        "/api/v2/history/stats?interval=5parsecs",
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["field"], "interval", "{err}");
}

#[tokio::test]
async fn cache_warm_classifies_the_firing_alerts() {
    let key = "warm-admin-key-0123456789";
    let cfg = config(&[("ADMIN_API_KEY", key)]);
    let classify = Arc::new(crate::classify::Classify::build(&cfg).await.unwrap());
    let handoff = Arc::new(alertkit_core::layer::DirectHandoff::new(
        alertkit_core::layer::FanOut::new(),
    ));
    let (pipeline, state) =
        crate::build(super::parts(memory(), handoff), Some(classify), None, cfg);
    let app = api::router(state);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    pipeline.shutdown().await;
    let req = axum::http::Request::post("/api/v2/cache/warm")
        .header("x-admin-key", key)
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let (status, _, body) = super::send(&app, req).await;
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["firing"], 1, "{answer}");
    assert_eq!(answer["classified"], 1, "{answer}");
    assert_eq!(answer["truncated"], false);
}
