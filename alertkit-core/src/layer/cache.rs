//! [`ClassificationCacheLayer`]: answer classifications from any [`Cache`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tower::{Layer, Service};

use crate::model::{FNV_OFFSET_BASIS, fnv1a};
use crate::traits::BoxFuture;
use crate::{Alert, BoxError, Cache, Classification, ClassificationSource};

/// The cache key for classifying `alert` with the classifier `namespace`.
///
/// `{namespace}:{fingerprint}:{inputs}`, where `inputs` is a stable FNV-1a
/// hash of everything a classifier reads besides the labels: annotations and
/// the generator URL (which carries the PromQL expression). The status is
/// left out on purpose: resolving an alert does not need a new verdict. Put
/// the classifier's version or model in `namespace`, so a new model misses.
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
    let mut h = FNV_OFFSET_BASIS;
    for (k, v) in alert.annotations.iter() {
        h = fnv1a(h, k.as_bytes());
        h = fnv1a(h, &[0xff]);
        h = fnv1a(h, v.as_bytes());
        h = fnv1a(h, &[0xff]);
    }
    h = fnv1a(h, &[0xfe]);
    h = fnv1a(h, alert.generator_url.as_bytes());
    format!("{namespace}:{}:{h:016x}", alert.fingerprint())
}

/// Caches the classifications of the wrapped classifier service.
///
/// On a hit the stored verdict is returned with source
/// [`ClassificationSource::Cache`]; on a miss the inner service classifies and
/// the verdict is stored for `ttl` (except `Default` verdicts, which would pin
/// a non-answer). Cache failures are counted and treated as misses: a broken
/// cache never fails a classification.
#[derive(Debug)]
pub struct ClassificationCacheLayer<C: ?Sized> {
    cache: Arc<C>,
    namespace: Arc<str>,
    ttl: Duration,
}

impl<C: ?Sized> Clone for ClassificationCacheLayer<C> {
    fn clone(&self) -> Self {
        Self {
            cache: Arc::clone(&self.cache),
            namespace: Arc::clone(&self.namespace),
            ttl: self.ttl,
        }
    }
}

impl<C: Cache + ?Sized> ClassificationCacheLayer<C> {
    /// Caches in `cache` under `namespace` (the classifier's id) for `ttl`.
    pub fn new(cache: Arc<C>, namespace: impl Into<Arc<str>>, ttl: Duration) -> Self {
        Self {
            cache,
            namespace: namespace.into(),
            ttl,
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

impl<S, C> Service<Alert> for ClassificationCache<S, C>
where
    S: Service<Alert, Response = Classification> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    C: Cache + ?Sized,
{
    type Response = Classification;
    type Error = BoxError;
    type Future = BoxFuture<Result<Classification, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Hits need nothing from the inner service; misses drive its readiness
        // inside the call (`oneshot`), so a slow classifier never blocks hits.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, alert: Alert) -> Self::Future {
        let inner = self.inner.clone();
        let ClassificationCacheLayer {
            cache,
            namespace,
            ttl,
        } = self.layer.clone();
        Box::pin(async move {
            use tower::ServiceExt as _;
            let start = Instant::now();
            let key = classification_cache_key(&namespace, &alert);
            match cache.get(&key).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<Classification>(&bytes) {
                    Ok(mut hit) => {
                        metrics::counter!("alertkit_classification_cache_total", "result" => "hit")
                            .increment(1);
                        hit.source = ClassificationSource::Cache;
                        hit.latency = start.elapsed();
                        return Ok(hit);
                    }
                    Err(e) => {
                        metrics::counter!("alertkit_classification_cache_total", "result" => "error").increment(1);
                        tracing::warn!(error = %e, "undecodable cached classification; reclassifying");
                    }
                },
                Ok(None) => {
                    metrics::counter!("alertkit_classification_cache_total", "result" => "miss")
                        .increment(1);
                }
                Err(e) => {
                    metrics::counter!("alertkit_classification_cache_total", "result" => "error")
                        .increment(1);
                    tracing::debug!(error = %e, "classification cache unavailable; treating as a miss");
                }
            }
            let fresh = inner.oneshot(alert).await.map_err(Into::into)?;
            if fresh.source != ClassificationSource::Default {
                match serde_json::to_vec(&fresh) {
                    Ok(bytes) => {
                        if let Err(e) = cache.set(&key, Bytes::from(bytes), ttl).await {
                            tracing::debug!(error = %e, "could not store classification");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not encode classification"),
                }
            }
            Ok(fresh)
        })
    }
}
