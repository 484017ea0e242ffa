//! The engine: intake → record → classify → hand off.
//!
//! ```text
//!  Ingest::submit ─┐                      ┌─ ack (after commit)
//!  AlertSource ────┤► [queue] ► record ───┤
//!                  │   dedup, batched     └─► [queue] ► classify ► [queue] ► attach + Handoff
//!                  │   commit              (bounded concurrency,  (batched; the outbox seam)
//!                                           bounded wait)
//! ```
//!
//! With a [`Journal`](PipelineBuilder::journal) the record step is split in two:
//!
//! ```text
//!  [queue] ► intake ──────────► ack (after the journal append)
//!            dedup, one append  └─► [backlog] ► record ► consume ► classify …
//!            per group               (large batches; a crash's leftovers
//!                                     are replayed first)
//! ```
//!
//! - **Durability first.** A batch is acknowledged once it is committed: to
//!   history, or with a journal to the journal (history follows within one
//!   record cycle; [`Ingest::sync`] waits for it, [`Ingest::submit_recorded`]
//!   acknowledges only after it). Classification happens after, so a slow or dead classifier
//!   never slows an acknowledgement; notifications are handed off once
//!   classified or once [`PipelineConfig::classify_timeout`] runs out.
//! - **Idempotent intake.** An alert state (fingerprint, status, `startsAt`,
//!   `endsAt`) already committed within [`PipelineConfig::dedup_ttl`] is
//!   dropped before it reaches the store (Alertmanager HA sends each
//!   notification from every replica); the store is idempotent as well.
//! - **Backpressure.** Every queue is bounded. A full record queue (or a
//!   journal backlog of [`PipelineConfig::journal_backlog`] alerts) makes
//!   `submit` wait; a full classification queue sends notifications on
//!   unclassified rather than hold acknowledgements; a failing hand-off
//!   retries and, by filling its queue, slows intake.
//! - **Graceful shutdown.** [`Pipeline::shutdown`] stops intake, then drains
//!   every stage in order.
//!
//! Metrics (through the `metrics` facade): `alert_history_business_alerts_received_total`,
//! `alert_history_business_alert_processing_duration_seconds` (receipt to hand-off),
//! `alertkit_pipeline_duplicates_total`, `alertkit_pipeline_changes_total{kind}`,
//! `alertkit_pipeline_record_duration_seconds`, `alertkit_pipeline_journal_append_duration_seconds`,
//! `alertkit_pipeline_journal_replayed_total`, `alertkit_pipeline_dropped_total`, `alertkit_pipeline_classifications_total{outcome}`,
//! `alertkit_pipeline_handoff_total{outcome}`, `alertkit_pipeline_queue_depth{stage}`,
//! `alertkit_pipeline_unrecorded_alerts` (with a journal: appended, not yet in history).

mod dedup;
mod record;
mod stages;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::traits::Journal;
use crate::{AlertSource, Classifier, Handoff, HistoryStore, SourceBatch, StoreError};

/// Sizes, limits and timeouts of a [`Pipeline`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// Batches waiting to be recorded before `submit` waits.
    pub queue_capacity: usize,
    /// Most alerts recorded in one store call (queued batches are coalesced
    /// up to it; with a journal, also the most alerts in one journal entry).
    pub max_record_batch: usize,
    /// With a journal: most alerts appended but not yet recorded before
    /// `submit` waits.
    pub journal_backlog: usize,
    /// With a journal: how long `submit` waits for backlog room before it
    /// fails as overloaded (transient: HTTP 503, the sender retries).
    pub journal_backlog_wait: Duration,
    /// How long a committed alert state is remembered for duplicate detection.
    pub dedup_ttl: Duration,
    /// How many alert states are remembered for duplicate detection.
    pub dedup_capacity: u64,
    /// Classifications in flight at once.
    pub classify_concurrency: usize,
    /// Changes waiting for classification before they go on unclassified.
    pub classify_queue: usize,
    /// Longest wait for a classification before publishing without one.
    pub classify_timeout: Duration,
    /// Notifications waiting for hand-off.
    pub handoff_queue: usize,
    /// Most notifications handed off (and classifications attached) in one call.
    pub handoff_batch: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1024,
            max_record_batch: 4096,
            journal_backlog: 65_536,
            journal_backlog_wait: Duration::from_secs(5),
            dedup_ttl: Duration::from_secs(300),
            dedup_capacity: 200_000,
            classify_concurrency: 64,
            classify_queue: 16_384,
            classify_timeout: Duration::from_secs(10),
            handoff_queue: 16_384,
            handoff_batch: 4096,
        }
    }
}

/// Why a batch was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The pipeline is shutting down; send the batch elsewhere or later.
    #[error("pipeline is shutting down")]
    ShuttingDown,
    /// The history store failed; nothing of the batch was acknowledged.
    #[error("history store failed: {0}")]
    Store(Arc<StoreError>),
}

