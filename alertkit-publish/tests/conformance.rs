//! Every vendor publisher passes the core `Publisher` conformance suite
//! against a healthy loopback target.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use alertkit_core::testing::conformance::{self, Observer};
use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher};
use alertkit_publish::http::HttpOptions;
use alertkit_publish::pagerduty::{PagerDutyConfig, PagerDutyPublisher};
use alertkit_publish::rootly::{RootlyConfig, RootlyPublisher};
use alertkit_publish::slack::{SlackConfig, SlackPublisher};
use alertkit_publish::webhook::{WebhookConfig, WebhookPublisher};
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A publisher that keeps its target server alive.
struct WithServer<P> {
    inner: P,
    _server: Arc<MockServer>,
}

#[async_trait::async_trait]
impl<P: Publisher> Publisher for WithServer<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        self.inner.publish(n).await
    }
}

/// Answers like the vendor would and records the `alertkit.dedup_key` of webhook bodies.
struct Target {
    seen: Arc<Mutex<Vec<String>>>,
}

impl Respond for Target {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path();
        if path.ends_with("/v1/alerts") {
            return ResponseTemplate::new(201).set_body_json(json!({"data": {"id": "a1"}}));
        }
        if path.ends_with("/enqueue") {
            return ResponseTemplate::new(202).set_body_json(json!({"status": "success"}));
        }
        if let Ok(body) = serde_json::from_slice::<serde_json::Value>(&req.body)
            && let Some(key) = body["alertkit"]["dedup_key"].as_str()
        {
            self.seen.lock().unwrap().push(key.to_owned());
        }
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

async fn server() -> (Arc<MockServer>, Arc<Mutex<Vec<String>>>) {
    let server = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(wiremock::matchers::any())
        .respond_with(Target {
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    (Arc::new(server), seen)
}

#[test]
fn webhook_conforms() {
    conformance::publisher(|| async {
        let (server, seen) = server().await;
        let p = WebhookPublisher::new(
            "hook",
            WebhookConfig::new(format!("{}/hook", server.uri())).with_hmac_secret("s"),
            &HttpOptions::default(),
        )
        .unwrap();
        let observer: Observer = Arc::new(move || seen.lock().unwrap().clone());
        (
            WithServer {
                inner: p,
                _server: server,
            },
            Some(observer),
        )
    });
}

#[test]
fn slack_conforms() {
    conformance::publisher(|| async {
        let (server, _) = server().await;
        let config = SlackConfig::webhook(format!("{}/services/x", server.uri()));
        let p = SlackPublisher::new("slack", config, &HttpOptions::default()).unwrap();
        (
            WithServer {
                inner: p,
                _server: server,
            },
            None,
        )
    });
}

#[test]
fn pagerduty_conforms() {
    conformance::publisher(|| async {
        let (server, _) = server().await;
        let config =
            PagerDutyConfig::new("k".repeat(32)).with_url(format!("{}/v2/enqueue", server.uri()));
        let p = PagerDutyPublisher::new("pd", config, &HttpOptions::default()).unwrap();
        (
            WithServer {
                inner: p,
                _server: server,
            },
            None,
        )
    });
}

#[test]
fn rootly_conforms() {
    conformance::publisher(|| async {
        let (server, _) = server().await;
        let p = RootlyPublisher::new(
            "rootly",
            RootlyConfig::new("key-123456").with_url(server.uri()),
            &HttpOptions::default(),
        )
        .unwrap();
        (
            WithServer {
                inner: p,
                _server: server,
            },
            None,
        )
    });
}
