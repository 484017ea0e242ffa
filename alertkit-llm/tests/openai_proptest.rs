#![allow(clippy::unwrap_used)]
//! Any reply content from a real (loopback) server yields a valid LLM verdict
//! or an error the fallback turns into the rules' answer; never a panic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertkit_core::memory::LabelClassifier;
use alertkit_core::{Alert, ClassificationSource, Classifier, ClassifyError, LabelSet, Severity};
use alertkit_llm::ChainBuilder;
use alertkit_llm::openai::{LlmClassifier, LlmConfig};
use proptest::prelude::*;
use serde_json::json;
use time::macros::datetime;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const VALID: &str = r#"{"severity":"warning","category":"latency","confidence":0.6,"summary":"p99 above 2s","recommendations":["look at the slow query log"]}"#;

fn contents() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (0..=VALID.len()).prop_map(|end| VALID[..end].to_owned()),
        ("[^{}]{0,40}", "[^{}]{0,40}").prop_map(|(a, b)| format!("{a}{VALID}{b}")),
        (0..VALID.len(), "[a-z{}\\[\\]\":,0-9]{1,4}").prop_map(|(at, junk)| {
            let mut s = VALID.to_owned();
            s.insert_str(at, &junk);
            s
        }),
    ]
}

#[test]
fn any_reply_content_is_a_verdict_or_the_rules_answer() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reply = Arc::new(Mutex::new(String::new()));
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        let reply = Arc::clone(&reply);
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(move |_: &Request| {
                let content = reply.lock().unwrap().clone();
                ResponseTemplate::new(200).set_body_json(json!({
                    "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
                }))
            })
            .mount(&server)
            .await;
        server
    });
    let config = LlmConfig::new(format!("{}/v1", server.uri()), "m").with_retries(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
    );
    let llm = Arc::new(LlmClassifier::new(config).unwrap());
    let chain = ChainBuilder::new(llm.clone(), Arc::new(LabelClassifier))
        .without_breaker()
        .build();
    // A distinct alert per case: the chain's single flight keeps an answer for a moment.
    let case = std::sync::atomic::AtomicUsize::new(0);

    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    runner
        .run(&contents(), |content| {
            *reply.lock().unwrap() = content.clone();
            let n = case
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .to_string();
            let alert = Alert::firing(
                LabelSet::from_pairs([
                    ("alertname", "SlowRequests"),
                    ("severity", "info"),
                    ("case", n.as_str()),
                ]),
                datetime!(2026-03-01 12:00 UTC),
            );
            let rules = rt.block_on(LabelClassifier.classify(&alert)).unwrap();
            let direct = rt.block_on(llm.classify(&alert));
            let via_chain = rt.block_on(chain.classify(&alert)).unwrap();
            match direct {
                Ok(c) => {
                    prop_assert_eq!(c.source, ClassificationSource::Llm);
                    prop_assert_eq!(c.severity, Severity::Warning);
                    prop_assert!((0.0..=1.0).contains(&c.confidence));
                    prop_assert_eq!(via_chain.source, ClassificationSource::Llm);
                    prop_assert_eq!(via_chain.severity, c.severity);
                }
                Err(e) => {
                    prop_assert!(matches!(e, ClassifyError::InvalidResponse(_)), "{:?}", e);
                    prop_assert_eq!(&via_chain, &rules);
                }
            }
            Ok(())
        })
        .unwrap();
}
