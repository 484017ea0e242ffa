//! Reliable delivery: workers drain the durable outbox (see
//! [`alertkit_core::Outbox`]; the SQL stores of `alertkit-store` implement
//! it) into the configured targets.
//!
//! - **Per target**, one loop claims due rows with a lease, filters them,
//!   waits for the target's rate limit (a token bucket: bursts allowed,
//!   nothing dropped), and attempts each through circuit breaker → timeout →
//!   publisher, a bounded number at once.
//! - **Outcomes** are settled in one transaction per batch and logged in
//!   the delivery log: delivered, skipped (with the filter's reason),
//!   retry (rescheduled by the [`RetryPolicy`]: exponential backoff with
//!   jitter, `Retry-After` honoured) or dead (permanent errors such as HTTP
//!   400, or the last attempt), which moves it to the dead-letter table.
//! - **An open breaker** stops claiming for its target, so its rows wait in
//!   the outbox instead of burning attempts.
//! - **Shutdown** finishes attempts in flight and hands back the rest.
//!
//! Metrics (label `target`): `alert_history_business_publishing_attempts_total`,
//! `…_success_total`, `…_failed_total{reason}`, `alertkit_publishing_skipped_total`,
//! `alertkit_publishing_dead_letters_total`, `alertkit_publishing_duration_seconds`,
//! `alertkit_publishing_breaker_state` (0 closed, 1 open, 2 half-open), and
//! the queue gauges set by [`record_queue_metrics`].

mod retry;
mod target;
mod worker;

pub use retry::RetryPolicy;
pub use target::DeliveryTarget;
pub use worker::{Deliverer, DeliveryConfig, record_queue_metrics};
