//! Scheduled retention: the server prunes its history store every
//! `retention.interval_seconds`, keeping `retention.days` (see
//! [`alertkit_store::RetentionPolicy`]: bounded batches, each its own short
//! transaction, so ingest is never held up for long). Replicas on one
//! Postgres may all prune; the deletes are safe side by side.

use std::time::Duration;

use alertkit_store::{PruneReport, RetentionPolicy};

use crate::config::Retention;
use crate::store::Opened;
use crate::telemetry;

/// Rows deleted by retention, by kind.
pub(crate) const PRUNED: &str = "alertkit_retention_pruned_total";

/// The store's policy for `retention` (`None`: keep everything).
pub(crate) fn policy(retention: Retention) -> Option<RetentionPolicy> {
    (retention.days > 0).then(|| RetentionPolicy::keep_days(retention.days))
}

/// Prunes `store` every `retention.every` (the first time after one
/// interval, at most a minute) until the task is aborted; nothing when
/// retention is off.
pub(crate) fn spawn(store: Opened, retention: Retention) -> Option<tokio::task::JoinHandle<()>> {
    let policy = policy(retention)?;
    let first = retention.every.min(Duration::from_secs(60));
    Some(tokio::spawn(async move {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + first, retention.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            prune_once(&store, &policy).await;
        }
    }))
}

/// One prune: counted, and logged when it deleted anything; a failure is
/// logged and counted, and the next interval tries again.
pub(crate) async fn prune_once(store: &Opened, policy: &RetentionPolicy) {
    match store.prune(policy).await {
        Ok(report) => record(&report),
        Err(e) => {
            telemetry::count_error("retention");
            tracing::warn!(error = %e, "retention failed; the next interval tries again");
        }
    }
}

fn record(r: &PruneReport) {
    let kinds = [
        ("events", r.events),
        ("alerts", r.alerts),
        ("outbox", r.outbox),
        ("delivery_log", r.delivery_log),
        ("dead_letters", r.dead_letters),
    ];
    for (kind, n) in kinds {
        metrics::counter!(PRUNED, "kind" => kind).increment(n);
    }
    if kinds.iter().any(|(_, n)| *n > 0) {
        tracing::info!(
            events = r.events,
            alerts = r.alerts,
            outbox = r.outbox,
            delivery_log = r.delivery_log,
            dead_letters = r.dead_letters,
            "retention pruned old history"
        );
    }
}