impl PipelineError {
    /// Whether sending the same batch again later may succeed (answer 503, not 400).
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::ShuttingDown => true,
            PipelineError::Store(e) => e.is_transient(),
        }
    }
}

/// What happened to a submitted batch, known once it is committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReceipt {
    /// Alerts in the batch.
    pub received: usize,
    /// Alerts dropped as duplicates of a recently committed state.
    pub duplicates: usize,
    /// Alerts that changed history; `None` when the batch was acknowledged
    /// on the journal append, before history was written.
    pub changed: Option<usize>,
}

/// When a submitter hears back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Once durable (journal or history).
    Durable,
    /// Once recorded in history.
    Recorded,
}

struct Job {
    batch: SourceBatch,
    received_at: time::OffsetDateTime,
    wait: Wait,
    reply: oneshot::Sender<Result<IngestReceipt, PipelineError>>,
}

/// Alerts acknowledged from the journal and not yet recorded in history
/// ([`Ingest::journal_backlog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalBacklog {
    /// Alerts appended and not yet recorded.
    pub unrecorded: usize,
    /// The most that may be (then submissions wait, and are refused as
    /// overloaded past [`PipelineConfig::journal_backlog_wait`]).
    pub limit: usize,
}

/// A cloneable handle to submit batches to a running [`Pipeline`].
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    /// With a journal: how far it is appended and recorded.
    progress: Option<Arc<record::Progress>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("queued_capacity_left", &self.tx.capacity())
            .finish()
    }
}

impl Ingest {
    /// Submits a batch and waits until it is durable: committed to history,
    /// or with a journal appended to it (then [`IngestReceipt::changed`] is
    /// `None`).
    ///
    /// Waits for queue space when the pipeline is saturated (backpressure).
    pub async fn submit(&self, batch: SourceBatch) -> Result<IngestReceipt, PipelineError> {
        self.send(batch, Wait::Durable).await
    }

    /// Submits a batch and waits until it is recorded in history, journal or
    /// not ([`IngestReceipt::changed`] is always `Some`).
    pub async fn submit_recorded(
        &self,
        batch: SourceBatch,
    ) -> Result<IngestReceipt, PipelineError> {
        self.send(batch, Wait::Recorded).await
    }

    /// Waits until every batch acknowledged before this call is recorded in
    /// history, so a history read that follows sees them (read-your-writes).
    /// Returns at once without a journal, and when the pipeline has stopped.
    pub async fn sync(&self) {
        let Some(progress) = &self.progress else {
            return;
        };
        let target = progress.appended.load(std::sync::atomic::Ordering::Acquire);
        let mut recorded = progress.recorded.subscribe();
        let _ = recorded
            .wait_for(|seq| seq.is_some_and(|seq| seq >= target))
            .await;
    }

    /// With a journal: the alerts acknowledged and not yet recorded in
    /// history, against the bound past which submissions are refused as
    /// overloaded ([`PipelineConfig::journal_backlog`]).
    pub fn journal_backlog(&self) -> Option<JournalBacklog> {
        self.progress.as_ref().map(|p| p.backlog.now())
    }

