//! [`EnrichmentMode`] and the [`ModeSwitch`] that holds the current one.
//!
//! | Mode | What the pipeline does | Gauge |
//! |---|---|---|
//! | `transparent` | no classification; filter and publish as received | 0 |
//! | `enriched` | classify (LLM, falling back to rules), filter, publish with the verdict | 1 |
//! | `transparent_with_recommendations` | publish as received, with the LLM's recommendations attached | 2 |
//!
//! The current mode comes from, in order: the shared cache (set by any
//! replica), a runtime switch on this replica, the configuration. A
//! [`ModeSwitch`] with a shared [`Cache`] writes every switch there
//! (`{"mode": …, "timestamp": …}` under [`DEFAULT_KEY`]) and re-reads it when
//! its local copy is older than the refresh interval, so every replica
//! follows within that interval. When the cache is unreachable the last
//! known mode stays in force.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alertkit_core::{Cache, CacheError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;

/// The cache key a shared mode is stored under by default (the seed system's).
pub const DEFAULT_KEY: &str = "enrichment:mode";

/// How long a shared mode entry lives in the cache (refreshed on every switch).
const SHARED_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How much alertkit adds to alerts before publishing them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichmentMode {
    /// Publish alerts as received, unclassified.
    Transparent,
    /// Classify, filter on the verdict, publish with it (the default).
    #[default]
    Enriched,
    /// Publish alerts as received, with the LLM's recommendations attached.
    TransparentWithRecommendations,
}

impl EnrichmentMode {
    /// Every mode.
    pub const ALL: [EnrichmentMode; 3] = [
        EnrichmentMode::Transparent,
        EnrichmentMode::Enriched,
        EnrichmentMode::TransparentWithRecommendations,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EnrichmentMode::Transparent => "transparent",
            EnrichmentMode::Enriched => "enriched",
            EnrichmentMode::TransparentWithRecommendations => "transparent_with_recommendations",
        }
    }

    /// The value of the `alert_history_enrichment_mode_status` gauge.
    pub const fn as_gauge(self) -> f64 {
        match self {
            EnrichmentMode::Transparent => 0.0,
            EnrichmentMode::Enriched => 1.0,
            EnrichmentMode::TransparentWithRecommendations => 2.0,
        }
    }

    /// Whether alerts are classified in this mode.
    pub const fn classifies(self) -> bool {
        matches!(self, EnrichmentMode::Enriched)
    }
}

impl fmt::Display for EnrichmentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown enrichment mode {0:?}: expected transparent, enriched or transparent_with_recommendations"
)]
pub struct UnknownMode(pub String);

impl FromStr for EnrichmentMode {
    type Err = UnknownMode;

    /// The snake_case names, in any case, with `-` accepted for `_`.
    ///
    /// ```
    /// use alertkit_llm::EnrichmentMode;
    ///
    /// assert_eq!("Enriched".parse::<EnrichmentMode>().unwrap(), EnrichmentMode::Enriched);
    /// let err = "verbose".parse::<EnrichmentMode>().unwrap_err();
    /// assert_eq!(err.to_string(), r#"unknown enrichment mode "verbose": expected transparent, enriched or transparent_with_recommendations"#);
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().replace('-', "_");
        EnrichmentMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| UnknownMode(s.chars().take(64).collect()))
    }
}

/// Where the current mode came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeSource {
    /// The configured default.
    Config,
    /// Switched on this replica and not (yet) shared.
    Runtime,
    /// Read from, or written to, the shared cache.
    Shared,
}

impl ModeSource {
    /// `config`, `runtime` or `shared`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ModeSource::Config => "config",
            ModeSource::Runtime => "runtime",
            ModeSource::Shared => "shared",
        }
    }
}

/// The current mode and where it came from (the body of `GET /enrichment/mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    /// The mode in force.
    pub mode: EnrichmentMode,
    /// Where it came from.
    pub source: ModeSource,
}

/// What is stored in the shared cache.
#[derive(Debug, Serialize, Deserialize)]
struct SharedMode {
    mode: EnrichmentMode,
    /// RFC 3339; informational.
    #[serde(default)]
    timestamp: String,
}

#[derive(Debug)]
struct Local {
    state: ModeState,
    /// When the shared cache was last read (or written).
    refreshed: Option<Instant>,
}

