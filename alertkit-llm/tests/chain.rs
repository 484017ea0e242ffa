#![allow(clippy::unwrap_used)]
//! The standard chain against a real loopback LLM server (wiremock, which
//! counts the requests it gets).

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::layer::{BreakerConfig, BreakerState};
use alertkit_core::memory::{LabelClassifier, MemoryCache};
use alertkit_core::{
    Alert, Annotations, Cache, Classification, ClassificationSource, Classifier, LabelSet, Severity,
};
use alertkit_llm::ChainBuilder;
use alertkit_llm::openai::{LlmClassifier, LlmConfig};
use serde_json::{Value, json};
use time::macros::datetime;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const VALID: &str = r#"{"severity":"critical","category":"errors","confidence":0.8,"summary":"error rate above 5%","recommendations":["check the last deploy"]}"#;

fn completion(content: &str) -> Value {
    json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
}

fn alert(i: usize) -> Alert {
    Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "HighErrorRate".to_owned()),
            ("service", format!("svc-{i}")),
            ("severity", "warning".to_owned()),
        ]),
        datetime!(2026-03-01 12:00 UTC),
    )
    .with_annotations(Annotations::from_pairs([("summary", "5xx above 5%")]))
}

fn llm(server: &MockServer, model: &str) -> Arc<dyn Classifier> {
    let config = LlmConfig::new(format!("{}/v1", server.uri()), model)
        .with_timeout(Duration::from_secs(10))
        .with_retries(1, Duration::from_millis(1), Duration::from_millis(1))
        .with_max_concurrency(64);
    Arc::new(LlmClassifier::new(config).unwrap())
}

async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

async fn rules_answer(alert: &Alert) -> Classification {
    LabelClassifier.classify(alert).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_10k_alerts_over_50_distinct_makes_at_most_50_calls() {
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_json(completion(VALID))
            .set_delay(Duration::from_millis(200)),
    )
    .await;
    let cache = Arc::new(MemoryCache::new(16 << 20));
    let chain = Arc::new(
        ChainBuilder::new(llm(&server, "m"), Arc::new(LabelClassifier))
            .cache(cache.clone(), Duration::from_secs(3600))
            .build(),
    );
    let alerts: Vec<Alert> = (0..50).map(alert).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        let (chain, alert) = (Arc::clone(&chain), alerts[i % 50].clone());
        tasks.spawn(async move { chain.classify(&alert).await });
    }
    let mut llm_answers = 0;
    while let Some(result) = tasks.join_next().await {
        let c = result.unwrap().unwrap();
        assert_eq!(
            c.severity,
            Severity::Critical,
            "every alert got the LLM verdict"
        );
        assert!(matches!(
            c.source,
            ClassificationSource::Llm | ClassificationSource::Cache
        ));
        llm_answers += 1;
    }
    assert_eq!(llm_answers, 10_000);
    assert_eq!(hits(&server).await, 50);

    // A second storm is answered from the cache alone.
    for a in &alerts {
        assert_eq!(
            chain.classify(a).await.unwrap().source,
            ClassificationSource::Cache
        );
    }
    assert_eq!(hits(&server).await, 50);
}

#[tokio::test]
async fn an_annotation_or_model_change_misses_the_cache() {
    let server = answering(ResponseTemplate::new(200).set_body_json(completion(VALID))).await;
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(1 << 20));
    let ttl = Duration::from_secs(3600);
    let chain = ChainBuilder::new(llm(&server, "model-a"), Arc::new(LabelClassifier))
        .cache(Arc::clone(&cache), ttl)
        .build();
    let a = alert(1);
    assert_eq!(
        chain.classify(&a).await.unwrap().source,
        ClassificationSource::Llm
    );
    assert_eq!(
        chain.classify(&a).await.unwrap().source,
        ClassificationSource::Cache
    );
    assert_eq!(hits(&server).await, 1);

    // Resolving does not need a new verdict.
    let resolved = a.clone().resolved_at(datetime!(2026-03-01 12:30 UTC));
    assert_eq!(
        chain.classify(&resolved).await.unwrap().source,
        ClassificationSource::Cache
    );

    let edited = a
        .clone()
        .with_annotations(Annotations::from_pairs([("summary", "5xx above 50%")]));
    assert_eq!(
        chain.classify(&edited).await.unwrap().source,
        ClassificationSource::Llm
    );
    assert_eq!(hits(&server).await, 2);

    let other_model = ChainBuilder::new(llm(&server, "model-b"), Arc::new(LabelClassifier))
        .cache(cache, ttl)
        .build();
    assert_eq!(
        other_model.classify(&a).await.unwrap().source,
        ClassificationSource::Llm
    );
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test]
async fn invalid_answers_fall_back_to_rules_and_are_not_cached() {
    let server = answering(ResponseTemplate::new(200).set_body_json(completion(
        r#"{"severity":"apocalyptic","category":"errors","confidence":1,"summary":"x"}"#,
    )))
    .await;
    let chain = ChainBuilder::new(llm(&server, "m"), Arc::new(LabelClassifier))
        .cache(
            Arc::new(MemoryCache::new(1 << 20)),
            Duration::from_secs(3600),
        )
        .build();
    let a = alert(7);
    for _ in 0..2 {
        assert_eq!(chain.classify(&a).await.unwrap(), rules_answer(&a).await);
    }
    assert_eq!(hits(&server).await, 2, "a fallback verdict is not cached");
    assert_eq!(chain.breaker_state(), Some(BreakerState::Closed));
}

