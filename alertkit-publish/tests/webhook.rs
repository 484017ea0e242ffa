//! Generic webhook publisher against a real loopback HTTP server.
#![allow(clippy::unwrap_used)]

mod common;

use alertkit_core::{Publisher, WebhookMessage};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::webhook::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookConfig, WebhookPublisher, verify_signature,
};
use common::*;
use hmac::{Hmac, Mac};
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

fn url(server: &MockServer) -> String {
    format!("{}/hook", server.uri())
}

#[tokio::test]
async fn golden_bodies_are_alertmanager_v4() {
    let server = server().await;
    let p = WebhookPublisher::new(
        "hook",
        WebhookConfig::new(url(&server)),
        &HttpOptions::default(),
    )
    .unwrap();
    for (name, n) in [
        ("webhook_firing", firing()),
        ("webhook_resolved", resolved()),
        ("webhook_classified", classified()),
    ] {
        let receipt = p.publish(&n).await.unwrap();
        assert_eq!(receipt.status_code, Some(200));
        let req = server.received_requests().await.unwrap().pop().unwrap();
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert!(header(&req, "user-agent").unwrap().starts_with("alertkit/"));
        assert_eq!(header(&req, SIGNATURE_HEADER), None);
        // Any v4 receiver (here: alertkit's own parser) accepts it.
        let msg = WebhookMessage::from_json(&req.body).unwrap();
        assert_eq!(msg.alerts.len(), 1);
        assert_eq!(msg.alerts[0], n.alert);
        assert!(msg.fingerprint_mismatches.is_empty());
        assert_golden(name, &body(&req));
    }
}

#[tokio::test]
async fn hmac_signature_verifies_at_the_receiver() {
    let server = server().await;
    let secret = "whsec-signing-secret";
    let config = WebhookConfig::new(url(&server)).with_hmac_secret(secret);
    let p = WebhookPublisher::new("hook", config, &HttpOptions::default()).unwrap();
    p.publish(&classified()).await.unwrap();
    let req = server.received_requests().await.unwrap().pop().unwrap();
    let ts = header(&req, TIMESTAMP_HEADER).unwrap();
    let sig = header(&req, SIGNATURE_HEADER).unwrap();

    // The helper receivers use.
    verify_signature(secret.as_bytes(), ts, sig, &req.body).unwrap();
    assert!(verify_signature(b"wrong", ts, sig, &req.body).is_err());
    let mut tampered = req.body.clone();
    tampered[10] ^= 1;
    assert!(verify_signature(secret.as_bytes(), ts, sig, &tampered).is_err());

    // And an independent receiver following targets.md §4.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&req.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("sha256={hex}"));
}

#[tokio::test]
async fn idempotency_key_is_stable_across_retries() {
    let server = server().await;
    let p = WebhookPublisher::new(
        "hook",
        WebhookConfig::new(url(&server)),
        &HttpOptions::default(),
    )
    .unwrap();
    let n = firing();
    p.publish(&n).await.unwrap();
    p.publish(&n.clone()).await.unwrap();
    p.publish(&resolved()).await.unwrap();
    let other = WebhookPublisher::new(
        "other",
        WebhookConfig::new(url(&server)),
        &HttpOptions::default(),
    )
    .unwrap();
    other.publish(&n).await.unwrap();
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| header(r, "idempotency-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys[0], keys[1], "a retry carries the same key");
    assert_ne!(keys[0], keys[2], "another state change has another key");
    assert_ne!(keys[0], keys[3], "another target has another key");
    assert_eq!(keys[0].len(), 64);
}

#[tokio::test]
async fn auth_and_custom_headers() {
    let server = MockServer::start().await;
    Mock::given(path("/hook"))
        .and(header_is(
            "authorization",
            "Basic YWxlcnRtYW5hZ2VyOnB3LXNlY3JldA==",
        ))
        .and(header_is("x-team", "db"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/bearer"))
        .and(header_is("authorization", "Bearer tok-secret"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let basic = WebhookConfig::new(url(&server))
        .with_basic_auth("alertmanager", "pw-secret")
        .with_header("X-Team", "db");
    let p = WebhookPublisher::new("hook", basic, &HttpOptions::default()).unwrap();
    assert_eq!(p.publish(&firing()).await.unwrap().status_code, Some(204));
    let bearer =
        WebhookConfig::new(format!("{}/bearer", server.uri())).with_bearer_token("tok-secret");
    let p = WebhookPublisher::new("hook", bearer, &HttpOptions::default()).unwrap();
    assert_eq!(p.publish(&firing()).await.unwrap().status_code, Some(202));
    let dbg = format!("{p:?}");
    assert!(
        !dbg.contains("tok-secret") && !dbg.contains("/bearer"),
        "{dbg}"
    );
}

#[test]
fn refuses_bad_config() {
    let opts = HttpOptions::default();
    let both = WebhookConfig::new("https://x.example")
        .with_bearer_token("a")
        .with_basic_auth("u", "p");
    let e = WebhookPublisher::new("h", both, &opts).unwrap_err();
    assert!(e.to_string().contains("bearer_token:"), "{e}");
    let bad_header = WebhookConfig::new("https://x.example").with_header("bad header", "v");
    let e = WebhookPublisher::new("h", bad_header, &opts).unwrap_err();
    assert!(e.to_string().contains("headers:"), "{e}");
    let bad_value =
        WebhookConfig::new("https://x.example").with_header("x-key", "line\nbreak-secret");
    let e = WebhookPublisher::new("h", bad_value, &opts).unwrap_err();
    assert!(!e.to_string().contains("break-secret"), "{e}");
}
