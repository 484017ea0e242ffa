//! alertkit's tower layers, and the fan-out publisher.
//!
//! | Layer | Wraps | Does |
//! |---|---|---|
//! | [`CircuitBreakerLayer`] | any service | stops calling a failing service for a cool-down, then probes |
//! | [`ClassificationCacheLayer`] | a classifier service | answers from any [`Cache`](crate::Cache), fills it on a miss |
//! | [`FallbackLayer`] | any service | a secondary service answers when the primary fails |
//! | [`FilterLayer`] | a publisher service | skips notifications by severity, matchers, confidence |
//! | [`InstrumentLayer`] | any service | metrics and a tracing span per call |
//!
//! [`FanOut`] sends one notification to many targets; [`DirectHandoff`]
//! publishes through a `FanOut` without an outbox.

mod breaker;
mod cache;
mod fallback;
mod fanout;
mod filter;
mod instrument;

pub use breaker::{
    BreakerConfig, BreakerHandle, BreakerPolicy, BreakerState, CircuitBreaker, CircuitBreakerLayer,
    DefaultPolicy,
};
pub use cache::{
    ClassificationCache, ClassificationCacheFuture, ClassificationCacheLayer,
    ClassificationCacheStats, ClassificationKey, DEFAULT_L1_BYTES, classification_cache_key,
};
pub use fallback::{Fallback, FallbackLayer};
pub use fanout::{DirectHandoff, FanOut, TargetResult};
pub use filter::{Filter, FilterLayer, PublishFilter};
pub use instrument::{Instrument, InstrumentLayer};