struct Shared {
    cache: Arc<dyn Cache>,
    key: String,
    refresh: Duration,
}

struct Inner {
    default: EnrichmentMode,
    shared: Option<Shared>,
    local: Mutex<Local>,
    /// Serialises refreshes, so a burst of readers makes one cache read.
    refreshing: tokio::sync::Mutex<()>,
}

/// Holds the current [`EnrichmentMode`]: the configured default, switchable
/// at runtime, optionally shared across replicas through a [`Cache`].
///
/// Clones share the state.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// use alertkit_core::memory::MemoryCache;
/// use alertkit_llm::{EnrichmentMode, ModeSource, ModeSwitch};
///
/// let redis_stand_in = Arc::new(MemoryCache::new(1 << 20));
/// let a = ModeSwitch::new(EnrichmentMode::Enriched).shared(redis_stand_in.clone(), Duration::from_secs(30));
/// let b = ModeSwitch::new(EnrichmentMode::Enriched).shared(redis_stand_in, Duration::ZERO);
/// assert_eq!(b.current().await.source, ModeSource::Config);
/// a.set(EnrichmentMode::Transparent).await.unwrap();
/// let seen = b.current().await;
/// assert_eq!((seen.mode, seen.source), (EnrichmentMode::Transparent, ModeSource::Shared));
/// # });
/// ```
#[derive(Clone)]
pub struct ModeSwitch {
    inner: Arc<Inner>,
}

impl fmt::Debug for ModeSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModeSwitch")
            .field("default", &self.inner.default)
            .field("current", &self.cached())
            .field("shared", &self.inner.shared.as_ref().map(|s| &s.key))
            .finish()
    }
}

