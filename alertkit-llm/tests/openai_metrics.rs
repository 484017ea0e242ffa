#![allow(clippy::unwrap_used)]
//! The LLM classifier's and the chain's metrics, read from a debugging recorder
//! (one test in this binary: the recorder is global).

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::memory::LabelClassifier;
use alertkit_core::{Alert, Classifier, LabelSet};
use alertkit_llm::ChainBuilder;
use alertkit_llm::openai::{LlmClassifier, LlmConfig, metrics as names};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;
use time::macros::datetime;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

type Snapshot = Vec<(
    CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The increase of the counter `name` with the label `label=value` in `snapshot`.
fn counter(snapshot: &Snapshot, name: &str, label: (&str, &str)) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| {
            key.key().name() == name
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == label.0 && l.value() == label.1)
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn classifications_tokens_errors_and_fallbacks_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let server = MockServer::start().await;
    let valid =
        r#"Answer: {"severity":"info","category":"other","confidence":0.3,"summary":"heartbeat"}"#;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"message": {"role": "assistant", "content": valid}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 40}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let config = LlmConfig::new(format!("{}/v1", server.uri()), "m").with_retries(
        2,
        Duration::from_millis(1),
        Duration::from_millis(2),
    );
    let chain = ChainBuilder::new(
        Arc::new(LlmClassifier::new(config).unwrap()),
        Arc::new(LabelClassifier),
    )
    .without_breaker()
    .build();
    let alert = Alert::firing(
        LabelSet::from_pairs([("alertname", "Watchdog")]),
        datetime!(2026-03-01 12:00 UTC),
    );

    chain.classify(&alert).await.unwrap();
    let snap = snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(&snap, names::CLASSIFICATIONS, ("status", "success")),
        1
    );
    assert_eq!(counter(&snap, names::TOKENS, ("kind", "prompt")), 300);
    assert_eq!(counter(&snap, names::TOKENS, ("kind", "completion")), 40);
    assert_eq!(counter(&snap, names::REPAIRS, ("kind", "extracted")), 1);

    // Another alert (the first answer lingers in the single flight for a second).
    let other = Alert::firing(
        LabelSet::from_pairs([("alertname", "Other")]),
        datetime!(2026-03-01 12:00 UTC),
    );
    chain.classify(&other).await.unwrap();
    let snap = snapshotter.snapshot().into_vec();
    assert_eq!(
        counter(&snap, names::CLASSIFICATIONS, ("status", "success")),
        0
    );
    assert_eq!(
        counter(&snap, names::CLASSIFICATIONS, ("status", "error")),
        1
    );
    assert_eq!(
        counter(&snap, names::CLASSIFICATIONS, ("status", "fallback")),
        1
    );
    assert_eq!(counter(&snap, names::ERRORS, ("stage", "attempt")), 2);
    assert_eq!(counter(&snap, names::ERRORS, ("reason", "unavailable")), 3);
    let durations: Vec<_> = snap
        .iter()
        .filter_map(|(key, .., value)| match value {
            DebugValue::Histogram(v) if key.key().name() == names::DURATION && !v.is_empty() => {
                Some(
                    key.key()
                        .labels()
                        .map(|l| l.value().to_owned())
                        .collect::<Vec<_>>(),
                )
            }
            _ => None,
        })
        .collect();
    assert_eq!(durations, vec![vec!["error".to_owned()]]);
}
