//! Publishing: the targets of `TARGETS_FILE`, the outbox notifications are
//! enqueued in (in the same transaction as the history write), and the
//! delivery workers that drain it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::Outbox;
use alertkit_core::memory::RecordingPublisher;
use alertkit_publish::delivery::{Deliverer, DeliveryConfig, DeliveryTarget};
use alertkit_publish::{ReloadSummary, TargetRegistry, TargetSet};
use alertkit_store::OutboxOptions;
use time::OffsetDateTime;

use crate::progress::{Progress, SignalOutbox};
use crate::store::Opened;

/// The targets in force and the workers delivering to them.
pub(crate) struct Publishing {
    registry: Option<Arc<TargetRegistry>>,
    /// Simulation mode: the only target, recording what would have been sent.
    simulation: Option<Arc<RecordingPublisher>>,
    opened: Opened,
    deliverer: Deliverer,
    hold: Duration,
    /// Signalled after every settle of the delivery workers.
    progress: Progress,
}

impl std::fmt::Debug for Publishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publishing")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// A name for this process in outbox leases: host, pid and start time.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "alertkit".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp()
    )
}

/// The delivery stack of every enabled target.
fn delivery_targets(set: &TargetSet) -> Vec<DeliveryTarget> {
    set.enabled()
        .filter_map(|t| {
            let publisher = Arc::clone(t.publisher()?);
            let filter = t.filter().clone();
            let mut d = DeliveryTarget::new(publisher).with_filter(move |n| filter.check(n));
            if let Some(rate) = t.rate_limit() {
                d = d.with_quota(rate.quota());
            }
            Some(d)
        })
        .collect()
}

fn outbox_options(set: &TargetSet, hold: Duration) -> OutboxOptions {
    OutboxOptions::new(set.enabled().map(|t| t.name().to_owned()), hold)
}

impl Publishing {
    /// Loads `targets_file` (none: metrics-only), tells the store what to
    /// enqueue for, and starts the delivery workers. `hold` is how long a
    /// notification waits for its classification. With `simulation`, the
    /// targets are replaced by one recording publisher named `simulation`.
    pub(crate) async fn start_with(
        targets_file: Option<PathBuf>,
        simulation: bool,
        opened: Opened,
        hold: Duration,
    ) -> Result<Self, String> {
        let progress = Progress::default();
        // The workers settle through this, so the proxy hears of outcomes.
        let outbox: Arc<dyn Outbox> =
            Arc::new(SignalOutbox::new(opened.outbox(), progress.clone()));
        if simulation {
            let recorder = Arc::new(RecordingPublisher::new("simulation", 10_000));
            opened.set_outbox(OutboxOptions::new(["simulation"], hold));
            let deliverer = Deliverer::spawn(
                outbox,
                vec![DeliveryTarget::new(Arc::clone(&recorder) as _)],
                DeliveryConfig::new(worker_id()),
            );
            return Ok(Self {
                registry: None,
                simulation: Some(recorder),
                opened,
                deliverer,
                hold,
                progress,
            });
        }
        let registry = match targets_file {
            Some(path) => {
                let shown = path.display().to_string();
                let registry =
                    tokio::task::spawn_blocking(move || TargetRegistry::from_file(&path))
                        .await
                        .map_err(|e| format!("TARGETS_FILE {shown}: {e}"))?
                        .map_err(|e| format!("TARGETS_FILE {shown}: {e}"))?;
                Some(Arc::new(registry))
            }
            None => None,
        };
        let set = registry.as_ref().map(|r| r.current());
        let targets = set.as_deref().map(delivery_targets).unwrap_or_default();
        if let Some(set) = &set {
            opened.set_outbox(outbox_options(set, hold));
        }
        let deliverer = Deliverer::spawn(outbox, targets, DeliveryConfig::new(worker_id()));
        Ok(Self {
            registry,
            simulation: None,
            opened,
            deliverer,
            hold,
            progress,
        })
    }

    /// `normal` with at least one enabled target, else `metrics-only`
    /// (alerts are still stored and counted).
    pub(crate) fn mode(&self) -> &'static str {
        if self.simulation.is_some() {
            return "simulation";
        }
        if self
            .registry
            .as_ref()
            .is_some_and(|r| r.current().enabled().next().is_some())
        {
            "normal"
        } else {
            "metrics-only"
        }
    }

    /// The simulation recorder, when simulation mode is on.
    pub(crate) fn simulation(&self) -> Option<&RecordingPublisher> {
        self.simulation.as_deref()
    }

    /// Names of the enabled targets.
    pub(crate) fn enabled(&self) -> Vec<String> {
        if self.simulation.is_some() {
            return vec!["simulation".to_owned()];
        }
        self.registry
            .as_ref()
            .map(|r| r.current().enabled().map(|t| t.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// The targets with secrets redacted, and each one's breaker state.
    pub(crate) fn view(&self) -> serde_json::Value {
        let targets = self
            .registry
            .as_ref()
            .map(|r| serde_json::to_value(&*r.current()).unwrap_or_default())
            .unwrap_or_else(|| serde_json::json!([]));
        let breakers: serde_json::Map<String, serde_json::Value> = self
            .deliverer
            .targets()
            .into_iter()
            .map(|(name, state)| (name, state.as_str().into()))
            .collect();
        serde_json::json!({ "mode": self.mode(), "targets": targets, "breakers": breakers })
    }

    /// Signalled after every settle of the delivery workers.
    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The outbox (dead letters, queue depth).
    pub(crate) fn outbox(&self) -> Arc<dyn Outbox> {
        self.opened.outbox()
    }

    /// Re-reads `TARGETS_FILE`; on success the new set is enqueued for and
    /// delivered to, on failure the old set stays.
    pub(crate) async fn reload(&self) -> Result<ReloadSummary, String> {
        let Some(registry) = self.registry.clone() else {
            return Err("no TARGETS_FILE is configured".to_owned());
        };
        let summary = tokio::task::spawn_blocking(move || registry.reload())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(r) = &self.registry {
            let set = r.current();
            self.opened.set_outbox(outbox_options(&set, self.hold));
            self.deliverer.replace_targets(delivery_targets(&set)).await;
        }
        Ok(summary)
    }

    /// Finishes attempts in flight and hands back the other leases.
    pub(crate) async fn shutdown(&self) {
        self.deliverer.shutdown().await;
    }
}
