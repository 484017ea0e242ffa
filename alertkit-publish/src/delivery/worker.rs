//! [`Deliverer`]: drains the outbox, one loop per target.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use alertkit_core::layer::BreakerState;
use alertkit_core::traits::{Delivery, LeaseRef, Outbox, Settlement};
use alertkit_core::{PublishOutcome, StoreError};
use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::RetryPolicy;
use super::target::{DeliveryTarget, TargetRuntime};

/// How a [`Deliverer`] claims and retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// This process's name in leases (`locked_by`); unique per replica.
    pub worker_id: String,
    /// Most rows leased per claim (default 256).
    pub batch: usize,
    /// How long a lease lasts (default 60 s); rows of a crashed worker are
    /// due again after it.
    pub lease: Duration,
    /// How often an idle target looks for due rows (default 500 ms); the
    /// outbox's wake-up signal usually comes sooner.
    pub poll: Duration,
    /// When to retry and when to give up.
    pub retry: RetryPolicy,
}

impl DeliveryConfig {
    /// Defaults for a worker named `worker_id`.
    pub fn new(worker_id: impl Into<String>) -> Self {
        Self {
            worker_id: worker_id.into(),
            batch: 256,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            retry: RetryPolicy::default(),
        }
    }

    /// With `retry` as the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// With leases of `lease`.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Idle targets look for due rows every `poll`.
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// At most `batch` rows per claim.
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }
}

struct Running {
    runtime: Arc<TargetRuntime>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Delivers what the outbox holds: one task per target claims due rows,
/// attempts them through the target's stack (see [`DeliveryTarget`]) and
/// settles them in one transaction per batch. Failed attempts are
/// rescheduled by the [`RetryPolicy`] or become dead letters.
///
/// Delivery is at least once: if this process dies after a target accepted
/// a notification but before the settle committed, the lease expires and
/// another worker delivers it again, with the same
/// [`dedup_key`](alertkit_core::Notification::dedup_key) so targets can
/// drop the duplicate.
///
/// ```no_run
/// # async fn demo(outbox: std::sync::Arc<dyn alertkit_core::Outbox>) {
/// use std::sync::Arc;
/// use alertkit_core::memory::RecordingPublisher;
/// use alertkit_publish::delivery::{Deliverer, DeliveryConfig, DeliveryTarget};
///
/// let target = DeliveryTarget::new(Arc::new(RecordingPublisher::new("audit", 100)));
/// let deliverer = Deliverer::spawn(outbox, vec![target], DeliveryConfig::new("replica-1"));
/// // … later, on SIGTERM: finish in-flight attempts, hand back the rest.
/// deliverer.shutdown().await;
/// # }
/// ```
pub struct Deliverer {
    outbox: Arc<dyn Outbox>,
    config: Arc<DeliveryConfig>,
    running: Mutex<Vec<Running>>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("config", &self.config)
            .field("targets", &self.targets())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("target", &self.runtime.name)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// Starts delivering to `targets`. Call within a tokio runtime.
    pub fn spawn(
        outbox: Arc<dyn Outbox>,
        targets: Vec<DeliveryTarget>,
        config: DeliveryConfig,
    ) -> Self {
        let me = Self {
            outbox,
            config: Arc::new(config),
            running: Mutex::new(Vec::new()),
        };
        me.start(targets);
        me
    }

    fn start(&self, targets: Vec<DeliveryTarget>) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for t in targets {
            let runtime = Arc::new(t.build());
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(run_target(
                Arc::clone(&self.outbox),
                Arc::clone(&runtime),
                Arc::clone(&self.config),
                stopped,
            ));
            running.push(Running {
                runtime,
                stop,
                task,
            });
        }
    }

