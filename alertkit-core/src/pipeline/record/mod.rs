//! The record stage, and with a [`Journal`](crate::traits::Journal) the intake stage in front of it.
//!
//! Without a journal, one task takes queued batches, drops duplicates,
//! records them in one store call and acknowledges them ([`Direct`]).
//!
//! With a journal, the intake task ([`Intake`]) drops duplicates, appends the
//! group to the journal and acknowledges it; the record task ([`Journaled`])
//! replays what a crash left in the journal, then records appended entries in
//! larger batches, consumes them, and answers the batches that asked to wait
//! for the history commit.

mod journaled;

pub(super) use journaled::{Backlog, Intake, Journaled, Progress};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxBuildHasher;
use tokio::sync::{mpsc, oneshot, watch};

use super::dedup::RecentStates;
use super::stages::Ready;
use super::{IngestReceipt, Job, PipelineError};
use crate::{
    Classification, Classifier, ClassifyError, EventKind, HistoryStore, Notification, Receipt,
    StateKey, StoreError,
};

type Reply = oneshot::Sender<Result<IngestReceipt, PipelineError>>;

/// Verdicts known before the history write, and where recorded changes go
/// next (classification, else hand-off).
pub(super) struct Forward {
    pub(super) classifier: Option<Arc<dyn Classifier>>,
    pub(super) classify_tx: Option<mpsc::Sender<Notification>>,
    pub(super) handoff_tx: mpsc::Sender<Ready>,
}

/// What the classifier said before the history write.
enum Inline {
    /// Nothing yet: the classify stage asks.
    Later,
    /// This verdict, recorded with the change.
    Verdict(Arc<Classification>),
    /// The classifier declines (a transparent mode): published without one.
    Skipped,
}

impl Forward {
    /// Asks the classifier for verdicts it knows at once (rules, cache
    /// hits), yielding every few alerts: thousands of rule verdicts are tens
    /// of milliseconds of CPU, which must not hold a worker that also
    /// answers senders.
    async fn inline(&self, receipts: &[Receipt]) -> Vec<Inline> {
        let Some(classifier) = &self.classifier else {
            return Vec::new();
        };
        let took = metrics::histogram!("alertkit_pipeline_classify_duration_seconds");
        let mut out = Vec::with_capacity(receipts.len());
        for (i, r) in receipts.iter().enumerate() {
            if i % 64 == 63 {
                tokio::task::yield_now().await;
            }
            let start = Instant::now();
            out.push(match classifier.try_classify_now(&r.alert) {
                Some(Ok(c)) => Inline::Verdict(Arc::new(c)),
                Some(Err(ClassifyError::Skipped(_))) => Inline::Skipped,
                Some(Err(_)) | None => {
                    out.push(Inline::Later);
                    continue;
                }
            });
            took.record(start.elapsed().as_secs_f64());
        }
        out
    }

    async fn send(&self, n: Notification, inline: Option<&Inline>) {
        match inline {
            Some(Inline::Verdict(c)) => {
                metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "ok")
                    .increment(1);
                let ready = Ready {
                    n: n.with_classification(Arc::clone(c)),
                    attached: true,
                };
                return self.hand_off(ready).await;
            }
            Some(Inline::Skipped) => {
                metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "skipped")
                    .increment(1);
                return self.hand_off(Ready::new(n)).await;
            }
            Some(Inline::Later) | None => {}
        }
        let n = match &self.classify_tx {
            Some(tx) => match tx.try_send(n) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(n)) => {
                    metrics::counter!("alertkit_pipeline_classifications_total", "outcome" => "skipped_overload").increment(1);
                    n
                }
                Err(mpsc::error::TrySendError::Closed(n)) => n,
            },
            None => n,
        };
        self.hand_off(Ready::new(n)).await;
    }

    async fn hand_off(&self, ready: Ready) {
        if self.handoff_tx.send(ready).await.is_err() {
            tracing::error!("hand-off stage is gone; notification dropped");
        }
    }
}

/// Receives the next job, or `None` once the queue is closed and drained;
/// on shutdown it closes the queue and keeps draining.
async fn next_job(
    rx: &mut mpsc::Receiver<Job>,
    shutdown: &mut watch::Receiver<bool>,
    closing: &mut bool,
) -> Option<Job> {
    loop {
        if *closing {
            return rx.recv().await;
        }
        tokio::select! {
            job = rx.recv() => return job,
            _ = shutdown.wait_for(|stop| *stop) => {
                // Refuse new batches, then drain the queued ones.
                *closing = true;
                rx.close();
            }
        }
    }
}

