//! [`SingleFlightLayer`]: one call per distinct alert at a time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alertkit_core::layer::ClassificationKey;
use alertkit_core::traits::BoxFuture;
use alertkit_core::{Alert, BoxError, Classification, ClassifyError};
use tokio::sync::OnceCell;
use tower::{Layer, Service, ServiceExt};

type Outcome = Result<Classification, Arc<ClassifyError>>;
type Cell = Arc<OnceCell<Outcome>>;
type Flights = Arc<Mutex<FlightMap>>;

/// How long a finished flight's answer is kept by default.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

struct Flight {
    cell: Cell,
    /// When the answer came (successful flights linger that long).
    finished: Option<Instant>,
}

struct FlightMap {
    map: HashMap<ClassificationKey, Flight>,
    last_sweep: Instant,
}

impl Default for FlightMap {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }
}

impl FlightMap {
    /// The flight to join for `key`, starting one if there is none (or only a stale one).
    fn join(&mut self, key: ClassificationKey, linger: Duration) -> Cell {
        let now = Instant::now();
        if now.duration_since(self.last_sweep) >= linger {
            self.map
                .retain(|_, f| f.finished.is_none_or(|at| now.duration_since(at) < linger));
            self.last_sweep = now;
        }
        match self.map.get(&key) {
            Some(f) if f.finished.is_none_or(|at| now.duration_since(at) < linger) => {
                Arc::clone(&f.cell)
            }
            _ => {
                let cell = Cell::default();
                self.map.insert(
                    key,
                    Flight {
                        cell: Arc::clone(&cell),
                        finished: None,
                    },
                );
                cell
            }
        }
    }

    /// Records the end of `cell`'s flight: a success lingers, an error is forgotten.
    fn finish(&mut self, key: ClassificationKey, cell: &Cell, success: bool) {
        let Some(flight) = self.map.get_mut(&key) else {
            return;
        };
        if !Arc::ptr_eq(&flight.cell, cell) {
            return;
        }
        if !success {
            self.map.remove(&key);
        } else if flight.finished.is_none() {
            flight.finished = Some(Instant::now());
        }
    }
}

/// Coalesces concurrent classifications of the same alert: while one call
/// for a key is in flight, later calls for that key wait for its answer
/// instead of calling the wrapped service again.
///
/// The key is the alert's [`ClassificationKey`] (fingerprint, annotations,
/// generator URL; the namespace is the layer's), so alerts that would share
/// a cache entry share a flight. Errors are shared by the callers waiting at
/// the time (each gets an equivalent [`ClassifyError`]); if the caller
/// running the flight is cancelled, a waiter takes over.
///
/// Put it **inside** the cache layer, so cache hits never pay for it. A
/// successful answer is kept for a short *linger* ([`DEFAULT_LINGER`]) after
/// the flight ends: a caller that missed the cache just before the cache
/// layer stored the answer joins the finished flight instead of starting a
/// new call. So a storm of identical alerts makes one call per key.
///
/// ```
/// use std::sync::Arc;
/// use alertkit_core::memory::LabelClassifier;
/// use alertkit_core::traits::ClassifierService;
/// use alertkit_llm::chain::SingleFlightLayer;
/// use tower::Layer;
///
/// let service = SingleFlightLayer::new("labels/1").layer(ClassifierService::new(Arc::new(LabelClassifier)));
/// assert_eq!(service.in_flight(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct SingleFlightLayer {
    namespace: Arc<str>,
    linger: Duration,
}

impl SingleFlightLayer {
    /// Coalesces by [`ClassificationKey`]; `namespace` (the classifier's id) names the flights.
    pub fn new(namespace: impl Into<Arc<str>>) -> Self {
        Self {
            namespace: namespace.into(),
            linger: DEFAULT_LINGER,
        }
    }

    /// Keeps successful answers this long after their flight ends.
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }
}

impl<S> Layer<S> for SingleFlightLayer {
    type Service = SingleFlight<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SingleFlight {
            inner,
            namespace: Arc::clone(&self.namespace),
            linger: self.linger,
            flights: Flights::default(),
        }
    }
}

/// The service built by [`SingleFlightLayer`]; clones share the flights.
#[derive(Clone)]
pub struct SingleFlight<S> {
    inner: S,
    namespace: Arc<str>,
    linger: Duration,
    flights: Flights,
}

