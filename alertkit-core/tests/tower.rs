//! The traits driven as tower services: stock layers and alertkit's own.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alertkit_core::layer::{
    ClassificationCacheLayer, FallbackLayer, FanOut, FilterLayer, InstrumentLayer, PublishFilter,
};
use alertkit_core::memory::{LabelClassifier, MemoryCache, RecordingPublisher};
use alertkit_core::traits::{
    ClassifierService, PublisherService, ServiceClassifier, ServicePublisher,
};
use alertkit_core::{
    Alert, Cache, Category, Classification, ClassificationSource, Classifier, ClassifyError,
    EventKind, LabelSet, Matchers, Notification, Origin, PublishError, PublishReceipt, Publisher,
    Severity,
};
use tower::{ServiceBuilder, ServiceExt};

fn alert(severity: &str) -> Alert {
    Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "TowerTest"),
            ("severity", severity),
            ("env", "prod"),
        ]),
        time::OffsetDateTime::now_utc(),
    )
}

/// Counts calls; sleeps `delay` before answering.
struct Slow {
    delay: Duration,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl Classifier for Slow {
    fn id(&self) -> &str {
        "slow/1"
    }
    async fn classify(&self, _: &Alert) -> Result<Classification, ClassifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Ok(Classification::new(
            Severity::Critical,
            Category::Latency,
            0.9,
            ClassificationSource::Llm,
        ))
    }
}

#[tokio::test]
async fn stock_layers_apply_to_a_classifier() {
    let slow = Arc::new(Slow {
        delay: Duration::from_millis(200),
        calls: AtomicUsize::new(0),
    });
    let svc = ServiceBuilder::new()
        .buffer(16)
        .load_shed()
        .concurrency_limit(4)
        .timeout(Duration::from_millis(50))
        .service(ClassifierService::new(slow.clone()));
    let classifier = ServiceClassifier::new("slow-with-timeout", svc);
    let err = classifier.classify(&alert("critical")).await.unwrap_err();
    assert!(matches!(err, ClassifyError::Timeout), "got {err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn fallback_answers_when_the_primary_times_out() {
    let slow = Arc::new(Slow {
        delay: Duration::from_secs(60),
        calls: AtomicUsize::new(0),
    });
    let stack = ServiceBuilder::new()
        .layer(InstrumentLayer::new("classifier"))
        .layer(FallbackLayer::new(ClassifierService::new(Arc::new(
            LabelClassifier,
        ))))
        .timeout(Duration::from_millis(20))
        .service(ClassifierService::new(slow));
    let verdict = stack.oneshot(alert("warning")).await.unwrap();
    assert_eq!(verdict.source, ClassificationSource::Default);
    assert_eq!(verdict.severity, Severity::Warning);
}

#[tokio::test]
async fn the_cache_layer_answers_repeats_and_misses_on_changes() {
    let slow = Arc::new(Slow {
        delay: Duration::ZERO,
        calls: AtomicUsize::new(0),
    });
    let cache = Arc::new(MemoryCache::new(1 << 20));
    let classifier = ServiceClassifier::new(
        "cached",
        ServiceBuilder::new()
            .layer(ClassificationCacheLayer::new(
                cache.clone(),
                "slow/1",
                Duration::from_secs(60),
            ))
            .service(ClassifierService::new(slow.clone())),
    );
    let a = alert("critical");
    let first = classifier.classify(&a).await.unwrap();
    assert_eq!(first.source, ClassificationSource::Llm);
    let second = classifier.classify(&a).await.unwrap();
    assert_eq!(second.source, ClassificationSource::Cache);
    assert_eq!(
        (second.severity, second.category),
        (first.severity, first.category)
    );
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
    // Resolving needs no new verdict; an annotation change does.
    let resolved = a.clone().resolved_at(time::OffsetDateTime::now_utc());
    assert_eq!(
        classifier.classify(&resolved).await.unwrap().source,
        ClassificationSource::Cache
    );
    let edited = a.with_annotations(alertkit_core::Annotations::from_pairs([(
        "summary", "changed",
    )]));
    assert_eq!(
        classifier.classify(&edited).await.unwrap().source,
        ClassificationSource::Llm
    );
    assert_eq!(slow.calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().hits, 2);
}

/// Fails with the given error.
struct Failing(fn() -> PublishError);

#[async_trait::async_trait]
impl Publisher for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    async fn publish(&self, _: &Notification) -> Result<PublishReceipt, PublishError> {
        Err((self.0)())
    }
}

fn notification(severity: &str) -> Notification {
    Notification::new(
        alert(severity),
        EventKind::Firing,
        Arc::new(Origin::named("test")),
    )
}

