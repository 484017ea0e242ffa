//! The HTTP API, called in process (and over loopback where a real client matters).

mod api;
mod auth;
mod e2e;
mod limits;
mod ops;
mod publish;
mod retention;
mod simulation;

use std::collections::HashMap;
use std::sync::Arc;

use alertkit_core::memory::MemoryHistoryStore;
use alertkit_core::pipeline::Pipeline;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::build;

/// The app over `store` with no publishing (the memory store has no outbox).
pub(crate) fn build_plain(
    store: Arc<dyn alertkit_core::HistoryStore>,
    config: Config,
) -> (Pipeline, crate::api::AppState) {
    let handoff = Arc::new(alertkit_core::layer::DirectHandoff::new(
        alertkit_core::layer::FanOut::new(),
    ));
    build(parts(store, handoff), None, None, config)
}

/// `store` without a journal, handing off to `handoff`; its readiness
/// probe is a lookup (an in-memory store has no schema).
fn parts(
    store: Arc<dyn alertkit_core::HistoryStore>,
    handoff: Arc<dyn alertkit_core::Handoff>,
) -> crate::store::Parts {
    let probed = Arc::clone(&store);
    crate::store::Parts {
        store,
        journal: None,
        handoff,
        probe: crate::api::Probe::database("memory", move || {
            let store = Arc::clone(&probed);
            async move {
                store
                    .get(alertkit_core::Fingerprint::from_u64(0))
                    .await
                    .map(drop)
            }
        }),
    }
}

use crate::config::Config;

fn memory() -> Arc<MemoryHistoryStore> {
    Arc::new(MemoryHistoryStore::default())
}

/// A configuration from these variables only (never the process environment).
fn config(pairs: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::load(None, |k| map.get(k).cloned()).unwrap()
}

/// The router over a memory store, configured by `pairs`.
fn app(pairs: &[(&str, &str)]) -> (Pipeline, axum::Router) {
    let store = memory();
    let (pipeline, mut state) = build_plain(store.clone(), config(pairs));
    state.stats = Some(store);
    (pipeline, crate::api::router(state))
}

/// Sends `req`; the status, headers and body.
async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (
        parts.status,
        parts.headers,
        to_bytes(body, usize::MAX).await.unwrap(),
    )
}

/// A JSON request without credentials; the status and the JSON answer.
async fn call(app: &axum::Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, _, bytes) = send(app, req).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn webhook_body(status: &str, ends_at: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "status": status, "receiver": "alertkit", "groupKey": "{}:{}",
        "alerts": [{"status": status, "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "warning"},
                    "annotations": {"summary": "95% used"}, "startsAt": "2026-08-22T10:00:00Z",
                    "endsAt": ends_at, "generatorURL": "", "fingerprint": ""}]
    }))
    .unwrap()
}

/// A firing webhook notification with `n` distinct alerts.
fn webhook_with(n: usize) -> Vec<u8> {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({"status": "firing", "labels": {"alertname": "Load", "instance": format!("i{i}")},
                         "startsAt": "2026-08-22T10:00:00Z"})
        })
        .collect();
    serde_json::to_vec(&json!({"version": "4", "status": "firing", "alerts": alerts})).unwrap()
}

/// A fresh directory under the temp dir, named `alertkit-<tag>-<pid>-<nanos>`.
fn fresh_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "alertkit-{tag}-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A real HTTP target on loopback answering 200 at `/hook`, a fresh temp
/// directory, and a `targets.toml` in it naming the target `oncall`.
async fn loopback_target(
    tag: &str,
) -> (wiremock::MockServer, std::path::PathBuf, std::path::PathBuf) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let target = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&target)
        .await;
    let dir = fresh_dir(tag);
    let targets = dir.join("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[[targets]]\nname = \"oncall\"\ntype = \"webhook\"\nurl = \"{}/hook\"\n",
            target.uri()
        ),
    )
    .unwrap();
    (target, dir, targets)
}
