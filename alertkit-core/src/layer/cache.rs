//! [`ClassificationCacheLayer`]: answer classifications from any [`Cache`].

use std::hash::Hasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{Either, Ready, ready};
use rustc_hash::FxHasher;
use tower::{Layer, Service};

use crate::memory::MemoryValueCache;
use crate::traits::BoxFuture;
use crate::{Alert, BoxError, Cache, Classification, ClassificationSource, Fingerprint};

/// What a cached classification of an alert is keyed by, besides the
/// classifier: the alert's fingerprint and a hash of everything else a
/// classifier reads.
///
/// `inputs` hashes the annotations (names and values, in order) and the
/// generator URL (which carries the PromQL expression) in one pass with
/// FxHash (rustc-hash 2, word at a time). The status and times are left out
/// on purpose: resolving an alert does not need a new verdict. The hash is
/// deterministic across processes on 64-bit targets (so replicas share
/// entries in Redis); it is not a security boundary — a collision needs the
/// same fingerprint and could only serve another version of the same
/// alert's verdict.
///
/// ```
/// use alertkit_core::{Alert, Annotations, LabelSet, layer::ClassificationKey};
/// use time::macros::datetime;
///
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "A")]), datetime!(2026-01-01 0:00 UTC));
/// let key = ClassificationKey::of(&alert);
/// assert_eq!(key.fingerprint, alert.fingerprint());
/// let edited = alert.clone().with_annotations(Annotations::from_pairs([("summary", "new text")]));
/// assert_ne!(key, ClassificationKey::of(&edited));
/// assert_eq!(key, ClassificationKey::of(&alert.resolved_at(datetime!(2026-01-01 1:00 UTC))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassificationKey {
    /// The alert's fingerprint (its labels).
    pub fingerprint: Fingerprint,
    /// The hash of its annotations and generator URL.
    pub inputs: u64,
}

impl ClassificationKey {
    /// The key of `alert`: its fingerprint and the hash of its other inputs.
    pub fn of(alert: &Alert) -> Self {
        let mut h = FxHasher::default();
        h.write_usize(alert.annotations.len());
        for (name, value) in alert.annotations.iter() {
            // Each `write` hashes its bytes with their length, so pair
            // boundaries cannot shift (`{a="bc"}` vs `{ab="c"}`).
            h.write(name.as_bytes());
            h.write(value.as_bytes());
        }
        h.write(alert.generator_url.as_bytes());
        Self {
            fingerprint: alert.fingerprint(),
            inputs: h.finish(),
        }
    }

    /// The key as a string, for byte caches shared between processes:
    /// `{namespace}:{fingerprint}:{inputs}` (16 hex digits each).
    pub fn to_cache_key(&self, namespace: &str) -> String {
        format!("{namespace}:{}:{:016x}", self.fingerprint, self.inputs)
    }
}

/// The cache key for classifying `alert` with the classifier `namespace`:
/// [`ClassificationKey::of`]`(alert)`[`.to_cache_key`](ClassificationKey::to_cache_key)`(namespace)`.
///
/// Put the classifier's version or model in `namespace`, so a new model misses.
///
/// ```
/// use alertkit_core::{Alert, Annotations, LabelSet, layer::classification_cache_key};
/// use time::macros::datetime;
///
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "A")]), datetime!(2026-01-01 0:00 UTC));
/// let key = classification_cache_key("rules/1", &alert);
/// assert!(key.starts_with("rules/1:"));
/// let changed = alert.clone().with_annotations(Annotations::from_pairs([("summary", "new text")]));
/// assert_ne!(key, classification_cache_key("rules/1", &changed));
/// assert_ne!(key, classification_cache_key("rules/2", &alert));
/// ```
pub fn classification_cache_key(namespace: &str, alert: &Alert) -> String {
    ClassificationKey::of(alert).to_cache_key(namespace)
}

/// The in-process tier of decoded verdicts.
type VerdictL1 = MemoryValueCache<ClassificationKey, Classification>;