impl<S> fmt::Debug for SingleFlight<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight")
            .field("namespace", &self.namespace)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl<S> SingleFlight<S> {
    /// Keys with a call in flight right now (lingering answers not counted).
    pub fn in_flight(&self) -> usize {
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .values()
            .filter(|f| f.finished.is_none())
            .count()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// A shared error, as the source of the copy each waiter gets.
#[derive(Debug)]
struct SharedError(Arc<ClassifyError>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::error::Error::source(&*self.0) {
            Some(source) => fmt::Display::fmt(source, f),
            None => fmt::Display::fmt(&self.0, f),
        }
    }
}

impl std::error::Error for SharedError {}

/// An equivalent error for one waiter: same variant (so the same
/// transience), the shared one as source when it has one.
fn duplicate(e: &Arc<ClassifyError>) -> ClassifyError {
    match &**e {
        ClassifyError::Timeout => ClassifyError::Timeout,
        ClassifyError::Overloaded => ClassifyError::Overloaded,
        ClassifyError::InvalidResponse(m) => ClassifyError::InvalidResponse(m.clone()),
        ClassifyError::Rejected(m) => ClassifyError::Rejected(m.clone()),
        _ => ClassifyError::Unavailable(Box::new(SharedError(Arc::clone(e)))),
    }
}

fn owned(outcome: &Outcome) -> Result<Classification, ClassifyError> {
    match outcome {
        Ok(c) => Ok(c.clone()),
        Err(e) => Err(duplicate(e)),
    }
}

/// Removes an unfinished flight nobody else waits for when its caller is dropped.
struct Cancelled<'a> {
    flights: &'a Flights,
    key: ClassificationKey,
    cell: &'a Cell,
    armed: bool,
}

impl Cancelled<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut map = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Clones are only taken under this lock: the map's and ours means nobody waits.
        if map
            .map
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(&f.cell, self.cell))
            && Arc::strong_count(self.cell) == 2
        {
            map.map.remove(&self.key);
        }
    }
}

