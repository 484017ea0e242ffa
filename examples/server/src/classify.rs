//! Classification: the cache (memory, or memory in front of Redis), the
//! classifier (rules, or the LLM chain falling back to rules), and the
//! enrichment mode that decides whether and how verdicts are used.

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::memory::MemoryCache;
use alertkit_core::{Alert, Cache, Classification, Classifier, ClassifyError};
use alertkit_llm::{
    ChainBuilder, EnrichmentMode, LlmClassifier, LlmConfig, ModeSwitch, RuleClassifier,
    StandardChain,
};
use alertkit_store::{RedisCache, RedisOptions, TieredCache};
use async_trait::async_trait;

use crate::config::Config;

/// Bytes of verdicts kept in memory.
const L1_BYTES: u64 = 64 << 20;
/// How long LLM verdicts are reused (the cache key changes with the alert's
/// annotations and the model, so this only bounds staleness of a verdict).
const VERDICT_TTL: Duration = Duration::from_secs(6 * 3600);
/// How long an L1 entry lives when Redis is the shared tier.
const L1_TTL: Duration = Duration::from_secs(60);

/// Everything classification needs at run time.
pub(crate) struct Classify {
    /// What the pipeline calls: the chain behind the enrichment mode.
    pub(crate) classifier: Arc<dyn Classifier>,
    /// The enrichment mode, shared through Redis when configured.
    pub(crate) mode: Arc<ModeSwitch>,
    /// The verdict cache (for `/api/v2/cache/stats`).
    pub(crate) cache: Arc<dyn Cache>,
    /// The LLM chain, when an LLM is configured (breaker state).
    pub(crate) chain: Option<Arc<StandardChain>>,
    /// Redis, when configured (readiness).
    pub(crate) redis: Option<RedisCache>,
}

impl std::fmt::Debug for Classify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classify")
            .field("llm", &self.chain.is_some())
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl Classify {
    /// Builds the cache, the classifier chain and the mode switch.
    pub(crate) async fn build(config: &Config) -> Result<Self, String> {
        let l1 = MemoryCache::new(L1_BYTES);
        let (cache, redis): (Arc<dyn Cache>, _) = match &config.redis_url {
            Some(url) => {
                let mut options = RedisOptions::new(url.expose());
                if let Some(ca) = &config.redis_ca_cert {
                    options = options.ca_cert(ca);
                }
                let redis = RedisCache::connect(options)
                    .await
                    .map_err(|e| format!("cannot connect to REDIS_URL: {e}"))?;
                let tiered = TieredCache::new(l1, redis.clone(), L1_TTL);
                (Arc::new(tiered), Some(redis))
            }
            None => (Arc::new(l1), None),
        };
        let rules: Arc<dyn Classifier> = Arc::new(RuleClassifier::default());
        let chain = match &config.llm {
            Some(llm) => {
                let mut c = LlmConfig::new(
                    llm.base_url.clone(),
                    llm.model
                        .clone()
                        .unwrap_or_else(|| "gpt-4o-mini".to_owned()),
                );
                if let Some(key) = &llm.api_key {
                    c = c.with_api_key(key.clone());
                }
                let client = LlmClassifier::new(c).map_err(|e| format!("LLM_BASE_URL: {e}"))?;
                let chain = ChainBuilder::new(Arc::new(client), Arc::clone(&rules))
                    .cache(Arc::clone(&cache), VERDICT_TTL)
                    .build();
                Some(Arc::new(chain))
            }
            None => None,
        };
        let inner: Arc<dyn Classifier> = match &chain {
            Some(c) => Arc::clone(c) as Arc<dyn Classifier>,
            None => rules,
        };
        let mut mode = ModeSwitch::new(config.enrichment_mode);
        if redis.is_some() {
            mode = mode.shared(Arc::clone(&cache), Duration::from_secs(5));
        }
        let mode = Arc::new(mode);
        Ok(Self {
            classifier: Arc::new(Modal {
                inner,
                mode: Arc::clone(&mode),
            }),
            mode,
            cache,
            chain,
            redis,
        })
    }
}

/// Applies the enrichment mode to every verdict.
///
/// - `enriched`: the verdict as the chain made it.
/// - `transparent`: no classification at all (published as received).
/// - `transparent_with_recommendations`: the chain runs, but the
///   notification keeps the alert's own severity (from its label); only the
///   category, summary and recommendations are attached.
struct Modal {
    inner: Arc<dyn Classifier>,
    mode: Arc<ModeSwitch>,
}

#[async_trait]
impl Classifier for Modal {
    fn id(&self) -> &str {
        self.inner.id()
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        match self.mode.current().await.mode {
            EnrichmentMode::Transparent => Err(transparent()),
            EnrichmentMode::TransparentWithRecommendations => Ok(keep_label_severity(
                alert,
                self.inner.classify(alert).await?,
            )),
            EnrichmentMode::Enriched => self.inner.classify(alert).await,
        }
    }

    fn try_classify_now(&self, alert: &Alert) -> Option<Result<Classification, ClassifyError>> {
        match self.mode.cached_if_fresh()?.mode {
            EnrichmentMode::Transparent => Some(Err(transparent())),
            EnrichmentMode::TransparentWithRecommendations => Some(
                self.inner
                    .try_classify_now(alert)?
                    .map(|v| keep_label_severity(alert, v)),
            ),
            EnrichmentMode::Enriched => self.inner.try_classify_now(alert),
        }
    }
}

fn transparent() -> ClassifyError {
    ClassifyError::Skipped("enrichment mode is transparent".to_owned())
}

/// `verdict` with the alert's own (label) severity.
fn keep_label_severity(alert: &Alert, verdict: Classification) -> Classification {
    let mut kept = Classification::new(
        alert.label_severity(),
        verdict.category,
        verdict.confidence,
        verdict.source,
    )
    .with_summary(verdict.summary)
    .with_recommendations(verdict.recommendations);
    kept.latency = verdict.latency;
    if let Some(model) = verdict.model {
        kept = kept.with_model(model);
    }
    kept
}