#[tokio::test]
async fn the_breaker_opens_sends_everything_to_rules_and_recovers() {
    let server = answering(ResponseTemplate::new(500)).await;
    let breaker = BreakerConfig::default()
        .with_consecutive_failures(3)
        .with_open_for(Duration::from_millis(300));
    let chain = ChainBuilder::new(llm(&server, "m"), Arc::new(LabelClassifier))
        .breaker(breaker)
        .build();
    for i in 0..3 {
        let a = alert(i);
        assert_eq!(chain.classify(&a).await.unwrap(), rules_answer(&a).await);
    }
    assert_eq!(chain.breaker_state(), Some(BreakerState::Open));
    assert_eq!(hits(&server).await, 3);
    // Open: the LLM is not called at all.
    for i in 0..20 {
        let a = alert(i);
        assert_eq!(chain.classify(&a).await.unwrap(), rules_answer(&a).await);
    }
    assert_eq!(hits(&server).await, 3);

    // The server recovers; after the cool-down one probe closes the breaker.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(VALID)))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(chain.breaker_state(), Some(BreakerState::HalfOpen));
    let c = chain.classify(&alert(1)).await.unwrap();
    assert_eq!(c.source, ClassificationSource::Llm);
    assert_eq!(chain.breaker_state(), Some(BreakerState::Closed));
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn rejections_fall_back_without_opening_the_breaker() {
    let server = answering(ResponseTemplate::new(400).set_body_string("bad request")).await;
    let chain = ChainBuilder::new(llm(&server, "m"), Arc::new(LabelClassifier))
        .breaker(BreakerConfig::default().with_consecutive_failures(2))
        .build();
    for i in 0..5 {
        let a = alert(i);
        assert_eq!(chain.classify(&a).await.unwrap(), rules_answer(&a).await);
    }
    assert_eq!(chain.breaker_state(), Some(BreakerState::Closed));
    assert_eq!(hits(&server).await, 5);
}

#[tokio::test]
async fn an_unreachable_llm_falls_back() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = LlmConfig::new(format!("http://{addr}/v1"), "m").with_retries(
        1,
        Duration::from_millis(1),
        Duration::from_millis(1),
    );
    let chain = ChainBuilder::new(
        Arc::new(LlmClassifier::new(config).unwrap()),
        Arc::new(LabelClassifier),
    )
    .without_breaker()
    .build();
    let a = alert(3);
    assert_eq!(chain.classify(&a).await.unwrap(), rules_answer(&a).await);
    assert_eq!(chain.breaker_state(), None);
    assert_eq!(chain.id(), "openai/m/p1+labels/1");
}

/// The chain and the server it talks to, kept alive together.
struct Served {
    chain: alertkit_llm::StandardChain,
    _server: MockServer,
}

#[async_trait::async_trait]
impl Classifier for Served {
    fn id(&self) -> &str {
        self.chain.id()
    }

    async fn classify(
        &self,
        alert: &Alert,
    ) -> Result<Classification, alertkit_core::ClassifyError> {
        self.chain.classify(alert).await
    }
}

#[test]
fn the_chain_passes_the_classifier_conformance_suite() {
    alertkit_core::testing::conformance::classifier(|| async {
        let server = answering(ResponseTemplate::new(200).set_body_json(completion(VALID))).await;
        let chain = ChainBuilder::new(llm(&server, "m"), Arc::new(LabelClassifier))
            .cache(Arc::new(MemoryCache::new(4 << 20)), Duration::from_secs(60))
            .build();
        Served {
            chain,
            _server: server,
        }
    });
}