    async fn send(&self, batch: SourceBatch, wait: Wait) -> Result<IngestReceipt, PipelineError> {
        let received = batch.alerts.len();
        metrics::counter!("alert_history_business_alerts_received_total")
            .increment(received as u64);
        if received == 0 {
            return Ok(IngestReceipt {
                changed: Some(0),
                ..IngestReceipt::default()
            });
        }
        let (reply, rx) = oneshot::channel();
        let job = Job {
            batch,
            received_at: time::OffsetDateTime::now_utc(),
            wait,
            reply,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| PipelineError::ShuttingDown)?;
        rx.await.map_err(|_| PipelineError::ShuttingDown)?
    }
}

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    store: Arc<dyn HistoryStore>,
    handoff: Arc<dyn Handoff>,
    classifier: Option<Arc<dyn Classifier>>,
    journal: Option<Arc<dyn Journal>>,
    config: PipelineConfig,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field(
                "classifier",
                &self.classifier.as_ref().map(|c| c.id().to_owned()),
            )
            .field("journal", &self.journal.is_some())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// Classifies notifiable changes with `classifier` (without one, alerts are published as received).
    #[must_use]
    pub fn classifier(mut self, classifier: Arc<dyn Classifier>) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// Acknowledges batches once appended to `journal` and records them into
    /// history afterwards, in larger batches (see the [module docs](self)).
    /// Entries a crash left in the journal are recorded when the pipeline starts.
    #[must_use]
    pub fn journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Replaces the configuration.
    #[must_use]
    pub fn config(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the stages on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(self) -> Pipeline {
        let cfg = self.config;
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let (classify_tx, classify_rx) = mpsc::channel(cfg.classify_queue.max(1));
        let (handoff_tx, handoff_rx) = mpsc::channel(cfg.handoff_queue.max(1));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);

        let seen = dedup::RecentStates::new(
            cfg.dedup_ttl,
            usize::try_from(cfg.dedup_capacity).unwrap_or(usize::MAX),
        );
        let forward = record::Forward {
            classifier: self.classifier.clone(),
            classify_tx: self.classifier.is_some().then_some(classify_tx),
            handoff_tx: handoff_tx.clone(),
        };
        let max_batch = cfg.max_record_batch.max(1);
        let mut tasks = Vec::new();
        let mut progress = None;
        if let Some(journal) = self.journal {
            let shared = Arc::new(record::Progress {
                appended: 0.into(),
                recorded: watch::Sender::new(None),
                read: watch::Sender::new(false),
                backlog: record::Backlog::new(cfg.journal_backlog),
            });
            let (entries_tx, entries_rx) = mpsc::unbounded_channel();
            let intake = record::Intake {
                journal: Arc::clone(&journal),
                seen,
                max_batch,
                backlog_wait: cfg.journal_backlog_wait,
                progress: Arc::clone(&shared),
                entries: entries_tx,
            };
            let recorder = record::Journaled {
                store: Arc::clone(&self.store),
                journal,
                max_batch,
                progress: Arc::clone(&shared),
                forward,
                shutdown: shutdown_rx.clone(),
            };
            tasks.push(tokio::spawn(intake.run(rx, shutdown_rx.clone())));
            tasks.push(tokio::spawn(recorder.run(entries_rx)));
            progress = Some(shared);
        } else {
            let recorder = record::Direct {
                store: Arc::clone(&self.store),
                seen,
                max_batch,
                forward,
            };
            // Records, acknowledges and forwards: the history writer.
            tasks.push(stages::spawn_on_own_thread(
                "alertkit-history",
                recorder.run(rx, shutdown_rx.clone()),
            ));
        }
        if let Some(classifier) = self.classifier {
            tasks.push(tokio::spawn(stages::classify(
                classifier,
                classify_rx,
                handoff_tx,
                cfg.classify_concurrency.max(1),
                cfg.classify_timeout,
            )));
        } else {
            drop((classify_rx, handoff_tx));
        }
        tasks.push(tokio::spawn(stages::hand_off(
            self.store,
            self.handoff,
            handoff_rx,
            cfg.handoff_batch.max(1),
            shutdown_rx.clone(),
        )));
        Pipeline {
            ingest: Ingest { tx, progress },
            shutdown: shutdown_tx,
            shutdown_rx,
            tasks,
        }
    }
}

/// A running pipeline. See the [module docs](self).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use alertkit_core::{Alert, LabelSet, Origin, SourceBatch};
/// use alertkit_core::layer::{DirectHandoff, FanOut};
/// use alertkit_core::memory::{MemoryHistoryStore, RecordingPublisher};
/// use alertkit_core::pipeline::Pipeline;
/// use time::OffsetDateTime;
///
/// let store = Arc::new(MemoryHistoryStore::default());
/// let sink = Arc::new(RecordingPublisher::new("sink", 100));
/// let handoff = Arc::new(DirectHandoff::new(FanOut::new().with_publisher(sink.clone())));
/// let pipeline = Pipeline::builder(store, handoff).spawn();
///
/// let alert = Alert::firing(LabelSet::from_pairs([("alertname", "Up")]), OffsetDateTime::now_utc());
/// let batch = SourceBatch::new(Origin::named("example"), vec![alert]);
/// let receipt = pipeline.ingest().submit(batch.clone()).await.unwrap();
/// assert_eq!(receipt.changed, Some(1));
/// let again = pipeline.ingest().submit(batch).await.unwrap();
/// assert_eq!(again.duplicates, 1);
/// // No journal: every acknowledgement waited for the history commit.
/// assert!(pipeline.ingest().journal_backlog().is_none());
///
/// pipeline.shutdown().await;
/// assert_eq!(sink.notifications().len(), 1);
/// # });
/// ```
#[derive(Debug)]
pub struct Pipeline {
    ingest: Ingest,
    shutdown: watch::Sender<bool>,
    shutdown_rx: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// A builder recording into `store` and handing notifications to `handoff`.
    pub fn builder(store: Arc<dyn HistoryStore>, handoff: Arc<dyn Handoff>) -> PipelineBuilder {
        PipelineBuilder {
            store,
            handoff,
            classifier: None,
            journal: None,
            config: PipelineConfig::default(),
        }
    }

    /// A handle to submit batches.
    pub fn ingest(&self) -> Ingest {
        self.ingest.clone()
    }

    /// Pulls batches from `source` until it is exhausted or the pipeline shuts
    /// down, committing each upstream once it is recorded. Transient failures
    /// (source or store) are retried with capped exponential backoff.
    pub fn run_source<S: AlertSource>(&self, source: S) -> JoinHandle<()> {
        tokio::spawn(stages::pull(
            source,
            self.ingest(),
            self.shutdown_rx.clone(),
        ))
    }

    /// Stops accepting batches, drains every stage, and waits for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        drop(self.ingest);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "pipeline stage ended abnormally");
            }
        }
    }
}
