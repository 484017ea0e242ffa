//! Slack publisher against a real loopback HTTP server.
#![allow(clippy::unwrap_used)]

mod common;

/// What an error must look like.
type Expect = fn(&PublishError) -> bool;

use std::time::Duration;

use alertkit_core::{PublishError, Publisher};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::slack::{OnResolve, SlackConfig, SlackPublisher};
use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header as header_is, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn webhook_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/secretpart"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

fn webhook_publisher(server: &MockServer) -> SlackPublisher {
    let config = SlackConfig::webhook(format!("{}/services/T0/B0/secretpart", server.uri()))
        .with_history_url("https://alertkit.example/alerts/");
    SlackPublisher::new("ops-slack", config, &HttpOptions::default()).unwrap()
}

async fn last_body(server: &MockServer) -> Value {
    body(server.received_requests().await.unwrap().last().unwrap())
}

#[tokio::test]
async fn webhook_golden_payloads() {
    let server = webhook_server().await;
    let p = webhook_publisher(&server);
    for (name, n) in [
        ("slack_firing", firing()),
        ("slack_resolved", resolved()),
        ("slack_classified", classified()),
        ("slack_oversized", oversized()),
    ] {
        let receipt = p.publish(&n).await.unwrap();
        assert!(receipt.is_delivered());
        assert_eq!(receipt.status_code, Some(200));
        assert_eq!(
            receipt.remote_id, None,
            "incoming webhooks return no message id"
        );
        assert_golden(name, &last_body(&server).await);
    }
    let req = server.received_requests().await.unwrap();
    assert_eq!(header(&req[0], "content-type"), Some("application/json"));
    assert!(
        header(&req[0], "user-agent")
            .unwrap()
            .starts_with("alertkit/")
    );
}

/// Walks a message and checks every Block Kit limit.
fn check_limits(msg: &Value) {
    let chars = |v: &Value| v.as_str().unwrap().chars().count();
    assert!(chars(&msg["text"]) <= 4000);
    let blocks = msg["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    let mut total = 0;
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(chars(&b["text"]["text"]) <= 150);
                total += chars(&b["text"]["text"]);
            }
            "section" => {
                if let Some(t) = b.get("text") {
                    assert!(chars(&t["text"]) <= 3000);
                    total += chars(&t["text"]);
                }
                if let Some(fields) = b.get("fields") {
                    let fields = fields.as_array().unwrap();
                    assert!(fields.len() <= 10);
                    for f in fields {
                        assert!(chars(&f["text"]) <= 2000);
                        total += chars(&f["text"]);
                    }
                }
            }
            "context" => {
                let els = b["elements"].as_array().unwrap();
                assert!(els.len() <= 10);
                for e in els {
                    total += chars(&e["text"]);
                }
            }
            "actions" => {
                let els = b["elements"].as_array().unwrap();
                assert!(els.len() <= 25);
                for e in els {
                    assert!(chars(&e["text"]["text"]) <= 75);
                    assert!(chars(&e["url"]) <= 3000);
                }
            }
            other => panic!("unexpected block type {other}"),
        }
    }
    assert!(total <= 12_000, "{total} characters of block text");
}

#[tokio::test]
async fn oversized_input_is_truncated_within_limits() {
    let server = webhook_server().await;
    let p = webhook_publisher(&server);
    let n = oversized();
    p.publish(&n).await.unwrap();
    let msg = last_body(&server).await;
    check_limits(&msg);
    // Truncation is visible, on char boundaries, and never splits an escape.
    let header = msg["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(header.ends_with('…') && header.starts_with("FIRING: HugeÑ"));
    let text = msg["text"].as_str().unwrap();
    assert!(text.ends_with('…'));
    for b in msg["blocks"].as_array().unwrap() {
        let s = b.to_string();
        assert!(!s.contains("&l…") && !s.contains("&a…") && !s.contains("&g…"));
        assert!(
            !s.contains('<') && !s.contains('>'),
            "unescaped mrkdwn specials"
        );
    }
    let last_context = msg["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "context")
        .unwrap();
    assert!(last_context.to_string().contains("more labels"));
    // Ordinary messages satisfy the limits too.
    for n in [firing(), resolved(), classified()] {
        check_limits(&p.render(&n));
    }
}

#[tokio::test]
async fn webhook_errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(path("/revoked"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&server)
        .await;
    Mock::given(path("/limited"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .set_body_string("rate_limited"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(500).set_body_string("rollup_error"))
        .mount(&server)
        .await;
    let make = |p: &str| {
        SlackPublisher::new(
            "s",
            SlackConfig::webhook(format!("{}{p}", server.uri())),
            &HttpOptions::default(),
        )
        .unwrap()
    };
    match make("/revoked").publish(&firing()).await.unwrap_err() {
        PublishError::Rejected {
            status: Some(404),
            message,
        } => assert_eq!(message, "no_service"),
        e => panic!("{e:?}"),
    }
    match make("/limited").publish(&firing()).await.unwrap_err() {
        PublishError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)));
        }
        e => panic!("{e:?}"),
    }
    let e = make("/broken").publish(&firing()).await.unwrap_err();
    assert!(matches!(e, PublishError::Server { status: 500, .. }) && e.is_transient());
}

// --- bot mode ------------------------------------------------------------------

