//! Publishing for alertkit: targets, filters and delivery.
//!
//! **Status:** this crate currently re-exports the publishing building
//! blocks of `alertkit-core` — per-target filters, the fan-out publisher, the
//! direct hand-off and the recording publisher used by simulation mode. The
//! Slack, PagerDuty, Rootly and generic webhook publishers and the delivery
//! machinery (outbox workers, retry with backoff, rate limits, circuit
//! breaker, dead letters) are the next work item, behind the features
//! `slack`, `pagerduty`, `rootly` and `webhook`.
//!
//! ```
//! use std::sync::Arc;
//! use alertkit_publish::{FanOut, RecordingPublisher};
//!
//! let fanout = FanOut::new().with_publisher(Arc::new(RecordingPublisher::new("simulation", 1000)));
//! assert_eq!(fanout.names().collect::<Vec<_>>(), ["simulation"]);
//! ```

#![forbid(unsafe_code)]

pub use alertkit_core::layer::{
    DirectHandoff, FanOut, Filter, FilterLayer, PublishFilter, TargetResult,
};
pub use alertkit_core::memory::RecordingPublisher;
