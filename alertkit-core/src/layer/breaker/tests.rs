use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt};

use super::*;

/// What the test service answers.
const OK: u8 = 0;
const FAIL: u8 = 1;
const REJECT: u8 = 2;
/// Waits for `release` before answering OK.
const HANG: u8 = 3;

#[derive(Clone)]
struct Backend {
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicU32>,
    release: Arc<Notify>,
}

impl Backend {
    fn new() -> Self {
        Self {
            mode: Arc::new(AtomicU8::new(OK)),
            calls: Arc::new(AtomicU32::new(0)),
            release: Arc::new(Notify::new()),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<(), Response = (), Error = ClassifyError, Future: Send + 'static> + Clone + use<>
    {
        let this = self.clone();
        tower::service_fn(move |()| {
            let this = this.clone();
            async move {
                this.calls.fetch_add(1, Ordering::SeqCst);
                match this.mode.load(Ordering::SeqCst) {
                    FAIL => Err(ClassifyError::Unavailable("down".into())),
                    REJECT => Err(ClassifyError::Rejected("bad alert".into())),
                    HANG => {
                        this.release.notified().await;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            }
        })
    }
}

fn config() -> BreakerConfig {
    BreakerConfig::default()
        .with_consecutive_failures(3)
        .with_failure_ratio(None, 0)
        .with_open_for(Duration::from_secs(30))
}

async fn call<S>(svc: &S) -> Result<(), ClassifyError>
where
    S: Service<(), Response = (), Error = ClassifyError> + Clone,
{
    svc.clone().oneshot(()).await
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures_and_recovers() {
    let backend = Backend::new();
    let svc = CircuitBreakerLayer::new(config()).layer(backend.service());
    backend.set(FAIL);
    for _ in 0..3 {
        assert!(matches!(
            call(&svc).await,
            Err(ClassifyError::Unavailable(_))
        ));
    }
    assert_eq!(svc.state(), BreakerState::Open);

    // Open: refused without calling the backend.
    backend.set(OK);
    let err = call(&svc).await.unwrap_err();
    assert!(matches!(err, ClassifyError::Overloaded));
    assert!(err.is_transient());
    assert_eq!(backend.calls(), 3);

    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(call(&svc).await.is_err());
    assert_eq!(backend.calls(), 3);

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(svc.state(), BreakerState::HalfOpen);
    call(&svc).await.unwrap();
    assert_eq!(backend.calls(), 4);
    assert_eq!(svc.state(), BreakerState::Closed);
    call(&svc).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let backend = Backend::new();
    let svc = CircuitBreakerLayer::new(config()).layer(backend.service());
    for _ in 0..5 {
        backend.set(FAIL);
        let _ = call(&svc).await;
        let _ = call(&svc).await;
        backend.set(OK);
        call(&svc).await.unwrap();
    }
    assert_eq!(svc.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_another_cool_down() {
    let backend = Backend::new();
    let svc = CircuitBreakerLayer::new(config()).layer(backend.service());
    backend.set(FAIL);
    for _ in 0..3 {
        let _ = call(&svc).await;
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(matches!(
        call(&svc).await,
        Err(ClassifyError::Unavailable(_))
    ));
    assert_eq!(backend.calls(), 4);
    assert_eq!(svc.state(), BreakerState::Open);
    backend.set(OK);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(matches!(call(&svc).await, Err(ClassifyError::Overloaded)));
    tokio::time::advance(Duration::from_secs(20)).await;
    call(&svc).await.unwrap();
    assert_eq!(svc.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_a_limited_number_of_probes_through() {
    let backend = Backend::new();
    let svc =
        CircuitBreakerLayer::new(config().with_successes_to_close(2)).layer(backend.service());
    backend.set(FAIL);
    for _ in 0..3 {
        let _ = call(&svc).await;
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    backend.set(HANG);
    let probe = tokio::spawn({
        let svc = svc.clone();
        async move { call(&svc).await }
    });
    while backend.calls() < 4 {
        tokio::task::yield_now().await;
    }
    // The probe is in flight: everyone else is refused.
    assert!(matches!(call(&svc).await, Err(ClassifyError::Overloaded)));
    backend.release.notify_one();
    probe.await.unwrap().unwrap();
    // One success of two needed: still half-open, the next probe may pass.
    assert_eq!(svc.state(), BreakerState::HalfOpen);
    backend.set(OK);
    call(&svc).await.unwrap();
    assert_eq!(svc.state(), BreakerState::Closed);
    assert_eq!(backend.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let backend = Backend::new();
    let svc = CircuitBreakerLayer::new(config()).layer(backend.service());
    backend.set(FAIL);
    for _ in 0..3 {
        let _ = call(&svc).await;
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    backend.set(HANG);
    let probe = tokio::time::timeout(Duration::from_secs(1), call(&svc)).await;
    assert!(probe.is_err(), "the probe hangs and is dropped");
    backend.set(OK);
    call(&svc).await.unwrap();
    assert_eq!(svc.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn rejections_are_not_failures() {
    let backend = Backend::new();
    let svc = CircuitBreakerLayer::new(config()).layer(backend.service());
    backend.set(REJECT);
    for _ in 0..20 {
        assert!(matches!(call(&svc).await, Err(ClassifyError::Rejected(_))));
    }
    assert_eq!(svc.state(), BreakerState::Closed);
    assert_eq!(backend.calls(), 20);
}

#[tokio::test(start_paused = true)]
async fn opens_on_the_failure_ratio_within_the_window() {
    let backend = Backend::new();
    let cfg = BreakerConfig::default()
        .with_consecutive_failures(0)
        .with_failure_ratio(Some(0.5), 10)
        .with_window(Duration::from_secs(60));
    let svc = CircuitBreakerLayer::new(cfg).layer(backend.service());
    // 4 failures out of 8: below the minimum number of calls.
    for i in 0..8 {
        backend.set(if i % 2 == 0 { FAIL } else { OK });
        let _ = call(&svc).await;
    }
    assert_eq!(svc.state(), BreakerState::Closed);
    // The window moves on: those calls no longer count.
    tokio::time::advance(Duration::from_secs(61)).await;
    for _ in 0..9 {
        backend.set(OK);
        call(&svc).await.unwrap();
    }
    backend.set(FAIL);
    let _ = call(&svc).await;
    assert_eq!(svc.state(), BreakerState::Closed, "1 failure in 10 calls");
    for _ in 0..7 {
        let _ = call(&svc).await;
    }
    assert_eq!(svc.state(), BreakerState::Closed, "8 failures in 17 calls");
    let _ = call(&svc).await;
    assert_eq!(svc.state(), BreakerState::Open, "9 failures in 18 calls");
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_state_and_layers_make_independent_ones() {
    let backend = Backend::new();
    let layer = CircuitBreakerLayer::new(config()).named("test");
    let a = layer.layer(backend.service());
    let a2 = a.clone();
    let b = layer.layer(backend.service());
    let handle = a.handle();
    backend.set(FAIL);
    let _ = call(&a).await;
    let _ = call(&a2).await;
    let _ = call(&a).await;
    assert_eq!(a2.state(), BreakerState::Open);
    assert_eq!(handle.state(), BreakerState::Open);
    assert_eq!(handle.name(), Some("test"));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn publish_errors_and_boxed_errors() {
    let p = DefaultPolicy;
    assert!(!p.is_failure(&PublishError::Rejected {
        status: Some(400),
        message: "bad".into()
    }));
    assert!(p.is_failure(&PublishError::Server {
        status: 502,
        message: String::new(),
        retry_after: None
    }));
    assert!(matches!(
        BreakerPolicy::<PublishError>::open_error(&p),
        PublishError::Overloaded
    ));
    let boxed: BoxError = Box::new(ClassifyError::Rejected("x".into()));
    assert!(!p.is_failure(&boxed));
    let boxed: BoxError = "anything else".into();
    assert!(p.is_failure(&boxed));
    let open = BreakerPolicy::<BoxError>::open_error(&p);
    assert!(matches!(
        PublishError::from_box(open),
        PublishError::Overloaded
    ));

    // A whole publisher stack with boxed errors.
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let svc = CircuitBreakerLayer::new(config()).layer(tower::service_fn(move |()| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), BoxError>(Box::new(PublishError::Timeout)) }
    }));
    for _ in 0..5 {
        let _ = svc.clone().oneshot(()).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(svc.state(), BreakerState::Open);
}
