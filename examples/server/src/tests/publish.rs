//! Publishing end to end inside the server: a webhook is committed with its
//! outbox rows, classified, delivered to a real loopback HTTP target from
//! `TARGETS_FILE`, logged; the resolve follows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertkit_core::traits::AttemptOutcome;
use alertkit_core::{Alert, LabelSet};
use axum::http::StatusCode;

use super::{call, config, webhook_body};
use crate::build;
use crate::publishing::Publishing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_to_the_configured_target_and_logged() {
    let (target, dir, targets) = super::loopback_target("server-publish").await;
    let db = dir.join("alertkit.db");
    let cfg = config(&[
        ("DATABASE_URL", &format!("sqlite://{}", db.display())),
        ("TARGETS_FILE", &targets.display().to_string()),
    ]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    let publishing = Arc::new(
        Publishing::start_with(
            cfg.targets_file.clone(),
            false,
            opened.clone(),
            Duration::from_secs(6),
        )
        .await
        .unwrap(),
    );
    assert_eq!(publishing.mode(), "normal");
    let (pipeline, state) = build(opened.parts(), None, Some(Arc::clone(&publishing)), cfg);
    let app = crate::api::router(state);

    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("resolved", "2026-08-22T10:30:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let fp = Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "DiskFull"),
            ("instance", "db1"),
            ("severity", "warning"),
        ]),
        time::OffsetDateTime::now_utc(),
    )
    .fingerprint();
    let outbox = publishing.outbox();
    let start = Instant::now();
    let log = loop {
        let log = outbox.deliveries(fp).await.unwrap();
        if log.len() >= 2 {
            break log;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not delivered: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds: Vec<_> = log.iter().map(|a| (a.kind.as_str(), a.outcome)).collect();
    assert_eq!(
        kinds,
        [
            ("firing", AttemptOutcome::Delivered),
            ("resolved", AttemptOutcome::Delivered)
        ],
        "in order, each once"
    );
    let received = target.received_requests().await.unwrap();
    assert!(received.len() >= 2);
    let first: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(first["version"], "4", "an Alertmanager v4 body");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "DiskFull");
    assert_eq!(first["alerts"][0]["fingerprint"], fp.to_string());

    // The proxy answers with the outcome at every target.
    let body = serde_json::to_vec(&serde_json::json!({
        "version": "4", "status": "firing", "receiver": "alertkit", "groupKey": "{}:{}",
        "alerts": [{"status": "firing", "labels": {"alertname": "ProxyCheck", "severity": "critical"},
                    "annotations": {"summary": "through the proxy"}, "startsAt": "2026-08-22T11:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": ""}]
    }))
    .unwrap();
    let (status, answer) = call(&app, "POST", "/webhook/proxy", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["complete"], true, "{answer}");
    assert_eq!(answer["results"][0]["changed"], true);
    assert_eq!(answer["results"][0]["targets"][0]["target"], "oncall");
    assert_eq!(
        answer["results"][0]["targets"][0]["outcome"], "delivered",
        "{answer}"
    );
    assert!(
        answer["results"][0]["classification"].is_object(),
        "{answer}"
    );
    // A repeat changes nothing and publishes nothing.
    let (status, again) = call(&app, "POST", "/webhook/proxy", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["results"][0]["changed"], false, "{again}");
    assert_eq!(again["results"][0]["targets"], serde_json::json!([]));

    let (status, history) = call(&app, "GET", &format!("/api/v2/history/{fp}"), Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        history["deliveries"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );
    assert_eq!(history["deliveries"][1]["outcome"], "delivered");

    let (status, view) = call(&app, "GET", "/publishing/targets", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["mode"], "normal");
    assert_eq!(view["breakers"]["oncall"], "closed");

    pipeline.shutdown().await;
    publishing.shutdown().await;
    opened.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_records_instead_of_sending() {
    let dir = super::fresh_dir("server-sim");
    let key = "simulation-admin-key-0123456789";
    let cfg = config(&[
        (
            "DATABASE_URL",
            &format!("sqlite://{}", dir.join("sim.db").display()),
        ),
        ("SIMULATION_ENABLED", "true"),
        ("ADMIN_API_KEY", key),
    ]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    let publishing = Arc::new(
        Publishing::start_with(None, true, opened.clone(), Duration::from_secs(6))
            .await
            .unwrap(),
    );
    assert_eq!(publishing.mode(), "simulation");
    let (pipeline, state) = build(opened.parts(), None, Some(Arc::clone(&publishing)), cfg);
    let app = crate::api::router(state);
    let (status, _) = call(
        &app,
        "POST",
        "/webhook",
        webhook_body("firing", "0001-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let admin = |uri: &str| {
        axum::http::Request::get(uri)
            .header("x-admin-key", key)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let start = Instant::now();
    loop {
        let (status, _, body) = super::send(&app, admin("/v1/simulation/notifications")).await;
        assert_eq!(status, StatusCode::OK);
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if list.as_array().is_some_and(|l| l.len() == 1) {
            assert_eq!(list[0]["alertname"], "DiskFull");
            assert_eq!(list[0]["kind"], "firing");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing recorded: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, body) = super::send(&app, admin("/v1/simulation/status")).await;
    assert_eq!(status, StatusCode::OK);
    let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(st["recorded"], 1);
    pipeline.shutdown().await;
    publishing.shutdown().await;
    opened.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn simulation_routes_are_404_when_off() {
    let (_p, app) = super::app(&[("ADMIN_API_KEY", "an-admin-key-0123456789")]);
    let req = axum::http::Request::get("/v1/simulation/status")
        .header("x-admin-key", "an-admin-key-0123456789")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, _, _) = super::send(&app, req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