    /// Names and breaker states of the targets being delivered to.
    pub fn targets(&self) -> Vec<(String, BreakerState)> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| (r.runtime.name.to_string(), r.runtime.breaker.state()))
            .collect()
    }

    /// Swaps the target set (a configuration reload): the old loops finish
    /// their in-flight attempts and hand back the rest, then the new ones
    /// start. Rows for removed targets stay in the outbox.
    pub async fn replace_targets(&self, targets: Vec<DeliveryTarget>) {
        self.stop_all().await;
        self.start(targets);
    }

    /// Stops every loop: attempts in flight finish and are settled, leased
    /// rows not yet attempted are handed back for another worker.
    pub async fn shutdown(&self) {
        self.stop_all().await;
    }

    async fn stop_all(&self) {
        let old = std::mem::take(&mut *self.running.lock().unwrap_or_else(PoisonError::into_inner));
        for r in &old {
            let _ = r.stop.send(true);
        }
        for r in old {
            if let Err(e) = r.task.await {
                tracing::error!(target_name = %r.runtime.name, error = %e, "delivery loop panicked");
            }
        }
    }
}

async fn run_target(
    outbox: Arc<dyn Outbox>,
    target: Arc<TargetRuntime>,
    config: Arc<DeliveryConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let wakeup = outbox.wakeup();
    let names = [Arc::clone(&target.name)];
    let mut last_breaker = BreakerState::Closed;
    loop {
        if stopped(&stop) {
            break;
        }
        let state = target.breaker.state();
        if state != last_breaker {
            metrics::gauge!("alertkit_publishing_breaker_state", "target" => target.name.to_string())
                .set(state.as_gauge());
            last_breaker = state;
        }
        let idle = if state == BreakerState::Open {
            true
        } else {
            let limit = target.claim_limit(config.batch, config.lease);
            let notified = wakeup.notified();
            match outbox
                .claim(&config.worker_id, &names, limit, config.lease)
                .await
            {
                Ok(batch) if batch.is_empty() => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(config.poll) => {}
                        _ = stop.changed() => {}
                    }
                    false
                }
                Ok(batch) => {
                    deliver_batch(
                        Arc::clone(&outbox),
                        Arc::clone(&target),
                        Arc::clone(&config),
                        stop.clone(),
                        batch,
                    )
                    .await;
                    false
                }
                Err(e) => {
                    tracing::warn!(target_name = %target.name, error = %e, "outbox claim failed");
                    true
                }
            }
        };
        if idle {
            tokio::select! {
                () = tokio::time::sleep(config.poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    let stopping: bool = *stop.borrow();
    stopping
}

enum Step {
    Settle(Settlement),
    Unlease(LeaseRef),
}

async fn deliver_batch(
    outbox: Arc<dyn Outbox>,
    target: Arc<TargetRuntime>,
    config: Arc<DeliveryConfig>,
    stop: watch::Receiver<bool>,
    batch: Vec<Delivery>,
) {
    let concurrency = target.concurrency;
    let name = Arc::clone(&target.name);
    let attempts = batch.into_iter().map(move |d| {
        let (target, config, stop) = (Arc::clone(&target), Arc::clone(&config), stop.clone());
        let fut: std::pin::Pin<Box<dyn Future<Output = Step> + Send>> =
            Box::pin(async move { attempt(&target, &config, &stop, d).await });
        fut
    });
    let steps: Vec<Step> = futures_util::stream::iter(attempts)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut settlements = Vec::with_capacity(steps.len());
    let mut unleases = Vec::new();
    for s in steps {
        match s {
            Step::Settle(s) => settlements.push(s),
            Step::Unlease(l) => unleases.push(l),
        }
    }
    if !unleases.is_empty()
        && let Err(e) = outbox.unlease(&unleases).await
    {
        tracing::warn!(target_name = %name, error = %e, "could not hand back leases; they will expire");
    }
    if let Err(e) = settle_with_retries(outbox, &settlements).await {
        // The attempts happened; their leases expire and the rows are
        // delivered again (at least once, same dedup key).
        tracing::error!(target_name = %name, error = %e, rows = settlements.len(), "could not settle deliveries");
    }
}

async fn settle_with_retries(
    outbox: Arc<dyn Outbox>,
    settlements: &[Settlement],
) -> Result<(), StoreError> {
    if settlements.is_empty() {
        return Ok(());
    }
    let mut delay = Duration::from_millis(50);
    for _ in 0..5 {
        match outbox.settle(settlements).await {
            Ok(held) => {
                let lost = held.iter().filter(|h| !**h).count();
                if lost > 0 {
                    tracing::warn!(
                        lost,
                        "leases expired before settling; another worker has those rows"
                    );
                }
                return Ok(());
            }
            Err(e) if e.is_transient() => {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => return Err(e),
        }
    }
    outbox.settle(settlements).await.map(|_| ())
}

async fn attempt(
    target: &TargetRuntime,
    config: &DeliveryConfig,
    stop: &watch::Receiver<bool>,
    d: Delivery,
) -> Step {
    if stopped(stop) {
        return Step::Unlease(d.lease);
    }
    let name = target.name.to_string();
    if let Some(reason) = target.skip_reason(&d.notification) {
        metrics::counter!("alertkit_publishing_skipped_total", "target" => name).increment(1);
        return Step::Settle(Settlement::skipped(d.lease, reason));
    }
    target.ready().await;
    metrics::counter!("alert_history_business_publishing_attempts_total", "target" => name.clone())
        .increment(1);
    let start = Instant::now();
    let result = target.publish(d.notification).await;
    let latency = start.elapsed();
    metrics::histogram!("alertkit_publishing_duration_seconds", "target" => name.clone())
        .record(latency.as_secs_f64());
    let settlement = match result {
        Ok(receipt) => {
            let status = receipt.status_code;
            match receipt.outcome {
                PublishOutcome::Skipped { reason } => {
                    metrics::counter!("alertkit_publishing_skipped_total", "target" => name)
                        .increment(1);
                    Settlement::skipped(d.lease, reason)
                }
                _ => {
                    metrics::counter!("alert_history_business_publishing_success_total", "target" => name)
                        .increment(1);
                    Settlement::delivered(d.lease).with_remote_id(receipt.remote_id)
                }
            }
            .with_status(status)
        }
        Err(e) => {
            let reason = failure_reason(&e);
            metrics::counter!("alert_history_business_publishing_failed_total", "target" => name.clone(), "reason" => reason)
                .increment(1);
            match config.retry.delay(d.lease.attempt, &e) {
                Some(delay) => Settlement::retry(d.lease, OffsetDateTime::now_utc() + delay, e.to_string()),
                None => {
                    metrics::counter!("alertkit_publishing_dead_letters_total", "target" => name)
                        .increment(1);
                    let why = if e.is_transient() {
                        format!("gave up after {} attempts: {e}", d.lease.attempt)
                    } else {
                        e.to_string()
                    };
                    tracing::warn!(target_name = %target.name, attempt = d.lease.attempt, error = %e, "notification dead-lettered");
                    Settlement::dead(d.lease, why)
                }
            }
            .with_status(e.status())
        }
    };
    Step::Settle(settlement.with_latency(latency))
}

/// A bounded label value for failure counters.
fn failure_reason(e: &alertkit_core::PublishError) -> &'static str {
    use alertkit_core::PublishError as E;
    match e {
        E::Transport(_) => "transport",
        E::Timeout => "timeout",
        E::RateLimited { .. } => "rate_limited",
        E::Server { .. } => "server_error",
        E::Rejected { .. } => "rejected",
        E::Overloaded => "breaker_open",
        E::Config(_) => "config",
        _ => "other",
    }
}

/// Sets the queue gauges from the outbox's counts and returns them: call it
/// when `/metrics` is scraped, so the values are current.
///
/// Gauges: `alert_history_publishing_queue_size{target,state}` with `state`
/// `pending` or `in_flight`, and `alertkit_publishing_dead_letters{target}`.
pub async fn record_queue_metrics(
    outbox: &dyn Outbox,
) -> Result<Vec<alertkit_core::traits::QueueDepth>, StoreError> {
    let depth = outbox.depth().await?;
    for d in &depth {
        metrics::gauge!("alert_history_publishing_queue_size", "target" => d.target.clone(), "state" => "pending")
            .set(d.pending as f64);
        metrics::gauge!("alert_history_publishing_queue_size", "target" => d.target.clone(), "state" => "in_flight")
            .set(d.in_flight as f64);
        metrics::gauge!("alertkit_publishing_dead_letters", "target" => d.target.clone())
            .set(d.dead as f64);
    }
    Ok(depth)
}