fn bot(server: &MockServer, on_resolve: OnResolve) -> SlackPublisher {
    let config = SlackConfig::bot("xoxb-test-token-123", "C0123456789")
        .with_api_url(format!("{}/api", server.uri()))
        .with_on_resolve(on_resolve);
    SlackPublisher::new("ops-bot", config, &HttpOptions::default()).unwrap()
}

fn ok_posted(ts: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"ok": true, "channel": "C0123456789", "ts": ts, "message": {}}))
}

#[tokio::test]
async fn bot_posts_then_updates_the_message_on_resolve() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header_is("authorization", "Bearer xoxb-test-token-123"))
        .and(header_is("content-type", "application/json; charset=utf-8"))
        .respond_with(ok_posted("1755856800.000100"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .and(body_partial_json(
            json!({"channel": "C0123456789", "ts": "1755856800.000100"}),
        ))
        .respond_with(ok_posted("1755856800.000100"))
        .expect(1)
        .mount(&server)
        .await;
    let p = bot(&server, OnResolve::Update);
    let receipt = p.publish(&firing()).await.unwrap();
    let remote = receipt.remote_id.unwrap();
    assert_eq!(remote, "C0123456789:1755856800.000100");

    let receipt = p
        .publish(&resolved().with_remote_ref(remote.clone()))
        .await
        .unwrap();
    assert_eq!(receipt.remote_id.as_deref(), Some(remote.as_str()));

    let reqs = server.received_requests().await.unwrap();
    assert_golden("slack_bot_post", &body(&reqs[0]));
    assert_golden("slack_bot_update", &body(&reqs[1]));
}

#[tokio::test]
async fn bot_replies_in_thread_when_configured() {
    let server = MockServer::start().await;
    Mock::given(path("/api/chat.postMessage"))
        .respond_with(ok_posted("1755856999.000200"))
        .expect(1)
        .mount(&server)
        .await;
    let p = bot(&server, OnResolve::Thread);
    let receipt = p
        .publish(&resolved().with_remote_ref("C0123456789:1755856800.000100"))
        .await
        .unwrap();
    // Later events keep referring to the thread's root.
    assert_eq!(
        receipt.remote_id.as_deref(),
        Some("C0123456789:1755856800.000100")
    );
    let req = &server.received_requests().await.unwrap()[0];
    assert_eq!(body(req)["thread_ts"], "1755856800.000100");
    assert_eq!(body(req)["channel"], "C0123456789");
}

#[tokio::test]
async fn bot_posts_anew_when_the_original_cannot_be_updated() {
    let server = MockServer::start().await;
    Mock::given(path("/api/chat.update"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "message_not_found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/chat.postMessage"))
        .respond_with(ok_posted("1755857000.000300"))
        .expect(2)
        .mount(&server)
        .await;
    let p = bot(&server, OnResolve::Update);
    let receipt = p
        .publish(&resolved().with_remote_ref("C0123456789:1755856800.000100"))
        .await
        .unwrap();
    assert_eq!(
        receipt.remote_id.as_deref(),
        Some("C0123456789:1755857000.000300")
    );
    // Without a remote_ref a resolve is simply a new message.
    let receipt = p.publish(&resolved()).await.unwrap();
    assert_eq!(
        receipt.remote_id.as_deref(),
        Some("C0123456789:1755857000.000300")
    );
}

#[tokio::test]
async fn bot_ok_false_variants_are_classified() {
    let server = MockServer::start().await;
    let p = bot(&server, OnResolve::Update);
    let cases: Vec<(ResponseTemplate, Expect)> = vec![
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"ok": false, "error": "ratelimited"})),
            |e| matches!(e, PublishError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(7)),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "ratelimited"})),
            |e| matches!(e, PublishError::RateLimited { .. }),
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
            |e| matches!(e, PublishError::Rejected { message, .. } if message == "invalid_auth"),
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
            |e| matches!(e, PublishError::Rejected { message, .. } if message == "channel_not_found"),
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "invalid_blocks"})),
            |e| matches!(e, PublishError::Rejected { .. }) && !e.is_transient(),
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "internal_error"})),
            |e| {
                matches!(e, PublishError::Server { message, .. } if message == "internal_error")
                    && e.is_transient()
            },
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>proxy</html>"),
            |e| matches!(e, PublishError::Server { .. }),
        ),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        server.reset().await;
        Mock::given(path("/api/chat.postMessage"))
            .respond_with(response)
            .mount(&server)
            .await;
        let e = p.publish(&firing()).await.unwrap_err();
        assert!(expected(&e), "case {i}: {e:?}");
        assert!(!format!("{e:?} {e}").contains("xoxb-test-token-123"));
    }
}

#[test]
fn invalid_configurations_are_refused() {
    let opts = HttpOptions::default();
    let mut both = SlackConfig::webhook("https://hooks.slack.com/services/x");
    both.token = Some("xoxb-1".into());
    let e = SlackPublisher::new("s", both, &opts).unwrap_err();
    assert!(e.to_string().contains("url:"), "{e}");
    let mut no_channel = SlackConfig::bot("xoxb-1", "C1");
    no_channel.channel = None;
    let e = SlackPublisher::new("s", no_channel, &opts).unwrap_err();
    assert!(e.to_string().contains("channel:"), "{e}");
    let e = SlackPublisher::new("s", SlackConfig::webhook("ftp://x"), &opts).unwrap_err();
    assert!(e.to_string().contains("url:"), "{e}");
}
