//! The record stage with a [`Journal`]: intake (dedup, append, acknowledge)
//! and the recorder behind it (replay, coalesce, record, consume).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::super::dedup::RecentStates;
use super::super::stages::{Backoff, spawn_on_own_thread};
use super::super::{IngestReceipt, Job, Wait};
use super::{Forward, Group, Inline, Reply, changes, next_group, record};
use crate::traits::Journal;
use crate::{EventKind, HistoryStore, Notification, Receipt, StoreError};

/// How far the journal has been appended and recorded, for
/// [`Ingest::sync`](crate::pipeline::Ingest::sync).
#[derive(Debug)]
pub(in crate::pipeline) struct Progress {
    /// The last sequence number appended (and acknowledged).
    pub(in crate::pipeline) appended: std::sync::atomic::AtomicU64,
    /// The last sequence number recorded into history, once the entries a
    /// crash left are replayed (`None` before).
    pub(in crate::pipeline) recorded: watch::Sender<Option<u64>>,
    /// Whether the recorder has read what earlier runs left in the journal.
    /// The intake appends only after, so the replay never holds this run's
    /// entries too (they would be recorded twice, and the senders waiting
    /// for the commit told of no changes).
    pub(in crate::pipeline) read: watch::Sender<bool>,
    /// Room for alerts appended and not yet recorded.
    pub(in crate::pipeline) backlog: Backlog,
}

/// A journal entry on its way to the record stage.
pub(in crate::pipeline) struct Entry {
    seq: u64,
    receipts: Vec<Receipt>,
    /// The job (index into `waiting`) each receipt came from.
    owners: Vec<usize>,
    /// Jobs that wait for the history commit ([`Wait::Recorded`]), with
    /// their received and duplicate counts.
    waiting: Vec<Option<(Reply, usize, usize)>>,
    _backlog: Option<OwnedSemaphorePermit>,
}

/// Room for alerts appended to the journal but not yet recorded
/// (backpressure), shared by the intake, which takes it, and the recorder,
/// which gives it back; reported as `alertkit_pipeline_unrecorded_alerts`.
#[derive(Debug)]
pub(in crate::pipeline) struct Backlog {
    room: Arc<Semaphore>,
    limit: usize,
}

impl Backlog {
    /// Room for `limit` alerts (clamped to what a semaphore holds).
    pub(in crate::pipeline) fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            room: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Alerts appended and not yet recorded, and the bound.
    pub(in crate::pipeline) fn now(&self) -> crate::pipeline::JournalBacklog {
        crate::pipeline::JournalBacklog {
            unrecorded: self.limit.saturating_sub(self.room.available_permits()),
            limit: self.limit,
        }
    }

    /// Sets the gauge to the alerts appended and not yet recorded.
    fn report(&self) {
        metrics::gauge!("alertkit_pipeline_unrecorded_alerts").set(self.now().unrecorded as f64);
    }
}

/// Dedups, appends to the journal, acknowledges, and passes entries on.
pub(in crate::pipeline) struct Intake {
    pub(in crate::pipeline) journal: Arc<dyn Journal>,
    pub(in crate::pipeline) seen: RecentStates,
    pub(in crate::pipeline) max_batch: usize,
    pub(in crate::pipeline) backlog_wait: std::time::Duration,
    pub(in crate::pipeline) progress: Arc<Progress>,
    pub(in crate::pipeline) entries: mpsc::UnboundedSender<Entry>,
}

