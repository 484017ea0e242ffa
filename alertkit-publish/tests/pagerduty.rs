//! PagerDuty publisher against a real loopback HTTP server.
#![allow(clippy::unwrap_used)]

mod common;

use alertkit_core::{Alert, EventKind, LabelSet, Notification, PublishError, Publisher};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::pagerduty::{DedupBy, PagerDutyConfig, PagerDutyPublisher};
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "0123456789abcdef0123456789abcdef";

async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"status": "success", "message": "Event processed", "dedup_key": "8706a0803b42115b"}),
        ))
        .mount(&server)
        .await;
    server
}

fn publisher(server: &MockServer, dedup: DedupBy) -> PagerDutyPublisher {
    let config = PagerDutyConfig::new(KEY)
        .with_url(format!("{}/v2/enqueue", server.uri()))
        .with_dedup(dedup);
    PagerDutyPublisher::new("pager", config, &HttpOptions::default()).unwrap()
}

#[tokio::test]
async fn golden_events() {
    let server = server().await;
    let p = publisher(&server, DedupBy::Alert);
    for (name, n) in [
        ("pagerduty_trigger", firing()),
        ("pagerduty_resolve", resolved()),
        ("pagerduty_classified", classified()),
        ("pagerduty_oversized", oversized()),
    ] {
        let receipt = p.publish(&n).await.unwrap();
        assert_eq!(receipt.status_code, Some(202));
        assert_eq!(receipt.remote_id.as_deref(), Some("8706a0803b42115b"));
        let req = server.received_requests().await.unwrap().pop().unwrap();
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        let event = body(&req);
        assert!(
            req.body.len() <= 512_000,
            "{name}: {} bytes",
            req.body.len()
        );
        assert_golden(name, &event);
    }
}

#[tokio::test]
async fn oversized_event_replaces_custom_details() {
    let server = server().await;
    let p = publisher(&server, DedupBy::Alert);
    let event = p.event(&oversized());
    let summary = event["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with('…'));
    assert!(
        event["payload"]["custom_details"]["note"]
            .as_str()
            .unwrap()
            .contains("512000")
    );
    assert!(serde_json::to_vec(&event).unwrap().len() <= 512_000);
}

#[tokio::test]
async fn group_dedup_key_is_sha256_of_the_group_key() {
    let server = server().await;
    let p = publisher(&server, DedupBy::Group);
    let got = p.dedup_key(&firing());
    assert_eq!(got.len(), 64);
    assert!(got.bytes().all(|b| b.is_ascii_hexdigit()));
    // Independent computation.
    use sha2::Digest;
    let expected = sha2::Sha256::digest(br#"{}:{alertname="HighLatency"}"#)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(got, expected);
    // A resolve prefers the key recorded at trigger time.
    let event = p.event(&resolved().with_remote_ref("recorded-key"));
    assert_eq!(event["dedup_key"], "recorded-key");
    assert_eq!(event["event_action"], "resolve");
}

fn with_severity(value: Option<&str>) -> Notification {
    let mut pairs = vec![("alertname", "A")];
    if let Some(v) = value {
        pairs.push(("severity", v));
    }
    Notification::new(
        Alert::firing(
            LabelSet::from_pairs(pairs),
            time::OffsetDateTime::UNIX_EPOCH,
        ),
        EventKind::Firing,
        origin(),
    )
}

#[tokio::test]
async fn severity_mapping() {
    let server = server().await;
    let p = publisher(&server, DedupBy::Alert);
    for (label, want) in [
        (Some("critical"), "critical"),
        (Some("error"), "error"),
        (Some("Warning"), "warning"),
        (Some("info"), "info"),
        (Some("P1"), "critical"),
        (Some("medium"), "warning"),
        (Some("none"), "info"),
        (Some("bogus"), "error"),
        (None, "error"),
    ] {
        let event = p.event(&with_severity(label));
        assert_eq!(event["payload"]["severity"], want, "{label:?}");
    }
    // The classification wins over the label.
    let event = p.event(&with_severity(Some("info")).with_classification(classification()));
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["payload"]["class"], "latency");
}

#[tokio::test]
async fn errors_are_classified_and_scrubbed() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/enqueue"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "invalid event", "message": "Event object is invalid",
            "errors": [format!("routing_key {KEY} is unknown")]
        })))
        .mount(&server)
        .await;
    let p = publisher(&server, DedupBy::Alert);
    let e = p.publish(&firing()).await.unwrap_err();
    match &e {
        PublishError::Rejected {
            status: Some(400),
            message,
        } => {
            assert!(message.contains("Event object is invalid"), "{message}");
            assert!(!message.contains(KEY), "{message}");
        }
        e => panic!("{e:?}"),
    }
    assert!(!format!("{e:?}").contains(KEY));
    assert!(!format!("{p:?}").contains(KEY));
}

#[test]
fn refuses_bad_config() {
    let e = PagerDutyPublisher::new("p", PagerDutyConfig::new(""), &HttpOptions::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "publisher misconfigured: routing_key: must not be empty"
    );
}