/// The next group of queued jobs with something to write; groups of only
/// duplicates are answered on the way. `None` once the queue is drained.
async fn next_group(
    rx: &mut mpsc::Receiver<Job>,
    shutdown: &mut watch::Receiver<bool>,
    closing: &mut bool,
    max_batch: usize,
    seen: &RecentStates,
) -> Option<Group> {
    loop {
        let first = next_job(rx, shutdown, closing).await?;
        let group = Group::dedup(Group::take(first, rx, max_batch), seen);
        if !group.receipts.is_empty() {
            return Some(group);
        }
        reply_all(group, |_| Some(0));
    }
}

/// Queued jobs taken together, their alerts deduplicated into receipts.
struct Group {
    jobs: Vec<Job>,
    receipts: Vec<Receipt>,
    /// For each receipt, the job it came from and its state key.
    owners: Vec<(usize, StateKey)>,
    duplicates: Vec<usize>,
}

impl Group {
    /// `first` and whatever is queued behind it, up to `max` alerts.
    fn take(first: Job, rx: &mut mpsc::Receiver<Job>, max: usize) -> Vec<Job> {
        let mut alerts = first.batch.alerts.len();
        let mut jobs = vec![first];
        while alerts < max {
            match rx.try_recv() {
                Ok(job) => {
                    alerts += job.batch.alerts.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        metrics::gauge!("alertkit_pipeline_queue_depth", "stage" => "record").set(rx.len() as f64);
        jobs
    }

    /// Drops alert states recorded recently (`seen`) or repeated within the jobs.
    fn dedup(jobs: Vec<Job>, seen: &RecentStates) -> Self {
        let mut receipts = Vec::new();
        let mut owners = Vec::new();
        let mut duplicates = vec![0usize; jobs.len()];
        let mut batch_keys = HashSet::with_hasher(FxBuildHasher);
        for (j, job) in jobs.iter().enumerate() {
            for alert in &job.batch.alerts {
                let key = alert.state_key();
                if seen.contains(&key) || !batch_keys.insert(key) {
                    duplicates[j] += 1;
                    continue;
                }
                receipts.push(
                    Receipt::new(alert.clone(), job.received_at)
                        .with_origin(Arc::clone(&job.batch.origin)),
                );
                owners.push((j, key));
            }
        }
        let dup_total: usize = duplicates.iter().sum();
        metrics::counter!("alertkit_pipeline_duplicates_total").increment(dup_total as u64);
        Self {
            jobs,
            receipts,
            owners,
            duplicates,
        }
    }

    /// Writes the receipts with `write`. When that fails for invalid input
    /// and several jobs share the group, each job is written on its own, so
    /// one sender's bad alert fails only its own batch. Returns, per part
    /// written, the jobs and what `write` returned.
    async fn write_isolated<T, F, Fut>(mut self, mut write: F) -> Vec<(Self, Result<T, StoreError>)>
    where
        F: FnMut(Vec<Receipt>) -> Fut,
        Fut: Future<Output = (Vec<Receipt>, Result<T, StoreError>)>,
    {
        let (receipts, result) = write(std::mem::take(&mut self.receipts)).await;
        self.receipts = receipts;
        match result {
            Err(e) if !e.is_transient() && self.jobs.len() > 1 => {
                let mut parts = Vec::new();
                for mut part in self.split() {
                    if part.receipts.is_empty() {
                        // Only duplicates: nothing to write.
                        reply_all(part, |_| Some(0));
                        continue;
                    }
                    let (receipts, result) = write(std::mem::take(&mut part.receipts)).await;
                    part.receipts = receipts;
                    parts.push((part, result));
                }
                parts
            }
            result => vec![(self, result)],
        }
    }

    /// One group per job.
    fn split(self) -> Vec<Self> {
        let mut parts: Vec<Self> = self
            .jobs
            .into_iter()
            .zip(self.duplicates)
            .map(|(job, dups)| Self {
                jobs: vec![job],
                receipts: Vec::new(),
                owners: Vec::new(),
                duplicates: vec![dups],
            })
            .collect();
        for (receipt, (j, key)) in self.receipts.into_iter().zip(self.owners) {
            parts[j].receipts.push(receipt);
            parts[j].owners.push((0, key));
        }
        parts
    }

    fn fail(self, e: &Arc<StoreError>) {
        for job in self.jobs {
            let _ = job.reply.send(Err(PipelineError::Store(Arc::clone(e))));
        }
    }
}

/// Records `receipts` in one store call, timed, with the verdicts of
/// `inline` (empty, or one per receipt) when there are any.
async fn record(
    store: &dyn HistoryStore,
    receipts: Vec<Receipt>,
    inline: &[Inline],
) -> (Vec<Receipt>, Result<Vec<Option<EventKind>>, StoreError>) {
    let start = Instant::now();
    let verdicts: Vec<Option<Arc<Classification>>> = inline
        .iter()
        .map(|i| match i {
            Inline::Verdict(c) => Some(Arc::clone(c)),
            Inline::Later | Inline::Skipped => None,
        })
        .collect();
    let outcome = if verdicts.iter().any(Option::is_some) {
        store.record_classified(&receipts, &verdicts).await
    } else {
        store.record(&receipts).await
    };
    metrics::histogram!("alertkit_pipeline_record_duration_seconds")
        .record(start.elapsed().as_secs_f64());
    (receipts, outcome.map(|o| o.changes))
}

/// Counts changes per owner (`owners[i]` owns receipt `i`), records the
/// change metrics and returns the notifications to forward, each with its
/// receipt's index.
fn changes(
    receipts: Vec<Receipt>,
    owners: impl Iterator<Item = usize>,
    changes: Vec<Option<EventKind>>,
    changed: &mut [usize],
) -> Vec<(usize, Notification)> {
    let mut by_kind = [0u64; EventKind::ALL.len()];
    let mut notifications = Vec::new();
    for (i, ((receipt, owner), change)) in receipts.into_iter().zip(owners).zip(changes).enumerate()
    {
        let Some(kind) = change else { continue };
        if let Some(c) = changed.get_mut(owner) {
            *c += 1;
        }
        by_kind[kind as usize] += 1;
        if kind.is_notifiable() {
            let origin = receipt.origin.unwrap_or_default();
            let mut n = Notification::new(receipt.alert, kind, origin);
            n.received_at = receipt.received_at;
            notifications.push((i, n));
        }
    }
    for (kind, n) in EventKind::ALL.into_iter().zip(by_kind) {
        if n > 0 {
            metrics::counter!("alertkit_pipeline_changes_total", "kind" => kind.as_str())
                .increment(n);
        }
    }
    notifications
}

// --- without a journal ---------------------------------------------------------

/// Dedups, records (batched), acknowledges, and forwards changes.
pub(super) struct Direct {
    pub(super) store: Arc<dyn HistoryStore>,
    pub(super) seen: RecentStates,
    pub(super) max_batch: usize,
    pub(super) forward: Forward,
}

impl Direct {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut closing = false;
        while let Some(group) = next_group(
            &mut rx,
            &mut shutdown,
            &mut closing,
            self.max_batch,
            &self.seen,
        )
        .await
        {
            let store = &*self.store;
            let forward = &self.forward;
            let parts = group
                .write_isolated(|r| async move {
                    let inline = forward.inline(&r).await;
                    let (r, result) = record(store, r, &inline).await;
                    (r, result.map(|changes| (changes, inline)))
                })
                .await;
            for (mut part, result) in parts {
                match result {
                    Ok((outcome, inline)) => {
                        for (_, key) in &part.owners {
                            self.seen.insert(*key);
                        }
                        let mut changed = vec![0; part.jobs.len()];
                        let owners = part.owners.iter().map(|&(j, _)| j);
                        let receipts = std::mem::take(&mut part.receipts);
                        let notifications = changes(receipts, owners, outcome, &mut changed);
                        // Committed: acknowledge before anything slow happens.
                        reply_all(part, |j| Some(changed[j]));
                        for (i, n) in notifications {
                            self.forward.send(n, inline.get(i)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, alerts = part.receipts.len(), "history write failed; batches not acknowledged");
                        part.fail(&Arc::new(e));
                    }
                }
            }
        }
    }
}

/// Acknowledges every job of `group`, `changed(j)` giving job `j`'s count.
fn reply_all(group: Group, changed: impl Fn(usize) -> Option<usize>) {
    for (j, (job, duplicates)) in group.jobs.into_iter().zip(group.duplicates).enumerate() {
        let _ = job.reply.send(Ok(IngestReceipt {
            received: job.batch.alerts.len(),
            duplicates,
            changed: changed(j),
        }));
    }
}
