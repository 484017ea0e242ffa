//! The standard classification chain: `cache(llm)`, falling back to rules.
//!
//! ```text
//! Fallback ─┬─ primary: ClassificationCache → SingleFlight → CircuitBreaker → LLM
//!           └─ fallback: rules (counted as status="fallback")
//! ```
//!
//! - [`ClassificationCacheLayer`] answers repeats from an in-process L1 of
//!   decoded verdicts (a hit is a hash, a map lookup and a copy, well under
//!   a microsecond), then from any [`Cache`] (L2: memory, Redis, tiered)
//!   under the primary's id (model and prompt version included), so an
//!   annotation change or a new model misses.
//! - [`SingleFlightLayer`] coalesces concurrent misses for the same alert
//!   (same [`ClassificationKey`](alertkit_core::layer::ClassificationKey)):
//!   a storm of 10 000 alerts over 50 distinct ones makes at most 50 LLM calls.
//! - [`CircuitBreakerLayer`] stops calling an LLM that keeps failing; while
//!   it is open, alerts go straight to the fallback.
//! - [`FallbackLayer`] answers with the fallback classifier (rules) whenever
//!   the primary fails: timeout, open breaker, invalid answer, rejection.
//!
//! Only the primary's verdicts are cached: the fallback is cheap, and a
//! verdict made while the LLM was down should not outlive the outage.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::{sync::Arc, time::Duration};
//! use alertkit_core::{Alert, Classifier, LabelSet};
//! use alertkit_core::memory::{LabelClassifier, MemoryCache};
//! use alertkit_llm::ChainBuilder;
//!
//! # let llm: Arc<dyn Classifier> = Arc::new(LabelClassifier);
//! let chain = ChainBuilder::new(llm, Arc::new(LabelClassifier))
//!     .cache(Arc::new(MemoryCache::new(64 << 20)), Duration::from_secs(3600))
//!     .build();
//! let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Down")]), time::OffsetDateTime::now_utc());
//! let verdict = chain.classify(&alert).await.unwrap();
//! # let _ = verdict;
//! # });
//! ```

mod single_flight;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::layer::{
    BreakerConfig, BreakerHandle, BreakerState, CircuitBreakerLayer, ClassificationCacheLayer,
    ClassificationCacheStats, DEFAULT_L1_BYTES, FallbackLayer,
};
use alertkit_core::traits::ClassifierService;
use alertkit_core::{Alert, BoxError, Cache, Classification, Classifier, ClassifyError};
use async_trait::async_trait;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

pub use single_flight::{DEFAULT_LINGER, SingleFlight, SingleFlightLayer};

/// The chain as a tower service.
pub type ChainService = BoxCloneSyncService<Alert, Classification, BoxError>;

/// `alert_history_business_llm_classifications_total{status="fallback"}`.
const CLASSIFICATIONS: &str = "alert_history_business_llm_classifications_total";

fn count_fallback(alert: Alert) -> Alert {
    metrics::counter!(CLASSIFICATIONS, "status" => "fallback").increment(1);
    alert
}

/// Builds a [`StandardChain`].
pub struct ChainBuilder {
    primary: Arc<dyn Classifier>,
    fallback: Arc<dyn Classifier>,
    cache: Option<(Arc<dyn Cache>, Duration)>,
    /// L1 bytes and TTL (`None`: the cache TTL).
    l1: (u64, Option<Duration>),
    breaker: Option<BreakerConfig>,
}