impl Intake {
    pub(in crate::pipeline) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut read = self.progress.read.subscribe();
        tokio::select! {
            _ = read.wait_for(|read| *read) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
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
            // Backpressure: at most `backlog_limit` alerts appended but not
            // recorded; past `backlog_wait` the senders hear "overloaded" (503).
            let backlog = &self.progress.backlog;
            let want = u32::try_from(group.receipts.len().min(backlog.limit)).unwrap_or(u32::MAX);
            let acquire = Arc::clone(&backlog.room).acquire_many_owned(want);
            let permit = match tokio::time::timeout(self.backlog_wait, acquire).await {
                Ok(Ok(permit)) => {
                    backlog.report();
                    permit
                }
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
///
/// Three tasks in a row, each one batch ahead of the next, so the CPU work
/// of one batch overlaps the history write of another: *prepare*
/// (coalesce, verdicts known at once), *write* (record, consume, answer
/// the waiting senders) and *forward* (classification or hand-off, which
/// may wait for room downstream). The writer runs on a thread of its own
/// where the runtime has worker threads ([`spawn_on_own_thread`]).
pub(in crate::pipeline) struct Journaled {
    pub(in crate::pipeline) store: Arc<dyn HistoryStore>,
    pub(in crate::pipeline) journal: Arc<dyn Journal>,
    pub(in crate::pipeline) max_batch: usize,
    pub(in crate::pipeline) progress: Arc<Progress>,
    pub(in crate::pipeline) forward: Forward,
    pub(in crate::pipeline) shutdown: watch::Receiver<bool>,
}

/// Coalesced entries with the verdicts known before the write.
struct Prepared {
    entries: Vec<Entry>,
    receipts: Vec<Receipt>,
    /// (entry, owner) per receipt.
    owners: Vec<(usize, Option<usize>)>,
    inline: Vec<Inline>,
}

/// Recorded changes on their way to classification or hand-off.
struct Recorded {
    notifications: Vec<(usize, Notification)>,
    inline: Vec<Inline>,
}

impl Journaled {
    pub(in crate::pipeline) async fn run(self, mut rx: mpsc::UnboundedReceiver<Entry>) {
        self.replay().await;
        self.progress
            .recorded
            .send_modify(|r| *r = Some(r.unwrap_or(0)));
        let this = Arc::new(self);
        let (write_tx, mut write_rx) = mpsc::channel::<Prepared>(1);
        let (forward_tx, mut forward_rx) = mpsc::channel::<Recorded>(1);
        let writer = spawn_on_own_thread("alertkit-history", {
            let this = Arc::clone(&this);
            async move {
                while let Some(prepared) = write_rx.recv().await {
                    let recorded = this.write(prepared).await;
                    // The written entries (and their room) are released.
                    this.progress.backlog.report();
                    let Some(recorded) = recorded else {
                        return;
                    };
                    if forward_tx.send(recorded).await.is_err() {
                        return;
                    }
                }
            }
        });
        let forwarder = tokio::spawn({
            let this = Arc::clone(&this);
            async move {
                while let Some(recorded) = forward_rx.recv().await {
                    this.forward_all(recorded).await;
                }
            }
        });
        let mut entries = Vec::new();
        while rx.recv_many(&mut entries, 64).await > 0 {
            // Coalesce up to `max_batch` alerts per store call.
            let mut alerts: usize = entries.iter().map(|e| e.receipts.len()).sum();
            while alerts < this.max_batch {
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
            let prepared = this.prepare(std::mem::take(&mut entries)).await;
            if write_tx.send(prepared).await.is_err() {
                break;
            }
        }
        drop(write_tx);
        for task in [writer, forwarder] {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "journaled record task failed");
            }
        }
    }

    /// Records what the journal still holds from an earlier run.
    async fn replay(&self) {
        let mut backoff = Backoff::new();
        let entries = loop {
            let read = self.journal.unconsumed().await;
            // The intake waits for this (once: a journal that cannot be
            // read must not stop acknowledgements; entries appended
            // meanwhile are then replayed too, which is harmless).
            self.progress.read.send_replace(true);
            match read {
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

    /// The three steps one after the other.
    async fn record_entries(&self, entries: Vec<Entry>) {
        let prepared = self.prepare(entries).await;
        if let Some(recorded) = self.write(prepared).await {
            self.forward_all(recorded).await;
        }
    }

    /// Flattens `entries` and asks for the verdicts known at once.
    async fn prepare(&self, mut entries: Vec<Entry>) -> Prepared {
        let n = entries.iter().map(|e| e.receipts.len()).sum();
        let mut receipts = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        for (i, e) in entries.iter_mut().enumerate() {
            if e.owners.len() == e.receipts.len() {
                owners.extend(e.owners.iter().map(|&o| (i, Some(o))));
            } else {
                owners.extend(e.receipts.iter().map(|_| (i, None)));
            }
            receipts.append(&mut e.receipts);
        }
        let inline = self.forward.inline(&receipts).await;
        Prepared {
            entries,
            receipts,
            owners,
            inline,
        }
    }

    /// Records, consumes the entries and answers the batches that waited
    /// for the commit; `None` when shutting down with history failing.
    async fn write(&self, prepared: Prepared) -> Option<Recorded> {
        let Prepared {
            entries,
            receipts,
            owners,
            inline,
        } = prepared;
        let last = entries.last()?.seq;
        let (receipts, outcome) = self.record_all(receipts, &inline).await;
        let outcome = outcome?;
        if let Err(e) = self.journal.consume(last).await {
            // Recording again is harmless: the store is idempotent.
            tracing::warn!(error = %e, "could not consume journal entries; they will be replayed");
        }
        self.progress.recorded.send_modify(|r| {
            if r.is_some() {
                *r = Some(last);
            }
        });

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
        Some(Recorded {
            notifications,
            inline,
        })
    }

    async fn forward_all(&self, recorded: Recorded) {
        for (i, n) in recorded.notifications {
            self.forward.send(n, recorded.inline.get(i)).await;
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
