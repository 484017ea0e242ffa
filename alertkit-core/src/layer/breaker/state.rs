//! The breaker's state machine, shared by every clone of a service.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::BreakerConfig;
use crate::memory::lock;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls pass; failures are counted.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// A limited number of probe calls pass; a success closes, a failure re-opens.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The gauge value: closed 0, open 1, half-open 2.
    pub const fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Number of buckets of the rolling failure-ratio window.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    successes: u32,
    failures: u32,
}

/// Successes and failures over the last `window`, in [`BUCKETS`] slices.
#[derive(Debug)]
struct Window {
    origin: Instant,
    slice: Duration,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    fn new(window: Duration, now: Instant) -> Self {
        let slice = (window / BUCKETS as u32).max(Duration::from_millis(1));
        Self {
            origin: now,
            slice,
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.slice.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    fn record(&mut self, now: Instant, failure: bool) {
        let epoch = self.epoch(now);
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        if failure {
            slot.failures = slot.failures.saturating_add(1);
        } else {
            slot.successes = slot.successes.saturating_add(1);
        }
    }

    /// `(calls, failures)` over the window ending at `now`.
    fn totals(&self, now: Instant) -> (u64, u64) {
        let epoch = self.epoch(now);
        self.buckets
            .iter()
            .filter(|b| epoch.saturating_sub(b.epoch) < BUCKETS as u64 && b.epoch <= epoch)
            .fold((0, 0), |(calls, failures), b| {
                (
                    calls + u64::from(b.successes) + u64::from(b.failures),
                    failures + u64::from(b.failures),
                )
            })
    }

    fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// What a caller was let through as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// A normal call in the closed state.
    Normal { generation: u64 },
    /// One of the limited probes in the half-open state.
    Probe { generation: u64 },
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Success,
    Failure,
    /// Dropped before it finished.
    Cancelled,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    /// Bumped on every transition, so late outcomes of an earlier phase are ignored.
    generation: u64,
    consecutive_failures: u32,
    window: Window,
}

/// The state every clone of one breaker shares.
#[derive(Debug)]
pub(super) struct Shared {
    config: BreakerConfig,
    name: Option<metrics::SharedString>,
    inner: Mutex<Inner>,
}

impl Shared {
    pub(super) fn new(config: BreakerConfig, name: Option<metrics::SharedString>) -> Self {
        let now = Instant::now();
        let shared = Self {
            inner: Mutex::new(Inner {
                mode: Mode::Closed,
                generation: 0,
                consecutive_failures: 0,
                window: Window::new(config.window, now),
            }),
            config,
            name,
        };
        shared.publish(BreakerState::Closed);
        shared
    }

    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The state at `now` (an open breaker whose cool-down ended reports half-open).
    pub(super) fn state(&self) -> BreakerState {
        let inner = lock::mutex(&self.inner);
        match inner.mode {
            Mode::Closed => BreakerState::Closed,
            Mode::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Mode::Open { .. } => BreakerState::Open,
            Mode::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Lets a call through, or refuses it (`None`).
    pub(super) fn admit(&self) -> Option<Admission> {
        let now = Instant::now();
        let mut inner = lock::mutex(&self.inner);
        let admission = match inner.mode {
            Mode::Closed => Some(Admission::Normal {
                generation: inner.generation,
            }),
            Mode::Open { until } if now >= until => {
                self.transition(
                    &mut inner,
                    Mode::HalfOpen {
                        in_flight: 1,
                        successes: 0,
                    },
                );
                Some(Admission::Probe {
                    generation: inner.generation,
                })
            }
            Mode::Open { .. } => None,
            Mode::HalfOpen {
                in_flight,
                successes,
            } if in_flight < self.config.half_open_probes => {
                inner.mode = Mode::HalfOpen {
                    in_flight: in_flight + 1,
                    successes,
                };
                Some(Admission::Probe {
                    generation: inner.generation,
                })
            }
            Mode::HalfOpen { .. } => None,
        };
        drop(inner);
        if admission.is_none()
            && let Some(name) = &self.name
        {
            metrics::counter!("alertkit_circuit_breaker_rejected_total", "breaker" => name.clone())
                .increment(1);
        }
        admission
    }

    /// Records how an admitted call ended.
    pub(super) fn record(&self, admission: Admission, outcome: Outcome) {
        let now = Instant::now();
        let mut inner = lock::mutex(&self.inner);
        match admission {
            Admission::Normal { generation } => {
                if outcome == Outcome::Cancelled
                    || generation != inner.generation
                    || !matches!(inner.mode, Mode::Closed)
                {
                    return;
                }
                let failure = outcome == Outcome::Failure;
                inner.window.record(now, failure);
                if !failure {
                    inner.consecutive_failures = 0;
                    return;
                }
                inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
                if self.should_open(&inner, now) {
                    let until = now + self.config.open_for;
                    self.transition(&mut inner, Mode::Open { until });
                }
            }
            Admission::Probe { generation } => {
                let Mode::HalfOpen {
                    in_flight,
                    successes,
                } = inner.mode
                else {
                    return;
                };
                if generation != inner.generation {
                    return;
                }
                let in_flight = in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Cancelled => {
                        inner.mode = Mode::HalfOpen {
                            in_flight,
                            successes,
                        };
                    }
                    Outcome::Failure => {
                        let until = now + self.config.open_for;
                        self.transition(&mut inner, Mode::Open { until });
                    }
                    Outcome::Success => {
                        let successes = successes.saturating_add(1);
                        if successes >= self.config.successes_to_close {
                            inner.consecutive_failures = 0;
                            inner.window.clear();
                            self.transition(&mut inner, Mode::Closed);
                        } else {
                            inner.mode = Mode::HalfOpen {
                                in_flight,
                                successes,
                            };
                        }
                    }
                }
            }
        }
    }

    fn should_open(&self, inner: &Inner, now: Instant) -> bool {
        let config = &self.config;
        if config.consecutive_failures > 0
            && inner.consecutive_failures >= config.consecutive_failures
        {
            return true;
        }
        let Some(ratio) = config.failure_ratio else {
            return false;
        };
        let (calls, failures) = inner.window.totals(now);
        calls > 0
            && calls >= u64::from(config.minimum_calls)
            && failures as f64 >= ratio * calls as f64
    }

    fn transition(&self, inner: &mut Inner, to: Mode) {
        inner.mode = to;
        inner.generation = inner.generation.wrapping_add(1);
        let state = match to {
            Mode::Closed => BreakerState::Closed,
            Mode::Open { .. } => BreakerState::Open,
            Mode::HalfOpen { .. } => BreakerState::HalfOpen,
        };
        tracing::debug!(breaker = self.name().unwrap_or(""), to = %state, "circuit breaker transition");
        if let Some(name) = &self.name {
            metrics::counter!("alertkit_circuit_breaker_transitions_total", "breaker" => name.clone(), "to" => state.as_str())
                .increment(1);
        }
        self.publish(state);
    }

    fn publish(&self, state: BreakerState) {
        if let Some(name) = &self.name {
            metrics::gauge!("alertkit_circuit_breaker_state", "breaker" => name.clone())
                .set(state.as_gauge());
        }
    }
}