impl fmt::Debug for ChainBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainBuilder")
            .field("primary", &self.primary.id())
            .field("fallback", &self.fallback.id())
            .field("cache_ttl", &self.cache.as_ref().map(|(_, ttl)| ttl))
            .field("l1", &self.l1)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl ChainBuilder {
    /// `primary` (the LLM) falling back to `fallback` (rules), with the
    /// default circuit breaker and no cache.
    pub fn new(primary: Arc<dyn Classifier>, fallback: Arc<dyn Classifier>) -> Self {
        Self {
            primary,
            fallback,
            cache: None,
            l1: (DEFAULT_L1_BYTES, None),
            breaker: Some(BreakerConfig::default()),
        }
    }

    /// Caches the primary's verdicts in `cache` (L2) for `ttl`, behind an
    /// in-process L1 of decoded verdicts ([`DEFAULT_L1_BYTES`], the same
    /// TTL) unless [`l1`](Self::l1) says otherwise.
    #[must_use]
    pub fn cache(mut self, cache: Arc<dyn Cache>, ttl: Duration) -> Self {
        self.cache = Some((cache, ttl));
        self
    }

    /// Sizes the in-process L1 of decoded verdicts (when there is a
    /// [`cache`](Self::cache)): at most `max_bytes`, each verdict at most
    /// `ttl` (capped by the cache TTL). `max_bytes == 0` turns L1 off: every
    /// lookup then goes to the cache and decodes JSON.
    #[must_use]
    pub fn l1(mut self, max_bytes: u64, ttl: Duration) -> Self {
        self.l1 = (max_bytes, Some(ttl));
        self
    }

    /// With this circuit breaker around the primary.
    #[must_use]
    pub fn breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Some(config);
        self
    }

    /// Without a circuit breaker.
    #[must_use]
    pub fn without_breaker(mut self) -> Self {
        self.breaker = None;
        self
    }

    /// The chain.
    pub fn build(self) -> StandardChain {
        let namespace: Arc<str> = Arc::from(self.primary.id());
        let id = format!("{}+{}", self.primary.id(), self.fallback.id());
        let primary = ClassifierService::new(self.primary);
        let (llm, breaker): (ChainService, _) = match self.breaker {
            Some(config) => {
                let service = CircuitBreakerLayer::new(config)
                    .named(namespace.to_string())
                    .layer(primary);
                let handle = service.handle();
                (
                    BoxCloneSyncService::new(service.map_err(Into::into)),
                    Some(handle),
                )
            }
            None => (BoxCloneSyncService::new(primary.map_err(Into::into)), None),
        };
        let coalesced = SingleFlightLayer::new(Arc::clone(&namespace)).layer(llm);
        let cache = self.cache.map(|(cache, ttl)| {
            let (l1_bytes, l1_ttl) = self.l1;
            ClassificationCacheLayer::new(cache, Arc::clone(&namespace), ttl)
                .with_l1(l1_bytes, l1_ttl.unwrap_or(ttl))
        });
        let primary: ChainService = match &cache {
            Some(layer) => BoxCloneSyncService::new(layer.layer(coalesced)),
            None => BoxCloneSyncService::new(coalesced.map_err(Into::into)),
        };
        let fallback =
            ClassifierService::new(self.fallback).map_request(count_fallback as fn(Alert) -> Alert);
        let service = FallbackLayer::new(fallback).layer(primary);
        StandardChain {
            id: Arc::from(id),
            service: BoxCloneSyncService::new(service),
            breaker,
            cache,
        }
    }
}

/// The standard chain, as a [`Classifier`] (and a tower service, [`StandardChain::service`]).
///
/// Its id is `{primary id}+{fallback id}`. Errors only when the fallback fails too.
#[derive(Clone)]
pub struct StandardChain {
    id: Arc<str>,
    service: ChainService,
    breaker: Option<BreakerHandle>,
    cache: Option<ClassificationCacheLayer<dyn Cache>>,
}

impl fmt::Debug for StandardChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardChain")
            .field("id", &self.id)
            .field("breaker", &self.breaker_state())
            .finish_non_exhaustive()
    }
}

impl StandardChain {
    /// The primary's circuit breaker, for metrics and health checks.
    pub fn breaker(&self) -> Option<&BreakerHandle> {
        self.breaker.as_ref()
    }

    /// The breaker's state, if there is a breaker.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker.as_ref().map(BreakerHandle::state)
    }

    /// The chain as a tower service.
    pub fn service(&self) -> ChainService {
        self.service.clone()
    }

    /// The verdict cache's counters (L1 hits, L2 hits, misses), if there is a cache.
    pub fn cache_stats(&self) -> Option<ClassificationCacheStats> {
        self.cache.as_ref().map(ClassificationCacheLayer::stats)
    }
}

#[async_trait]
impl Classifier for StandardChain {
    fn id(&self) -> &str {
        &self.id
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        // An L1 hit needs none of the layers (the cache is the outermost
        // one, and a hit cannot fail): answer it without cloning the stack.
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.lookup_l1(alert)) {
            return Ok(hit);
        }
        self.service
            .clone()
            .oneshot(alert.clone())
            .await
            .map_err(ClassifyError::from_box)
    }

    /// An L1 hit; anything else needs the stack (and maybe the LLM).
    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        self.cache.as_ref()?.lookup_l1(alert).map(Ok)
    }
}