impl ModeSwitch {
    /// A switch starting at the configured `default`, local to this process.
    pub fn new(default: EnrichmentMode) -> Self {
        publish_gauge(default);
        Self {
            inner: Arc::new(Inner {
                default,
                shared: None,
                local: Mutex::new(Local {
                    state: ModeState {
                        mode: default,
                        source: ModeSource::Config,
                    },
                    refreshed: None,
                }),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Shares the mode through `cache` under [`DEFAULT_KEY`], re-reading it
    /// when the local copy is older than `refresh`. Call before cloning.
    #[must_use]
    pub fn shared(self, cache: Arc<dyn Cache>, refresh: Duration) -> Self {
        self.shared_under(cache, DEFAULT_KEY, refresh)
    }

    /// Like [`ModeSwitch::shared`], under `key`.
    #[must_use]
    pub fn shared_under(
        self,
        cache: Arc<dyn Cache>,
        key: impl Into<String>,
        refresh: Duration,
    ) -> Self {
        let default = self.inner.default;
        let local = self.cached();
        Self {
            inner: Arc::new(Inner {
                default,
                shared: Some(Shared {
                    cache,
                    key: key.into(),
                    refresh,
                }),
                local: Mutex::new(Local {
                    state: local,
                    refreshed: None,
                }),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The configured default.
    pub fn default_mode(&self) -> EnrichmentMode {
        self.inner.default
    }

    /// The mode as last known, without touching the shared cache (for hot paths).
    pub fn cached(&self) -> ModeState {
        self.lock().state
    }

    /// The mode as last known if it is fresh (no shared cache, or read from
    /// it within the refresh interval); `None` when [`current`](Self::current)
    /// would re-read the shared cache.
    pub fn cached_if_fresh(&self) -> Option<ModeState> {
        let guard = self.lock();
        match &self.inner.shared {
            Some(shared)
                if guard
                    .refreshed
                    .is_none_or(|at| at.elapsed() >= shared.refresh) =>
            {
                None
            }
            _ => Some(guard.state),
        }
    }

    /// The current mode, re-read from the shared cache if the local copy is stale.
    pub async fn current(&self) -> ModeState {
        if let Some(shared) = &self.inner.shared {
            let stale = self
                .lock()
                .refreshed
                .is_none_or(|at| at.elapsed() >= shared.refresh);
            if stale {
                let _one_at_a_time = self.inner.refreshing.lock().await;
                // Someone may have refreshed while we waited.
                let still_stale = self
                    .lock()
                    .refreshed
                    .is_none_or(|at| at.elapsed() >= shared.refresh);
                if still_stale && let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "could not read the shared enrichment mode; keeping the last known");
                }
            }
        }
        self.cached()
    }

    /// Re-reads the shared cache now. Without a shared cache, does nothing.
    ///
    /// A missing entry leaves the local mode as it is (runtime or config).
    pub async fn refresh(&self) -> Result<ModeState, CacheError> {
        let Some(shared) = &self.inner.shared else {
            return Ok(self.cached());
        };
        let read = shared.cache.get(&shared.key).await;
        let now = Instant::now();
        let value = match read {
            Ok(value) => value,
            Err(e) => {
                metrics::counter!("alert_history_enrichment_redis_errors_total").increment(1);
                // Try again at the next interval rather than on every read.
                self.lock().refreshed = Some(now);
                return Err(e);
            }
        };
        let parsed = match value.as_deref().map(serde_json::from_slice::<SharedMode>) {
            None => None,
            Some(Ok(m)) => Some(m.mode),
            Some(Err(e)) => {
                self.lock().refreshed = Some(now);
                return Err(CacheError::Codec(format!("enrichment mode: {e}")));
            }
        };
        let mut local = self.lock();
        local.refreshed = Some(now);
        if let Some(mode) = parsed {
            if local.state.mode != mode {
                publish_gauge(mode);
            }
            local.state = ModeState {
                mode,
                source: ModeSource::Shared,
            };
        }
        Ok(local.state)
    }

    /// Switches to `mode` on this replica and, with a shared cache, on every
    /// replica. The local switch always happens; the error says the shared
    /// write failed (the state's source then stays `runtime`).
    pub async fn set(&self, mode: EnrichmentMode) -> Result<ModeState, CacheError> {
        let previous = {
            let mut local = self.lock();
            let previous = local.state.mode;
            local.state = ModeState {
                mode,
                source: ModeSource::Runtime,
            };
            previous
        };
        if previous != mode {
            metrics::counter!("alert_history_enrichment_mode_switches_total", "to" => mode.as_str())
                .increment(1);
            publish_gauge(mode);
        }
        let Some(shared) = &self.inner.shared else {
            return Ok(self.cached());
        };
        let record = SharedMode {
            mode,
            timestamp: OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| CacheError::Codec(e.to_string()))?;
        if let Err(e) = shared
            .cache
            .set(&shared.key, bytes.into(), SHARED_TTL)
            .await
        {
            metrics::counter!("alert_history_enrichment_redis_errors_total").increment(1);
            return Err(e);
        }
        let mut local = self.lock();
        if local.state.mode == mode {
            local.state.source = ModeSource::Shared;
        }
        local.refreshed = Some(Instant::now());
        Ok(local.state)
    }

    /// Re-reads the shared cache every `every` until the returned task is aborted.
    pub fn spawn_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = this.refresh().await {
                    tracing::debug!(error = %e, "enrichment mode refresh failed");
                }
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.inner
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn publish_gauge(mode: EnrichmentMode) {
    metrics::gauge!("alert_history_enrichment_mode_status").set(mode.as_gauge());
}

#[cfg(test)]
mod tests {
    use alertkit_core::CacheStats;
    use alertkit_core::memory::MemoryCache;
    use async_trait::async_trait;
    use bytes::Bytes;

    use super::*;

    #[test]
    fn names_round_trip() {
        for mode in EnrichmentMode::ALL {
            assert_eq!(mode.as_str().parse::<EnrichmentMode>(), Ok(mode));
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{mode}\""));
            assert_eq!(serde_json::from_str::<EnrichmentMode>(&json).unwrap(), mode);
        }
        assert_eq!(
            " Transparent-With-Recommendations ".parse::<EnrichmentMode>(),
            Ok(EnrichmentMode::TransparentWithRecommendations)
        );
        assert!(serde_json::from_str::<EnrichmentMode>("\"verbose\"").is_err());
        assert_eq!(EnrichmentMode::default(), EnrichmentMode::Enriched);
        let state = ModeState {
            mode: EnrichmentMode::Transparent,
            source: ModeSource::Runtime,
        };
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"mode":"transparent","source":"runtime"}"#
        );
    }

    #[tokio::test]
    async fn local_switching() {
        let switch = ModeSwitch::new(EnrichmentMode::Transparent);
        assert_eq!(switch.current().await.source, ModeSource::Config);
        let state = switch.set(EnrichmentMode::Enriched).await.unwrap();
        assert_eq!(state.mode, EnrichmentMode::Enriched);
        assert_eq!(state.source, ModeSource::Runtime);
        assert_eq!(switch.clone().cached(), state);
        assert_eq!(switch.default_mode(), EnrichmentMode::Transparent);
    }

    #[tokio::test(start_paused = true)]
    async fn replicas_follow_a_switch_within_the_refresh_interval() {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(1 << 20));
        let a = ModeSwitch::new(EnrichmentMode::Enriched)
            .shared(Arc::clone(&cache), Duration::from_secs(30));
        let b = ModeSwitch::new(EnrichmentMode::Enriched)
            .shared(Arc::clone(&cache), Duration::from_secs(30));
        assert_eq!(
            b.current().await.source,
            ModeSource::Config,
            "nothing shared yet"
        );

        let state = a.set(EnrichmentMode::Transparent).await.unwrap();
        assert_eq!(state.source, ModeSource::Shared);
        let stored = cache.get(DEFAULT_KEY).await.unwrap().unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored["mode"], "transparent");
        assert!(stored["timestamp"].as_str().unwrap().contains('T'));

        // b read the cache a moment ago: it keeps its copy until the interval ends.
        assert_eq!(b.current().await.mode, EnrichmentMode::Enriched);
        tokio::time::advance(Duration::from_secs(30)).await;
        let seen = b.current().await;
        assert_eq!(
            (seen.mode, seen.source),
            (EnrichmentMode::Transparent, ModeSource::Shared)
        );

        // A replica started later picks the shared mode over its config.
        let c = ModeSwitch::new(EnrichmentMode::Enriched).shared(cache, Duration::from_secs(30));
        assert_eq!(c.current().await.mode, EnrichmentMode::Transparent);
    }

    #[tokio::test(start_paused = true)]
    async fn a_background_refresh_updates_the_cached_mode() {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(1 << 20));
        let a = ModeSwitch::new(EnrichmentMode::Enriched)
            .shared(Arc::clone(&cache), Duration::from_secs(30));
        let b = ModeSwitch::new(EnrichmentMode::Enriched).shared(cache, Duration::from_secs(30));
        let task = b.spawn_refresh(Duration::from_secs(5));
        a.set(EnrichmentMode::TransparentWithRecommendations)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(
            b.cached().mode,
            EnrichmentMode::TransparentWithRecommendations
        );
        task.abort();
    }