impl<S> Service<Alert> for SingleFlight<S>
where
    S: Service<Alert, Response = Classification> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Classification;
    type Error = ClassifyError;
    type Future = BoxFuture<Result<Classification, ClassifyError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The flight's runner drives the inner service's readiness (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, alert: Alert) -> Self::Future {
        let key = ClassificationKey::of(&alert);
        let inner = self.inner.clone();
        let flights = Arc::clone(&self.flights);
        let linger = self.linger;
        Box::pin(async move {
            let cell = flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join(key, linger);
            let guard = Cancelled {
                flights: &flights,
                key,
                cell: &cell,
                armed: true,
            };
            let outcome = cell
                .get_or_init(|| async move {
                    inner
                        .oneshot(alert)
                        .await
                        .map_err(|e| Arc::new(ClassifyError::from_box(e.into())))
                })
                .await;
            let success = outcome.is_ok();
            guard.disarm();
            flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish(key, &cell, success);
            match Arc::try_unwrap(cell) {
                // Nobody else holds the answer: take it without copying.
                Ok(cell) => match cell.into_inner() {
                    Some(Ok(c)) => Ok(c),
                    Some(Err(e)) => Err(Arc::try_unwrap(e).unwrap_or_else(|e| duplicate(&e))),
                    None => Err(ClassifyError::Overloaded),
                },
                Err(cell) => match cell.get() {
                    Some(outcome) => owned(outcome),
                    None => Err(ClassifyError::Overloaded),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use alertkit_core::{Category, ClassificationSource, LabelSet, Severity};
    use tokio::sync::Semaphore;

    use super::*;

    /// A classifier service that counts calls and answers once `gate` gives a permit.
    #[derive(Clone)]
    struct Gated {
        calls: Arc<AtomicUsize>,
        gate: Arc<Semaphore>,
        fail: bool,
    }

    impl Gated {
        fn new(fail: bool) -> Self {
            Self {
                calls: Arc::new(AtomicUsize::new(0)),
                gate: Arc::new(Semaphore::new(0)),
                fail,
            }
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn service(
            &self,
        ) -> impl Service<Alert, Response = Classification, Error = ClassifyError, Future: Send>
        + Clone
        + Send
        + 'static {
            let this = self.clone();
            tower::service_fn(move |_alert: Alert| {
                let this = this.clone();
                async move {
                    this.calls.fetch_add(1, Ordering::SeqCst);
                    this.gate.acquire().await.unwrap().forget();
                    if this.fail {
                        Err(ClassifyError::Timeout)
                    } else {
                        Ok(Classification::new(
                            Severity::Critical,
                            Category::Errors,
                            0.9,
                            ClassificationSource::Llm,
                        ))
                    }
                }
            })
        }
    }

    fn alert() -> Alert {
        Alert::firing(
            LabelSet::from_pairs([("alertname", "A")]),
            time::OffsetDateTime::UNIX_EPOCH,
        )
    }

    async fn until(mut f: impl FnMut() -> bool) {
        while !f() {
            tokio::task::yield_now().await;
        }
    }

    fn spawn_calls(
        svc: &SingleFlight<
            impl Service<Alert, Response = Classification, Error = ClassifyError, Future: Send>
            + Clone
            + Send
            + 'static,
        >,
        n: usize,
    ) -> tokio::task::JoinSet<Result<Classification, ClassifyError>> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let svc = svc.clone();
            set.spawn(async move { svc.oneshot(alert()).await });
        }
        set
    }

    #[tokio::test]
    async fn concurrent_calls_share_one_flight_and_the_answer_lingers() {
        let backend = Gated::new(false);
        let svc = SingleFlightLayer::new("ns").layer(backend.service());
        let mut set = spawn_calls(&svc, 10);
        until(|| backend.calls() == 1).await;
        assert_eq!(svc.in_flight(), 1);
        backend.gate.add_permits(1);
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap().unwrap().severity, Severity::Critical);
        }
        assert_eq!(backend.calls(), 1);
        assert_eq!(svc.in_flight(), 0);
        // Within the linger, a late caller gets the same answer.
        svc.clone().oneshot(alert()).await.unwrap();
        assert_eq!(backend.calls(), 1);
    }

    #[tokio::test]
    async fn without_linger_the_next_call_starts_a_new_flight() {
        let backend = Gated::new(false);
        let svc = SingleFlightLayer::new("ns")
            .linger(Duration::ZERO)
            .layer(backend.service());
        backend.gate.add_permits(2);
        svc.clone().oneshot(alert()).await.unwrap();
        svc.clone().oneshot(alert()).await.unwrap();
        assert_eq!(backend.calls(), 2);
    }

    #[tokio::test]
    async fn errors_are_shared_by_waiters_but_not_kept() {
        let backend = Gated::new(true);
        let svc = SingleFlightLayer::new("ns").layer(backend.service());
        let mut set = spawn_calls(&svc, 5);
        until(|| backend.calls() == 1).await;
        backend.gate.add_permits(1);
        while let Some(r) = set.join_next().await {
            let e = r.unwrap().unwrap_err();
            assert!(matches!(e, ClassifyError::Timeout), "{e:?}");
        }
        assert_eq!(backend.calls(), 1);
        backend.gate.add_permits(1);
        assert!(svc.clone().oneshot(alert()).await.is_err());
        assert_eq!(backend.calls(), 2, "a failed flight is not reused");
    }

    #[tokio::test]
    async fn a_waiter_takes_over_from_a_cancelled_caller() {
        let backend = Gated::new(false);
        let svc = SingleFlightLayer::new("ns").layer(backend.service());
        let mut leader = spawn_calls(&svc, 1);
        until(|| backend.calls() == 1).await;
        let mut follower = spawn_calls(&svc, 1);
        tokio::task::yield_now().await;
        leader.abort_all();
        while leader.join_next().await.is_some() {}
        until(|| backend.calls() == 2).await;
        backend.gate.add_permits(1);
        follower.join_next().await.unwrap().unwrap().unwrap();
        assert_eq!(svc.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_caller_alone_leaves_nothing_behind() {
        let backend = Gated::new(false);
        let svc = SingleFlightLayer::new("ns").layer(backend.service());
        let mut leader = spawn_calls(&svc, 1);
        until(|| backend.calls() == 1).await;
        leader.abort_all();
        while leader.join_next().await.is_some() {}
        assert_eq!(svc.in_flight(), 0);
    }

    #[test]
    fn duplicated_errors_keep_their_kind() {
        for e in [
            ClassifyError::Timeout,
            ClassifyError::Overloaded,
            ClassifyError::InvalidResponse("x".into()),
            ClassifyError::Rejected("y".into()),
            ClassifyError::Unavailable("z".into()),
        ] {
            let shared = Arc::new(e);
            let copy = duplicate(&shared);
            assert_eq!(copy.is_transient(), shared.is_transient());
            assert_eq!(copy.to_string(), shared.to_string());
        }
        let copy = duplicate(&Arc::new(ClassifyError::Unavailable(
            "connection refused".into(),
        )));
        let source = std::error::Error::source(&copy).unwrap().to_string();
        assert_eq!(source, "connection refused");
    }
}
