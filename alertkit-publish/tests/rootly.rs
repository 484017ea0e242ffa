//! Rootly publisher against a real loopback HTTP server.
#![allow(clippy::unwrap_used)]

mod common;

use alertkit_core::{PublishError, PublishOutcome, Publisher};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::rootly::{RootlyConfig, RootlyPublisher};
use common::*;
use serde_json::json;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "rootly-api-key-abcdef";

fn publisher(server: &MockServer) -> RootlyPublisher {
    RootlyPublisher::new(
        "rootly",
        RootlyConfig::new(KEY).with_url(server.uri()),
        &HttpOptions::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn id_round_trip_create_then_resolve() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/alerts"))
        .and(header_is("authorization", &*format!("Bearer {KEY}")))
        .and(header_is("content-type", "application/vnd.api+json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "data": {"id": "0b6a8f3c-6f2e-4d2a-9c8e-1f2a3b4c5d6e", "type": "alerts",
                     "attributes": {"summary": "HighLatency on db (critical)"}}
        })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/v1/alerts/0b6a8f3c-6f2e-4d2a-9c8e-1f2a3b4c5d6e/resolve",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"id": "0b6a8f3c-6f2e-4d2a-9c8e-1f2a3b4c5d6e"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let p = publisher(&server);
    let receipt = p.publish(&firing()).await.unwrap();
    assert_eq!(receipt.status_code, Some(201));
    let id = receipt.remote_id.unwrap();
    assert_eq!(id, "0b6a8f3c-6f2e-4d2a-9c8e-1f2a3b4c5d6e");
    p.publish(&classified()).await.unwrap();

    let receipt = p
        .publish(&resolved().with_remote_ref(id.clone()))
        .await
        .unwrap();
    assert!(receipt.is_delivered());
    assert_eq!(receipt.remote_id, Some(id));

    let reqs = server.received_requests().await.unwrap();
    assert_golden("rootly_create", &body(&reqs[0]));
    assert_golden("rootly_create_classified", &body(&reqs[1]));
    assert_golden("rootly_resolve", &body(&reqs[2]));
}

#[tokio::test]
async fn resolve_without_a_known_id_is_skipped_without_a_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let p = publisher(&server);
    let receipt = p.publish(&resolved()).await.unwrap();
    match receipt.outcome {
        PublishOutcome::Skipped { reason } => assert!(reason.contains("no rootly alert id")),
        o => panic!("{o:?}"),
    }
    // A remote_ref that is not an id is refused, not put into a URL.
    let e = p
        .publish(&resolved().with_remote_ref("../../admin"))
        .await
        .unwrap_err();
    assert!(matches!(e, PublishError::Rejected { .. }));
}

#[tokio::test]
async fn errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/alerts"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "errors": [{"title": "Summary can't be blank", "status": "422"}]
        })))
        .mount(&server)
        .await;
    Mock::given(path("/v1/alerts/gone/resolve"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"errors": [{"title": "Not found"}]})),
        )
        .mount(&server)
        .await;
    let p = publisher(&server);
    let e = p.publish(&firing()).await.unwrap_err();
    assert!(
        matches!(&e, PublishError::Rejected { status: Some(422), message } if message.contains("blank")),
        "{e:?}"
    );
    let e = p
        .publish(&resolved().with_remote_ref("gone"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        PublishError::Rejected {
            status: Some(404),
            ..
        }
    ));
    assert!(!format!("{p:?}").contains(KEY));
}

#[tokio::test]
async fn created_without_an_id_is_still_delivered() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/alerts"))
        .respond_with(ResponseTemplate::new(201).set_body_string("{}"))
        .mount(&server)
        .await;
    let receipt = publisher(&server).publish(&firing()).await.unwrap();
    assert!(receipt.is_delivered());
    assert_eq!(receipt.remote_id, None);
}
