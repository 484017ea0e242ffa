//! The pipeline's stage loops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use super::{Ingest, PipelineError};
use crate::{
    AlertSource, Classification, Classifier, ClassifyError, Handoff, HistoryStore, Notification,
    StateKey,
};

/// Capped exponential backoff for retrying transient failures.
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub(super) async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }
}

/// Runs a history-writing stage: on a multi-thread runtime on an OS thread
/// of its own (`name`), polled there by [`Handle::block_on`] so its timers
/// and sockets still belong to the runtime; elsewhere (a current-thread
/// runtime, whose timers only its own `block_on` drives) as a task, as it
/// does if the thread cannot start. The handle ends when the stage does; a
/// panic on the thread is logged.
///
/// Under load the runtime's workers hold hundreds of HTTP tasks: as one task
/// among them the writer waited its turn after every statement, while
/// SQLite's thread sat idle for a third of the time. With a thread of its
/// own it competes for a core as one thread among a handful (the server's
/// maximum +6 %; BENCHMARKS.md, seventh session).
///
/// [`Handle::block_on`]: tokio::runtime::Handle::block_on
pub(super) fn spawn_on_own_thread(
    name: &'static str,
    stage: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return tokio::spawn(stage);
    }
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    // Handed back if the thread cannot start, to run as a task instead.
    let slot = Arc::new(std::sync::Mutex::new(Some(Box::pin(stage))));
    let theirs = Arc::clone(&slot);
    let started = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let stage = theirs.lock().ok().and_then(|mut s| s.take());
            if let Some(stage) = stage {
                handle.block_on(stage);
            }
            let _ = done.send(());
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, thread = name, "cannot start a pipeline thread; running its stage as a task");
        if let Some(stage) = slot.lock().ok().and_then(|mut s| s.take()) {
            return tokio::spawn(stage);
        }
    }
    tokio::spawn(async move {
        if finished.await.is_err() {
            tracing::error!(
                thread = name,
                "pipeline stage ended abnormally: its thread panicked"
            );
        }
    })
}

// --- classify ----------------------------------------------------------------

/// Classifies with bounded concurrency and a bounded wait; always forwards.
pub(super) async fn classify(
    classifier: Arc<dyn Classifier>,
    rx: mpsc::Receiver<Notification>,
    handoff_tx: mpsc::Sender<Ready>,
    concurrency: usize,
    timeout: Duration,
) {
    let notifications =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|n| (n, rx)) });
    let classified = notifications
        .map(|n| {
            let classifier = Arc::clone(&classifier);
            async move {
                let start = Instant::now();
                let result = {
                    let mut verdict = classifier.classify(&n.alert);
                    // A classifier that answers at once (rules) needs no timer.
                    match (&mut verdict).now_or_never() {
                        Some(done) => Ok(done),
                        None => tokio::time::timeout(timeout, verdict).await,
                    }
                };
                metrics::histogram!("alertkit_pipeline_classify_duration_seconds")
                    .record(start.elapsed().as_secs_f64());
                match result {
                    Ok(Ok(c)) => {
                        metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "ok").increment(1);
                        n.with_classification(Arc::new(c))
                    }
                    Ok(Err(ClassifyError::Skipped(_))) => {
                        metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "skipped").increment(1);
                        n
                    }
                    Ok(Err(e)) => {
                        metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "error").increment(1);
                        tracing::debug!(fingerprint = %n.alert.fingerprint(), error = %e, "classification failed; publishing without");
                        n
                    }
                    Err(_) => {
                        metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "timeout").increment(1);
                        n
                    }
                }
            }
        })
        .buffer_unordered(concurrency);
    let mut classified = std::pin::pin!(classified);
    while let Some(n) = classified.next().await {
        if handoff_tx.send(Ready::new(n)).await.is_err() {
            tracing::error!("hand-off stage is gone; notification dropped");
        }
    }
}

// --- hand off ------------------------------------------------------------------

/// Attaches classifications to history and hands notifications off, in batches,
/// retrying transient failures.
pub(super) async fn hand_off(
    store: Arc<dyn HistoryStore>,
    handoff: Arc<dyn Handoff>,
    mut rx: mpsc::Receiver<Ready>,
    max_batch: usize,
    shutdown: watch::Receiver<bool>,
) {
    let mut ready = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut ready, max_batch).await > 0 {
        metrics::gauge!("alertkit_pipeline_queue_depth", "stage" => "handoff").set(rx.len() as f64);
        let now = OffsetDateTime::now_utc();
        let classified: Vec<(StateKey, Arc<Classification>)> = ready
            .iter()
            .filter(|r| !r.attached)
            .filter_map(|r| {
                r.n.classification
                    .as_ref()
                    .map(|c| (r.n.alert.state_key(), Arc::clone(c)))
            })
            .collect();
        let batch: Vec<Notification> = ready.drain(..).map(|r| r.n).collect();
        if !classified.is_empty()
            && let Err(e) = store.attach_classifications(&classified, now).await
        {
            // The verdict travels with the notification anyway; history misses it.
            tracing::warn!(error = %e, "could not attach classifications to history");
        }
        let count = batch.len();
        let mut backoff = Backoff::new();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match handoff.hand_off(&batch).await {
                Ok(()) => {
                    metrics::counter!("alertkit_pipeline_handoff_total", "outcome" => "ok")
                        .increment(count as u64);
                    let done = OffsetDateTime::now_utc();
                    let latency = metrics::histogram!(
                        "alert_history_business_alert_processing_duration_seconds"
                    );
                    for n in &batch {
                        latency.record((done - n.received_at).as_seconds_f64().max(0.0));
                    }
                    break;
                }
                Err(e) if e.is_transient() && !(*shutdown.borrow() && attempts >= 3) => {
                    tracing::warn!(error = %e, attempts, "hand-off failed; retrying");
                    backoff.wait().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, notifications = count, "hand-off failed for good; notifications dropped");
                    metrics::counter!("alertkit_pipeline_handoff_total", "outcome" => "dropped")
                        .increment(count as u64);
                    break;
                }
            }
        }
    }
}

/// A notification on its way to the hand-off.
pub(super) struct Ready {
    pub(super) n: Notification,
    /// Its classification is already in history (recorded with the change).
    pub(super) attached: bool,
}

impl Ready {
    /// A notification whose classification (if any) history does not have yet.
    pub(super) fn new(n: Notification) -> Self {
        Self { n, attached: false }
    }
}

// --- pull sources ------------------------------------------------------------

/// Feeds a pull-based source into the pipeline until it ends or shutdown.
pub(super) async fn pull<S: AlertSource>(
    mut source: S,
    ingest: Ingest,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    loop {
        let next = tokio::select! {
            next = source.next_batch() => next,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let batch = match next {
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(e) if e.is_transient() => {
                tracing::warn!(source = source.name(), error = %e, "source unavailable; retrying");
                backoff.wait().await;
                continue;
            }
            Err(e) => {
                tracing::warn!(source = source.name(), error = %e, "skipping invalid batch");
                continue;
            }
        };
        loop {
            match ingest.submit(batch.clone()).await {
                Ok(_) => {
                    backoff = Backoff::new();
                    if let Err(e) = source.commit().await {
                        tracing::warn!(source = source.name(), error = %e, "could not commit upstream");
                    }
                    break;
                }
                Err(PipelineError::ShuttingDown) => return,
                Err(e) => {
                    tracing::warn!(source = source.name(), error = %e, "batch not recorded; retrying");
                    backoff.wait().await;
                }
            }
        }
    }
}