#[tokio::test]
async fn filters_and_fan_out_report_per_target() {
    let pager = Arc::new(RecordingPublisher::new("pager", 10));
    let chat = Arc::new(RecordingPublisher::new("chat", 10));
    let fanout = FanOut::new()
        .with_service(
            "pager",
            ServiceBuilder::new()
                .layer(FilterLayer::new(PublishFilter {
                    min_severity: Some(Severity::Critical),
                    matchers: Matchers::parse(r#"env="prod""#).unwrap(),
                    min_confidence: None,
                }))
                .timeout(Duration::from_secs(1))
                .service(PublisherService::new(pager.clone())),
        )
        .with_publisher(chat.clone())
        .with_publisher(Arc::new(Failing(|| PublishError::Rejected {
            status: Some(400),
            message: "bad".into(),
        })));
    assert_eq!(
        fanout.names().collect::<Vec<_>>(),
        ["pager", "chat", "failing"]
    );

    let results = fanout.publish_all(&notification("warning")).await;
    let pager_result = results[0].result.as_ref().unwrap();
    assert!(
        !pager_result.is_delivered(),
        "warning filtered out of the pager"
    );
    assert!(results[1].result.as_ref().unwrap().is_delivered());
    let failed = results[2].result.as_ref().unwrap_err();
    assert_eq!(failed.status(), Some(400));
    assert!(!failed.is_transient());

    fanout.publish_all(&notification("critical")).await;
    assert_eq!(pager.notifications().len(), 1);
    assert_eq!(chat.notifications().len(), 2);
}

#[tokio::test]
async fn a_publisher_stack_is_a_publisher_again_with_typed_errors() {
    struct Hang;
    #[async_trait::async_trait]
    impl Publisher for Hang {
        fn name(&self) -> &str {
            "hang"
        }
        async fn publish(&self, _: &Notification) -> Result<PublishReceipt, PublishError> {
            std::future::pending().await
        }
    }
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_millis(10))
        .service(PublisherService::new(Arc::new(Hang)));
    let publisher: Arc<dyn Publisher> = Arc::new(ServicePublisher::new("hang-with-timeout", stack));
    let err = publisher
        .publish(&notification("critical"))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Timeout), "got {err:?}");
    let rate_limited = Failing(|| PublishError::RateLimited {
        retry_after: Some(Duration::from_secs(3)),
    });
    let err = rate_limited
        .publish(&notification("critical"))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
}

/// Fails with a 503 until `failures` runs out.
struct Recovering {
    failures: AtomicUsize,
    calls: AtomicUsize,
    permanent: bool,
}

#[async_trait::async_trait]
impl Publisher for Recovering {
    fn name(&self) -> &str {
        "recovering"
    }
    async fn publish(&self, _: &Notification) -> Result<PublishReceipt, PublishError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.permanent {
            return Err(PublishError::Rejected {
                status: Some(400),
                message: "bad payload".into(),
            });
        }
        match self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        {
            Ok(_) => Err(PublishError::Server {
                status: 503,
                message: "try later".into(),
                retry_after: None,
            }),
            Err(_) => Ok(PublishReceipt::delivered().with_status(200)),
        }
    }
}

/// Retries transient publish errors, up to `left` times.
#[derive(Clone)]
struct RetryTransient {
    left: usize,
}

impl tower::retry::Policy<Notification, PublishReceipt, PublishError> for RetryTransient {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut Notification,
        result: &mut Result<PublishReceipt, PublishError>,
    ) -> Option<Self::Future> {
        match result {
            Err(e) if e.is_transient() && self.left > 0 => {
                self.left -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Notification) -> Option<Notification> {
        Some(req.clone())
    }
}

#[tokio::test]
async fn stock_retry_uses_is_transient() {
    let flaky = Arc::new(Recovering {
        failures: AtomicUsize::new(2),
        calls: AtomicUsize::new(0),
        permanent: false,
    });
    let svc = ServiceBuilder::new()
        .retry(RetryTransient { left: 3 })
        .service(PublisherService::new(flaky.clone()));
    let receipt = svc.oneshot(notification("critical")).await.unwrap();
    assert_eq!(receipt.status_code, Some(200));
    assert_eq!(
        flaky.calls.load(Ordering::SeqCst),
        3,
        "two 503s retried, then delivered"
    );

    let rejecting = Arc::new(Recovering {
        failures: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
        permanent: true,
    });
    let svc = ServiceBuilder::new()
        .retry(RetryTransient { left: 3 })
        .service(PublisherService::new(rejecting.clone()));
    assert!(svc.oneshot(notification("critical")).await.is_err());
    assert_eq!(
        rejecting.calls.load(Ordering::SeqCst),
        1,
        "a 400 is never retried"
    );
}

#[tokio::test(start_paused = true)]
async fn stock_rate_limit_paces_a_publisher() {
    let sink = Arc::new(RecordingPublisher::new("paced", 100));
    let svc = ServiceBuilder::new()
        .buffer(16)
        .rate_limit(2, Duration::from_secs(1))
        .service(PublisherService::new(sink.clone()));
    let publisher = ServicePublisher::new("paced", svc);
    let start = tokio::time::Instant::now();
    for _ in 0..6 {
        publisher.publish(&notification("warning")).await.unwrap();
    }
    assert_eq!(sink.notifications().len(), 6);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "6 sends at 2/s took {:?}",
        start.elapsed()
    );
}
