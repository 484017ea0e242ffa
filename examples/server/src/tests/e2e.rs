//! The whole product with real clients: a real Alertmanager 0.25 sends its
//! webhooks (with a bearer token) to the server on a SQLite file; alerts are
//! stored, classified by the default rule pack, and published through the
//! outbox to a real HTTP target on loopback — then resolved, and the resolve
//! is published too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertkit_core::testing::alertmanager::Alertmanager;
use alertkit_core::traits::AttemptOutcome;
use alertkit_core::{ClassificationSource, HistoryQuery, Status};
use serde_json::{Value, json};

use super::config;
use crate::classify::Classify;
use crate::publishing::Publishing;
use crate::{api, build};

const TOKEN: &str = "e2e-ingest-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_to_store_classifier_and_target_and_back() {
    let (target, dir, targets) = super::loopback_target("e2e").await;
    let cfg = config(&[
        (
            "DATABASE_URL",
            &format!("sqlite://{}", dir.join("e2e.db").display()),
        ),
        ("TARGETS_FILE", &targets.display().to_string()),
        ("INGEST_BEARER_TOKEN", TOKEN),
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
    let classify = Arc::new(Classify::build(&cfg).await.unwrap());
    let (pipeline, state) = build(
        opened.parts(),
        Some(classify),
        Some(Arc::clone(&publishing)),
        cfg,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let webhook = format!("http://{addr}/webhook");
    let Some(am) =
        tokio::task::spawn_blocking(move || Alertmanager::start_with_bearer(&webhook, Some(TOKEN)))
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
            let mut a = json!({
                "labels": {"alertname": "PostgresReplicationLagHigh", "instance": instance},
                "annotations": {"summary": "replication lag above 30s",
                                "description": "the replica is 45s behind the primary"},
                "startsAt": alertkit_core::model::format_rfc3339(start),
                "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_replication_lag_seconds%20%3E%2030"});
            if let Some(ends) = ends {
                a["endsAt"] = json!(alertkit_core::model::format_rfc3339(ends));
            }
            body.push(a);
        }
        Value::Array(body)
    };
    let store = Arc::clone(&opened.store);
    let outbox = publishing.outbox();
    // Stored with the given status, classified, and delivered as `kind`.
    let wait_for = |status: Status, kind: &'static str| {
        let (store, outbox) = (Arc::clone(&store), Arc::clone(&outbox));
        async move {
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                let page = store.list(&HistoryQuery::default()).await.unwrap();
                let mut done = page.records.len() == 2;
                for r in &page.records {
                    let delivered = outbox.deliveries(r.fingerprint).await.unwrap();
                    done &= r.status == status
                        && r.classification.is_some()
                        && delivered.iter().any(|a| {
                            a.kind.as_str() == kind && a.outcome == AttemptOutcome::Delivered
                        });
                }
                if done {
                    return page.records;
                }
                assert!(
                    Instant::now() < deadline,
                    "alerts never became {status}, classified and delivered as {kind}: {:?}",
                    page.records
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let (firing, am2) = (alerts(None), Arc::clone(&am));
    tokio::task::spawn_blocking(move || am2.post_alerts(&firing))
        .await
        .unwrap();
    let records = wait_for(Status::Firing, "firing").await;
    for r in &records {
        let c = r.classification.as_deref().unwrap();
        assert_eq!(c.source, ClassificationSource::Rules, "{c:?}");
        assert!(
            !c.recommendations.is_empty(),
            "the rule pack recommends: {c:?}"
        );
    }

    let (resolved, am2) = (
        alerts(Some(time::OffsetDateTime::now_utc())),
        Arc::clone(&am),
    );
    tokio::task::spawn_blocking(move || am2.post_alerts(&resolved))
        .await
        .unwrap();
    let records = wait_for(Status::Resolved, "resolved").await;
    for r in records {
        let log = outbox.deliveries(r.fingerprint).await.unwrap();
        let delivered: Vec<_> = log
            .iter()
            .filter(|a| a.outcome == AttemptOutcome::Delivered)
            .map(|a| a.kind.as_str())
            .collect();
        assert_eq!(
            delivered,
            ["firing", "resolved"],
            "each state once, in order"
        );
    }
    let bodies = target.received_requests().await.unwrap();
    assert_eq!(bodies.len(), 4, "two alerts, firing then resolved");
    let last: Value = serde_json::from_slice(&bodies[3].body).unwrap();
    assert_eq!(last["status"], "resolved");
    assert!(
        last["alertkit"]["classification"].is_object(),
        "the classification travels with the notification: {last}"
    );

    server.abort();
    pipeline.shutdown().await;
    publishing.shutdown().await;
    opened.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