/// Estimated bytes of one decoded verdict held in L1.
fn verdict_weight(c: &Classification) -> u32 {
    let texts: usize = c
        .recommendations
        .iter()
        .map(|r| r.len() + size_of::<String>())
        .sum();
    let total = size_of::<Classification>() + c.summary.len() + texts + 64;
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Lookups of a [`ClassificationCacheLayer`] (shared by its services).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClassificationCacheStats {
    /// Answered by the layer's in-process tier of decoded verdicts (L1).
    pub l1_hits: u64,
    /// Answered by the wrapped byte [`Cache`] (L2: memory, Redis or tiered).
    pub l2_hits: u64,
    /// Answered by neither: the wrapped classifier ran.
    pub misses: u64,
    /// Cache failures and undecodable entries (each then treated as a miss,
    /// and not counted in `misses`).
    pub errors: u64,
    /// Verdicts held in L1 (approximate).
    pub l1_entries: u64,
}

impl ClassificationCacheStats {
    /// Lookups answered by a cache tier.
    pub fn hits(&self) -> u64 {
        self.l1_hits + self.l2_hits
    }

    /// All lookups.
    pub fn lookups(&self) -> u64 {
        self.hits() + self.misses + self.errors
    }

    /// `hits / lookups`, 0 before any lookup.
    #[allow(clippy::cast_precision_loss)]
    pub fn hit_rate(&self) -> f64 {
        match self.lookups() {
            0 => 0.0,
            n => self.hits() as f64 / n as f64,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    l1_hits: AtomicU64,
    l2_hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

/// Counts one lookup outcome, in the layer's counters and as a metric.
fn count(counter: &AtomicU64, result: &'static str) {
    counter.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("alertkit_classification_cache_total", "result" => result).increment(1);
}

/// In-process (L1) bytes a [`ClassificationCacheLayer::with_l1`] caller may
/// start from: 16 MiB holds some 20 000 typical verdicts.
pub const DEFAULT_L1_BYTES: u64 = 16 << 20;

/// Caches the classifications of the wrapped classifier service.
///
/// On a hit the stored verdict is returned with source
/// [`ClassificationSource::Cache`]; on a miss the inner service classifies and
/// the verdict is stored for `ttl` (except `Default` verdicts, which would pin
/// a non-answer). Cache failures are counted and treated as misses: a broken
/// cache never fails a classification.
///
/// Two tiers:
///
/// - **L1** (optional, [`with_l1`](Self::with_l1)): decoded verdicts in
///   process, keyed by [`ClassificationKey`] (the namespace is the layer's).
///   A hit is a hash of the alert's inputs, a map lookup and a copy of the
///   verdict — no key string, no JSON, no `async` round trip.
/// - **L2**: the byte [`Cache`] given to [`new`](Self::new) (memory, Redis,
///   tiered), under [`classification_cache_key`]; its hits are decoded
///   once and kept in L1.
///
/// Verdicts are content-addressed (the key changes with the annotations,
/// the generator URL and the namespace), so an L1 entry never goes stale by
/// a change elsewhere: its TTL only bounds its age, like L2's.
#[derive(Debug)]
pub struct ClassificationCacheLayer<C: ?Sized> {
    cache: Arc<C>,
    namespace: Arc<str>,
    ttl: Duration,
    l1: Option<VerdictL1>,
    counters: Arc<Counters>,
}

impl<C: ?Sized> Clone for ClassificationCacheLayer<C> {
    fn clone(&self) -> Self {
        Self {
            cache: Arc::clone(&self.cache),
            namespace: Arc::clone(&self.namespace),
            ttl: self.ttl,
            l1: self.l1.clone(),
            counters: Arc::clone(&self.counters),
        }
    }
}

impl<C: Cache + ?Sized> ClassificationCacheLayer<C> {
    /// Caches in `cache` under `namespace` (the classifier's id) for `ttl`, without L1.
    pub fn new(cache: Arc<C>, namespace: impl Into<Arc<str>>, ttl: Duration) -> Self {
        Self {
            cache,
            namespace: namespace.into(),
            ttl,
            l1: None,
            counters: Arc::default(),
        }
    }
}

impl<C: ?Sized> ClassificationCacheLayer<C> {
    /// Keeps decoded verdicts in process too: at most `max_bytes` of them
    /// (estimated), each for at most `ttl` (and never longer than the
    /// layer's own TTL). Replaces any L1 set before; `max_bytes == 0` removes it.
    #[must_use]
    pub fn with_l1(mut self, max_bytes: u64, ttl: Duration) -> Self {
        self.l1 =
            (max_bytes > 0).then(|| VerdictL1::new(max_bytes, ttl.min(self.ttl), verdict_weight));
        self
    }

    /// Counters of every service built from this layer (and its clones).
    pub fn stats(&self) -> ClassificationCacheStats {
        ClassificationCacheStats {
            l1_hits: self.counters.l1_hits.load(Ordering::Relaxed),
            l2_hits: self.counters.l2_hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            l1_entries: self.l1.as_ref().map_or(0, |l1| l1.stats().entries),
        }
    }

    /// The verdict for `alert` if L1 holds it (counted as an L1 hit; a
    /// miss here is not counted, the caller goes on to L2): what a service
    /// built from this layer answers without calling anything. Source
    /// [`ClassificationSource::Cache`], latency the lookup's.
    pub fn lookup_l1(&self, alert: &Alert) -> Option<Classification> {
        let start = Instant::now();
        self.l1_hit(&ClassificationKey::of(alert), start)
    }

    fn l1_hit(&self, key: &ClassificationKey, start: Instant) -> Option<Classification> {
        let hit = self.l1.as_ref()?.get(key)?;
        count(&self.counters.l1_hits, "hit");
        let mut verdict = Classification::clone(&hit);
        verdict.latency = start.elapsed();
        Some(verdict)
    }

    /// Keeps `verdict` in L1 (as a cache answer), when there is an L1.
    fn keep(&self, key: ClassificationKey, verdict: &Classification) {
        if let Some(l1) = &self.l1 {
            let mut kept = verdict.clone();
            kept.source = ClassificationSource::Cache;
            kept.latency = Duration::ZERO;
            l1.insert(key, Arc::new(kept));
        }
    }
}

impl<S, C: ?Sized> Layer<S> for ClassificationCacheLayer<C> {
    type Service = ClassificationCache<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        ClassificationCache {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`ClassificationCacheLayer`].
#[derive(Debug)]
pub struct ClassificationCache<S, C: ?Sized> {
    inner: S,
    layer: ClassificationCacheLayer<C>,
}

impl<S: Clone, C: ?Sized> Clone for ClassificationCache<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, C: ?Sized> ClassificationCache<S, C> {
    /// The layer's counters.
    pub fn stats(&self) -> ClassificationCacheStats {
        self.layer.stats()
    }
}

/// What a [`ClassificationCache`] call returns: an L1 hit at once, anything else boxed.
pub type ClassificationCacheFuture =
    Either<Ready<Result<Classification, BoxError>>, BoxFuture<Result<Classification, BoxError>>>;

impl<S, C> Service<Alert> for ClassificationCache<S, C>
where
    S: Service<Alert, Response = Classification> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    C: Cache + ?Sized,
{
    type Response = Classification;
    type Error = BoxError;
    type Future = ClassificationCacheFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Hits need nothing from the inner service; misses drive its readiness
        // inside the call (`oneshot`), so a slow classifier never blocks hits.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, alert: Alert) -> Self::Future {
        let start = Instant::now();
        let key = ClassificationKey::of(&alert);
        if let Some(hit) = self.layer.l1_hit(&key, start) {
            return Either::Left(ready(Ok(hit)));
        }
        let inner = self.inner.clone();
        let layer = self.layer.clone();
        Either::Right(Box::pin(async move {
            use tower::ServiceExt as _;
            let l2_key = key.to_cache_key(&layer.namespace);
            match layer.cache.get(&l2_key).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<Classification>(&bytes) {
                    Ok(mut hit) => {
                        count(&layer.counters.l2_hits, "hit");
                        hit.source = ClassificationSource::Cache;
                        layer.keep(key, &hit);
                        hit.latency = start.elapsed();
                        return Ok(hit);
                    }
                    Err(e) => {
                        count(&layer.counters.errors, "error");
                        tracing::warn!(error = %e, "undecodable cached classification; reclassifying");
                    }
                },
                Ok(None) => count(&layer.counters.misses, "miss"),
                Err(e) => {
                    count(&layer.counters.errors, "error");
                    tracing::debug!(error = %e, "classification cache unavailable; treating as a miss");
                }
            }
            let fresh = inner.oneshot(alert).await.map_err(Into::into)?;
            if fresh.source != ClassificationSource::Default {
                layer.keep(key, &fresh);
                match serde_json::to_vec(&fresh) {
                    Ok(bytes) => {
                        if let Err(e) = layer
                            .cache
                            .set(&l2_key, Bytes::from(bytes), layer.ttl)
                            .await
                        {
                            tracing::debug!(error = %e, "could not store classification");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not encode classification"),
                }
            }
            Ok(fresh)
        }))
    }
}
