//! Simulation mode fed by `POST /v1/simulation/seed`, and `/webhook/proxy`
//! answering from the delivery signal (no store polling).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::{call, config, send};
use crate::build;
use crate::publishing::Publishing;

const KEY: &str = "simulation-admin-key-0123456789";

struct Sim {
    app: axum::Router,
    pipeline: alertkit_core::pipeline::Pipeline,
    publishing: Arc<Publishing>,
    opened: crate::store::Opened,
    dir: std::path::PathBuf,
}

/// The app in simulation mode over a fresh SQLite file.
async fn simulation(tag: &str) -> Sim {
    let dir = super::fresh_dir(&format!("server-{tag}"));
    let cfg = config(&[
        (
            "DATABASE_URL",
            &format!("sqlite://{}", dir.join("sim.db").display()),
        ),
        ("SIMULATION_ENABLED", "true"),
        ("ADMIN_API_KEY", KEY),
    ]);
    let opened = crate::store::open(&cfg.database).await.unwrap();
    let publishing = Arc::new(
        Publishing::start_with(None, true, opened.clone(), Duration::from_secs(6))
            .await
            .unwrap(),
    );
    let (pipeline, state) = build(opened.parts(), None, Some(Arc::clone(&publishing)), cfg);
    Sim {
        app: crate::api::router(state),
        pipeline,
        publishing,
        opened,
        dir,
    }
}

impl Sim {
    async fn admin(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-admin-key", KEY)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Waits (on the delivery signal) until `n` notifications are recorded.
    async fn recorded(&self, n: u64) {
        let recorder = self.publishing.simulation().unwrap();
        let mut waiter = self.publishing.progress().subscribe();
        // A generous bound so a broken signal fails instead of hanging.
        for _ in 0..600 {
            waiter.mark_seen();
            if recorder.total() >= n {
                return;
            }
            waiter.wait(Duration::from_millis(100)).await;
        }
        panic!("{} of {n} notifications recorded", recorder.total());
    }

    async fn stop(self) {
        self.pipeline.shutdown().await;
        self.publishing.shutdown().await;
        self.opened.close().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_feeds_the_sample_alerts_through_the_pipeline() {
    let sim = simulation("seed").await;
    let (status, seeded) = sim.admin("POST", "/v1/simulation/seed", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{seeded}");
    assert_eq!(seeded["seeded"], "firing");
    assert_eq!(seeded["received"], 6, "{seeded}");
    assert_eq!(seeded["changed"], 6, "{seeded}");
    assert_eq!(seeded["alertnames"].as_array().unwrap().len(), 6);
    assert_eq!(
        seeded["source"],
        "examples/server/simulation/sample-alerts.json"
    );
    sim.recorded(6).await;

    // Stored like any webhook, labelled as samples.
    let (status, page) = call(
        &sim.app,
        "GET",
        "/api/v2/history?filter=%7Balertkit_sample%3D%22true%22%7D",
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["alerts"].as_array().unwrap().len(), 6, "{page}");

    // Every call is a new instance, so it notifies again.
    let (_, again) = sim.admin("POST", "/v1/simulation/seed", json!({})).await;
    assert_eq!(again["changed"], 6, "{again}");
    sim.recorded(12).await;

    let (_, resolved) = sim
        .admin("POST", "/v1/simulation/seed", json!({"status": "resolved"}))
        .await;
    assert_eq!(resolved["seeded"], "resolved");
    assert_eq!(resolved["changed"], 6, "{resolved}");
    sim.recorded(18).await;
    let (_, list) = sim
        .admin("GET", "/v1/simulation/notifications", Value::Null)
        .await;
    let kinds: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "resolved").count(), 6);

    // Nothing left firing: nothing to resolve.
    let (status, none) = sim
        .admin("POST", "/v1/simulation/seed", json!({"status": "resolved"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["received"], 0, "{none}");

    let (status, bad) = sim
        .admin("POST", "/v1/simulation/seed", json!({"status": "pending"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["field"], "status");
    let (status, bad) = sim
        .admin("POST", "/v1/simulation/seed", json!({"count": 3}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["field"], "body");
    sim.stop().await;
}

#[tokio::test]
async fn seed_is_404_when_simulation_is_off_and_needs_the_admin_key() {
    let (_p, app) = super::app(&[("ADMIN_API_KEY", KEY)]);
    let seed = |key: Option<&str>| {
        let mut req =
            Request::post("/v1/simulation/seed").header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("x-admin-key", key);
        }
        req.body(Body::from("{}")).unwrap()
    };
    let (status, _, _) = send(&app, seed(Some(KEY))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(&app, seed(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_once_the_delivery_settles() {
    let sim = simulation("proxy").await;
    let body = json!({"version": "4", "status": "firing", "receiver": "proxy",
        "alerts": [{"status": "firing", "labels": {"alertname": "ProxySignal", "severity": "critical"},
                    "startsAt": "2026-08-22T11:00:00Z"}]});
    let (status, answer) = call(
        &sim.app,
        "POST",
        "/webhook/proxy",
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["complete"], true, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["changed"], true);
    assert!(result["classification"].is_object(), "{answer}");
    assert_eq!(result["targets"][0]["target"], "simulation");
    assert_eq!(result["targets"][0]["outcome"], "delivered", "{answer}");

    // A repeat changes nothing and answers at once, with no targets.
    let (_, again) = call(
        &sim.app,
        "POST",
        "/webhook/proxy",
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(again["complete"], true, "{again}");
    assert_eq!(again["results"][0]["changed"], false);
    sim.stop().await;
}
