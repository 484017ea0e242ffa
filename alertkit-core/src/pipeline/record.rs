//! The record stage, and with a [`Journal`] the intake stage in front of it.
//!
//! Without a journal, one task takes queued batches, drops duplicates,
//! records them in one store call and acknowledges them ([`Direct`]).
//!
//! With a journal, the intake task ([`Intake`]) drops duplicates, appends the
//! group to the journal and acknowledges it; the record task ([`Journaled`])
//! replays what a crash left in the journal, then records appended entries in
//! larger batches, consumes them, and answers the batches that asked to wait
//! for the history commit.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxBuildHasher;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::dedup::RecentStates;
use super::stages::{Backoff, Ready};
use super::{IngestReceipt, Job, PipelineError, Wait};
use crate::traits::Journal;
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
    async fn write_isolated<T, F, Fut>(self, mut write: F) -> Vec<(Self, Result<T, StoreError>)>
    where
        F: FnMut(Vec<Receipt>) -> Fut,
        Fut: Future<Output = (Vec<Receipt>, Result<T, StoreError>)>,
    {
        if self.receipts.is_empty() {
            return Vec::new();
        }
        let Self {
            jobs,
            receipts,
            owners,
            duplicates,
        } = self;
        let (receipts, result) = write(receipts).await;
        let whole = Self {
            jobs,
            receipts,
            owners,
            duplicates,
        };
        match result {
            Err(e) if !e.is_transient() && whole.jobs.len() > 1 => {
                let mut parts = Vec::new();
                for part in whole.split() {
                    if part.receipts.is_empty() {
                        // Only duplicates: nothing to write.
                        reply_all(part, |_| Some(0));
                        continue;
                    }
                    let Self {
                        jobs,
                        receipts,
                        owners,
                        duplicates,
                    } = part;
                    let (receipts, result) = write(receipts).await;
                    parts.push((
                        Self {
                            jobs,
                            receipts,
                            owners,
                            duplicates,
                        },
                        result,
                    ));
                }
                parts
            }
            result => vec![(whole, result)],
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
        while let Some(first) = next_job(&mut rx, &mut shutdown, &mut closing).await {
            let jobs = Group::take(first, &mut rx, self.max_batch);
            let group = Group::dedup(jobs, &self.seen);
            if group.receipts.is_empty() {
                reply_all(group, |_| Some(0));
                continue;
            }
            let store = &*self.store;
            let forward = &self.forward;
            let parts = group
                .write_isolated(|r| async move {
                    let inline = forward.inline(&r).await;
                    let (r, result) = record(store, r, &inline).await;
                    (r, result.map(|changes| (changes, inline)))
                })
                .await;
            for (part, result) in parts {
                match result {
                    Ok((outcome, inline)) => {
                        for (_, key) in &part.owners {
                            self.seen.insert(*key);
                        }
                        let mut changed = vec![0; part.jobs.len()];
                        let Group {
                            jobs,
                            receipts,
                            owners,
                            duplicates,
                        } = part;
                        let owners = owners.into_iter().map(|(j, _)| j);
                        let notifications = changes(receipts, owners, outcome, &mut changed);
                        // Committed: acknowledge before anything slow happens.
                        reply_all(
                            Group {
                                jobs,
                                receipts: Vec::new(),
                                owners: Vec::new(),
                                duplicates,
                            },
                            |j| Some(changed[j]),
                        );
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

// --- with a journal --------------------------------------------------------------

/// How far the journal has been appended and recorded, for
/// [`Ingest::sync`](super::Ingest::sync).
#[derive(Debug)]
pub(super) struct Progress {
    /// The last sequence number appended (and acknowledged).
    pub(super) appended: std::sync::atomic::AtomicU64,
    /// The last sequence number recorded into history, once the entries a
    /// crash left are replayed (`None` before).
    pub(super) recorded: watch::Sender<Option<u64>>,
}

/// A journal entry on its way to the record stage.
pub(super) struct Entry {
    seq: u64,
    receipts: Vec<Receipt>,
    /// The job (index into `waiting`) each receipt came from.
    owners: Vec<usize>,
    /// Jobs that wait for the history commit ([`Wait::Recorded`]), with
    /// their received and duplicate counts.
    waiting: Vec<Option<(Reply, usize, usize)>>,
    _backlog: Option<OwnedSemaphorePermit>,
}

/// Dedups, appends to the journal, acknowledges, and passes entries on.
pub(super) struct Intake {
    pub(super) journal: Arc<dyn Journal>,
    pub(super) seen: RecentStates,
    pub(super) max_batch: usize,
    pub(super) backlog: Arc<Semaphore>,
    pub(super) backlog_limit: usize,
    pub(super) backlog_wait: std::time::Duration,
    pub(super) progress: Arc<Progress>,
    pub(super) entries: mpsc::UnboundedSender<Entry>,
}

impl Intake {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut closing = false;
        while let Some(first) = next_job(&mut rx, &mut shutdown, &mut closing).await {
            let jobs = Group::take(first, &mut rx, self.max_batch);
            let group = Group::dedup(jobs, &self.seen);
            if group.receipts.is_empty() {
                reply_all(group, |_| Some(0));
                continue;
            }
            // Backpressure: at most `backlog_limit` alerts appended but not
            // recorded; past `backlog_wait` the senders hear "overloaded" (503).
            let want =
                u32::try_from(group.receipts.len().min(self.backlog_limit)).unwrap_or(u32::MAX);
            let acquire = Arc::clone(&self.backlog).acquire_many_owned(want);
            let permit = match tokio::time::timeout(self.backlog_wait, acquire).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(
                        alerts = group.receipts.len(),
                        "journal backlog full: history is not keeping up"
                    );
                    group.fail(&Arc::new(StoreError::Overloaded));
                    continue;
                }
            };
            let mut permit = Some(permit);
            let journal = &*self.journal;
            let parts = group
                .write_isolated(|receipts| async move {
                    let start = Instant::now();
                    let seq = journal.append(&receipts).await;
                    metrics::histogram!("alertkit_pipeline_journal_append_duration_seconds")
                        .record(start.elapsed().as_secs_f64());
                    (receipts, seq)
                })
                .await;
            for (part, result) in parts {
                match result {
                    Ok(seq) => self.accept(part, seq, permit.take()),
                    Err(e) => {
                        tracing::warn!(error = %e, alerts = part.receipts.len(), "journal append failed; batches not acknowledged");
                        part.fail(&Arc::new(e));
                    }
                }
            }
        }
    }

    /// Acknowledges (or parks until recorded) the jobs of an appended group.
    fn accept(&mut self, group: Group, seq: u64, permit: Option<OwnedSemaphorePermit>) {
        for (_, key) in &group.owners {
            self.seen.insert(*key);
        }
        self.progress
            .appended
            .fetch_max(seq, std::sync::atomic::Ordering::AcqRel);
        let mut waiting = Vec::with_capacity(group.jobs.len());
        for (job, duplicates) in group.jobs.into_iter().zip(group.duplicates) {
            let received = job.batch.alerts.len();
            match job.wait {
                Wait::Recorded => waiting.push(Some((job.reply, received, duplicates))),
                Wait::Durable => {
                    let _ = job.reply.send(Ok(IngestReceipt {
                        received,
                        duplicates,
                        changed: None,
                    }));
                    waiting.push(None);
                }
            }
        }
        let entry = Entry {
            seq,
            receipts: group.receipts,
            owners: group.owners.into_iter().map(|(j, _)| j).collect(),
            waiting,
            _backlog: permit,
        };
        if self.entries.send(entry).is_err() {
            tracing::error!("record stage is gone; the journal keeps the entry for the next start");
        }
    }
}

/// Records journal entries: first what a crash left, then what `Intake` appends.
pub(super) struct Journaled {
    pub(super) store: Arc<dyn HistoryStore>,
    pub(super) journal: Arc<dyn Journal>,
    pub(super) max_batch: usize,
    pub(super) progress: Arc<Progress>,
    pub(super) forward: Forward,
    pub(super) shutdown: watch::Receiver<bool>,
}

impl Journaled {
    pub(super) async fn run(self, mut rx: mpsc::UnboundedReceiver<Entry>) {
        self.replay().await;
        self.progress
            .recorded
            .send_modify(|r| *r = Some(r.unwrap_or(0)));
        let mut entries = Vec::new();
        while rx.recv_many(&mut entries, 64).await > 0 {
            // Coalesce up to `max_batch` alerts per store call.
            let mut alerts: usize = entries.iter().map(|e| e.receipts.len()).sum();
            while alerts < self.max_batch {
                match rx.try_recv() {
                    Ok(e) => {
                        alerts += e.receipts.len();
                        entries.push(e);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!("alertkit_pipeline_queue_depth", "stage" => "journal")
                .set(rx.len() as f64);
            self.record_entries(std::mem::take(&mut entries)).await;
        }
    }

    /// Records what the journal still holds from an earlier run.
    async fn replay(&self) {
        let mut backoff = Backoff::new();
        let entries = loop {
            match self.journal.unconsumed().await {
                Ok(entries) => break entries,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the journal; retrying");
                    if *self.shutdown.borrow() {
                        return;
                    }
                    backoff.wait().await;
                }
            }
        };
        if entries.is_empty() {
            return;
        }
        let alerts: usize = entries.iter().map(|e| e.receipts.len()).sum();
        tracing::info!(
            entries = entries.len(),
            alerts,
            "replaying the journal into history"
        );
        metrics::counter!("alertkit_pipeline_journal_replayed_total").increment(alerts as u64);
        let mut batch = Vec::new();
        let mut size = 0;
        for e in entries {
            size += e.receipts.len();
            batch.push(Entry {
                seq: e.seq,
                owners: Vec::new(),
                receipts: e.receipts,
                waiting: Vec::new(),
                _backlog: None,
            });
            if size >= self.max_batch {
                self.record_entries(std::mem::take(&mut batch)).await;
                size = 0;
            }
        }
        if !batch.is_empty() {
            self.record_entries(batch).await;
        }
    }

    async fn record_entries(&self, entries: Vec<Entry>) {
        let Some(last) = entries.last().map(|e| e.seq) else {
            return;
        };
        let mut receipts = Vec::new();
        // (entry, owner) per receipt.
        let mut owners = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            receipts.extend(e.receipts.iter().cloned());
            if e.owners.len() == e.receipts.len() {
                owners.extend(e.owners.iter().map(|&o| (i, Some(o))));
            } else {
                owners.extend(e.receipts.iter().map(|_| (i, None)));
            }
        }
        let inline = self.forward.inline(&receipts).await;
        let (receipts, outcome) = self.record_all(receipts, &inline).await;
        let Some(outcome) = outcome else {
            return;
        };
        if let Err(e) = self.journal.consume(last).await {
            // Recording again is harmless: the store is idempotent.
            tracing::warn!(error = %e, "could not consume journal entries; they will be replayed");
        }
        self.progress.recorded.send_modify(|r| {
            if r.is_some() {
                *r = Some(last);
            }
        });

        // Answer the batches that waited for the commit.
        let slots: Vec<usize> = entries.iter().map(|e| e.waiting.len()).collect();
        let offsets: Vec<usize> = slots
            .iter()
            .scan(0, |acc, n| {
                let start = *acc;
                *acc += n;
                Some(start)
            })
            .collect();
        let mut changed = vec![0usize; slots.iter().sum()];
        let flat = owners
            .iter()
            .map(|&(i, o)| o.map_or(usize::MAX, |o| offsets[i] + o));
        let notifications = changes(receipts, flat, outcome, &mut changed);
        for (i, e) in entries.into_iter().enumerate() {
            for (o, w) in e.waiting.into_iter().enumerate() {
                if let Some((reply, received, duplicates)) = w {
                    let _ = reply.send(Ok(IngestReceipt {
                        received,
                        duplicates,
                        changed: Some(changed[offsets[i] + o]),
                    }));
                }
            }
        }
        for (i, n) in notifications {
            self.forward.send(n, inline.get(i)).await;
        }
    }

    /// Records `receipts`, retrying failures; receipts the store refuses as
    /// invalid ([`StoreError::Invalid`], which the journal's validation
    /// should already have caught) are dropped one by one (logged) so the
    /// rest records. `None` when shutting down with the store failing: the
    /// journal keeps the entries for the next start.
    async fn record_all(
        &self,
        receipts: Vec<Receipt>,
        inline: &[Inline],
    ) -> (Vec<Receipt>, Option<Vec<Option<EventKind>>>) {
        let mut backoff = Backoff::new();
        let mut attempts = 0u32;
        let mut receipts = receipts;
        loop {
            attempts += 1;
            let (back, result) = record(&*self.store, receipts, inline).await;
            receipts = back;
            match result {
                Ok(changes) => return (receipts, Some(changes)),
                // Only a refusal of the input is about these receipts; any
                // other failure (an outage, a full disk, a broken file) is
                // retried and the journal keeps the entries meanwhile.
                Err(e) if !matches!(e, StoreError::Invalid(_)) => {
                    if *self.shutdown.borrow() && attempts >= 3 {
                        tracing::error!(error = %e, "history unavailable at shutdown; the journal keeps the entries");
                        return (receipts, None);
                    }
                    tracing::warn!(error = %e, attempts, "history write failed; retrying");
                    backoff.wait().await;
                }
                Err(e) if receipts.len() == 1 => {
                    let fingerprint = receipts[0].alert.fingerprint();
                    tracing::error!(%fingerprint, error = %e, "journaled receipt dropped: the history store refuses it");
                    metrics::counter!("alertkit_pipeline_dropped_total").increment(1);
                    return (receipts, Some(vec![None]));
                }
                Err(e) => {
                    tracing::error!(error = %e, alerts = receipts.len(), "history refused journaled receipts; recording them one by one");
                    let mut changes = Vec::with_capacity(receipts.len());
                    let mut all = Vec::with_capacity(receipts.len());
                    for (i, r) in receipts.into_iter().enumerate() {
                        let one = inline.get(i..=i).unwrap_or_default();
                        let (mut back, c) = Box::pin(self.record_all(vec![r], one)).await;
                        all.append(&mut back);
                        match c {
                            Some(mut c) if c.len() == 1 => changes.push(c.pop().flatten()),
                            Some(_) => changes.push(None),
                            None => return (all, None),
                        }
                    }
                    return (all, Some(changes));
                }
            }
        }
    }
}
