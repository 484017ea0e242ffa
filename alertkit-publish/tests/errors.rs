//! Response classification shared by every vendor publisher, over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

/// What an error must look like.
type Expect = fn(&PublishError) -> bool;

use std::time::Duration;

use alertkit_core::{PublishError, Publisher};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::pagerduty::{PagerDutyConfig, PagerDutyPublisher};
use alertkit_publish::rootly::{RootlyConfig, RootlyPublisher};
use alertkit_publish::slack::{SlackConfig, SlackPublisher};
use alertkit_publish::webhook::{WebhookConfig, WebhookPublisher};
use common::*;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One publisher of each type, all posting to `base`.
fn publishers(base: &str, options: &HttpOptions) -> Vec<Box<dyn Publisher>> {
    vec![
        Box::new(
            SlackPublisher::new(
                "slack",
                SlackConfig::webhook(format!("{base}/slack")),
                options,
            )
            .unwrap(),
        ),
        Box::new(
            PagerDutyPublisher::new(
                "pd",
                PagerDutyConfig::new("k".repeat(32)).with_url(format!("{base}/pd")),
                options,
            )
            .unwrap(),
        ),
        Box::new(
            RootlyPublisher::new(
                "rootly",
                RootlyConfig::new("key-123456").with_url(base),
                options,
            )
            .unwrap(),
        ),
        Box::new(
            WebhookPublisher::new("hook", WebhookConfig::new(format!("{base}/hook")), options)
                .unwrap(),
        ),
    ]
}

async fn respond_all(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn status_classification_for_every_target() {
    let cases: Vec<(ResponseTemplate, Expect)> = vec![
        (
            ResponseTemplate::new(429).insert_header("retry-after", "30"),
            |e| matches!(e, PublishError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(30)),
        ),
        (ResponseTemplate::new(429), |e| {
            matches!(e, PublishError::RateLimited { retry_after: None })
        }),
        (
            ResponseTemplate::new(500).set_body_string("boom"),
            |e| matches!(e, PublishError::Server { status: 500, retry_after: None, message } if message == "boom"),
        ),
        (
            ResponseTemplate::new(503).insert_header("retry-after", "5"),
            |e| matches!(e, PublishError::Server { status: 503, retry_after: Some(d), .. } if *d == Duration::from_secs(5)),
        ),
        (ResponseTemplate::new(408), |e| {
            matches!(e, PublishError::Server { status: 408, .. })
        }),
        (
            ResponseTemplate::new(400).set_body_string("invalid_payload"),
            |e| matches!(e, PublishError::Rejected { status: Some(400), message } if message == "invalid_payload"),
        ),
        (ResponseTemplate::new(401), |e| {
            matches!(
                e,
                PublishError::Rejected {
                    status: Some(401),
                    ..
                }
            )
        }),
        (
            ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
            |e| {
                matches!(
                    e,
                    PublishError::Rejected {
                        status: Some(302),
                        ..
                    }
                )
            },
        ),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        let server = respond_all(response).await;
        for p in publishers(&server.uri(), &HttpOptions::default()) {
            let e = p.publish(&firing()).await.unwrap_err();
            assert!(expected(&e), "case {i}, {}: {e:?}", p.name());
        }
    }
}

#[tokio::test]
async fn transient_and_final_predicates() {
    let server = respond_all(ResponseTemplate::new(503)).await;
    for p in publishers(&server.uri(), &HttpOptions::default()) {
        assert!(p.publish(&firing()).await.unwrap_err().is_transient());
    }
    let server = respond_all(ResponseTemplate::new(404)).await;
    for p in publishers(&server.uri(), &HttpOptions::default()) {
        assert!(!p.publish(&firing()).await.unwrap_err().is_transient());
    }
}

#[tokio::test]
async fn large_error_bodies_are_cut_to_an_excerpt() {
    let server =
        respond_all(ResponseTemplate::new(500).set_body_string("x\n".repeat(100_000))).await;
    for p in publishers(&server.uri(), &HttpOptions::default()) {
        match p.publish(&firing()).await.unwrap_err() {
            PublishError::Server { message, .. } => {
                assert!(message.chars().count() <= 300, "{}", message.len());
                assert!(!message.contains('\n'));
            }
            e => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn timeout() {
    let server = respond_all(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    let options = HttpOptions::with_timeout(Duration::from_millis(200));
    for p in publishers(&server.uri(), &options) {
        let e = p.publish(&firing()).await.unwrap_err();
        assert!(matches!(e, PublishError::Timeout), "{}: {e:?}", p.name());
    }
}

#[tokio::test]
async fn connection_refused() {
    let base = format!("http://127.0.0.1:{}/T0KEN-secret", closed_port());
    for p in publishers(&base, &HttpOptions::default()) {
        let e = p.publish(&firing()).await.unwrap_err();
        assert!(
            matches!(e, PublishError::Transport(_)),
            "{}: {e:?}",
            p.name()
        );
        assert!(e.is_transient());
        // The URL (whose path may be a secret) is not in the error, its chain or Debug.
        let mut chain = format!("{e} {e:?}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push_str(&s.to_string());
            source = s.source();
        }
        assert!(!chain.contains("T0KEN-secret"), "{chain}");
    }
}