    /// A cache whose backend is down.
    struct Down;

    #[async_trait]
    impl Cache for Down {
        async fn get(&self, _key: &str) -> Result<Option<Bytes>, CacheError> {
            Err(CacheError::Unavailable("connection refused".into()))
        }
        async fn set(&self, _key: &str, _value: Bytes, _ttl: Duration) -> Result<(), CacheError> {
            Err(CacheError::Unavailable("connection refused".into()))
        }
        async fn delete(&self, _key: &str) -> Result<(), CacheError> {
            Ok(())
        }
        fn stats(&self) -> CacheStats {
            CacheStats::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_cache_keeps_the_last_known_mode() {
        let switch = ModeSwitch::new(EnrichmentMode::Enriched)
            .shared(Arc::new(Down), Duration::from_secs(1));
        let err = switch.set(EnrichmentMode::Transparent).await.unwrap_err();
        assert!(err.is_transient());
        let state = switch.current().await;
        assert_eq!(
            (state.mode, state.source),
            (EnrichmentMode::Transparent, ModeSource::Runtime)
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(switch.refresh().await.is_err());
        assert_eq!(switch.current().await.mode, EnrichmentMode::Transparent);
    }

    #[tokio::test]
    async fn a_garbled_shared_entry_is_ignored() {
        let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(1 << 20));
        cache
            .set(
                DEFAULT_KEY,
                Bytes::from_static(b"{\"mode\":\"loud\"}"),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let switch = ModeSwitch::new(EnrichmentMode::Transparent).shared(cache, Duration::ZERO);
        assert!(matches!(switch.refresh().await, Err(CacheError::Codec(_))));
        assert_eq!(switch.current().await.mode, EnrichmentMode::Transparent);
    }
}
