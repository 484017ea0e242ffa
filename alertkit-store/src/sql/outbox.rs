//! What the SQL outboxes share: their configuration, the rows a `record`
//! enqueues, the payload encoding and row decoding. The SQL text lives with
//! each backend (Postgres claims with `FOR UPDATE SKIP LOCKED`, SQLite through
//! its single writer).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use alertkit_core::traits::{
    AttemptOutcome, DeadLetter, Delivery, DeliveryAttempt, LeaseRef, Settlement,
};
use alertkit_core::{
    Classification, EventKind, Notification, Origin, Receipt, StoreError, WebhookMessage,
};
use sqlx::{ColumnIndex, Decode, Type};
use time::OffsetDateTime;

use super::codec::{Columns, StoreRow, fp_from_key, fp_key, kind, nanos, parse, time};

/// Which targets a store's outbox enqueues for, and how long new rows are
/// held for their classification.
///
/// With no targets (the default) nothing is enqueued: publishing is off
/// (metrics-only mode) and history is all that is kept.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OutboxOptions {
    /// Target names; each notifiable change gets one row per target.
    pub targets: Vec<Arc<str>>,
    /// How long a new row waits for its classification before it is due
    /// anyway. The pipeline's hand-off releases it sooner; after a crash the
    /// hold is what makes the row due.
    pub hold: Duration,
}

impl OutboxOptions {
    /// Enqueue for `targets`, holding rows for up to `hold`.
    pub fn new<I, S>(targets: I, hold: Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        Self {
            targets: targets.into_iter().map(Into::into).collect(),
            hold,
        }
    }
}

/// A store's live outbox settings and its wake-up signal.
#[derive(Debug, Default)]
pub(crate) struct OutboxState {
    options: RwLock<Arc<OutboxOptions>>,
    pub(crate) wakeup: Arc<tokio::sync::Notify>,
}

impl OutboxState {
    pub(crate) fn options(&self) -> Arc<OutboxOptions> {
        Arc::clone(&self.options.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn set(&self, options: OutboxOptions) {
        *self.options.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(options);
    }
}

/// Outbox rows to insert, column-wise (Postgres binds each as an array).
#[derive(Debug, Default)]
pub(crate) struct EnqueueRows {
    pub(crate) target: Vec<String>,
    pub(crate) dedup_key: Vec<String>,
    pub(crate) fingerprint: Vec<i64>,
    pub(crate) kind: Vec<&'static str>,
    pub(crate) payload: Vec<String>,
    pub(crate) received_at: Vec<i64>,
    pub(crate) due_at: Vec<i64>,
}

impl EnqueueRows {
    /// The rows for the notifiable `changes` of `receipts` (same order).
    pub(crate) fn build(
        options: &OutboxOptions,
        receipts: &[Receipt],
        changes: &[Option<EventKind>],
        now: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        let mut rows = Self::default();
        if options.targets.is_empty() {
            return Ok(rows);
        }
        let due = nanos("due_at", now + options.hold)?;
        for (r, change) in receipts.iter().zip(changes) {
            let Some(kind) = change.filter(|k| k.is_notifiable()) else {
                continue;
            };
            let payload = encode_payload(r)?;
            let dedup = r.alert.state_key().to_string();
            let received = nanos("received_at", r.received_at)?;
            for target in &options.targets {
                rows.target.push(target.to_string());
                rows.dedup_key.push(dedup.clone());
                rows.fingerprint.push(fp_key(r.alert.fingerprint()));
                rows.kind.push(kind.as_str());
                rows.payload.push(payload.clone());
                rows.received_at.push(received);
                rows.due_at.push(due);
            }
        }
        Ok(rows)
    }

    /// Rows to insert (the SQLite writer skips the statement when zero).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.target.len()
    }
}

/// The alert and its origin as a one-alert Alertmanager v4 message: the
/// format alertkit already parses and emits exactly.
fn encode_payload(r: &Receipt) -> Result<String, StoreError> {
    let mut msg = WebhookMessage::from_alerts(
        r.origin.as_ref().map_or("", |o| o.receiver.as_str()),
        vec![r.alert.clone()],
    );
    if let Some(o) = &r.origin {
        msg.group_key.clone_from(&o.group_key);
        msg.external_url.clone_from(&o.external_url);
    }
    super::codec::json(&msg)
}

fn decode_payload(
    payload: &str,
    kind: EventKind,
    received_at: i64,
) -> Result<Notification, StoreError> {
    let bad = |why: String| StoreError::Backend(format!("stored outbox payload: {why}").into());
    let msg = WebhookMessage::from_json(payload.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let origin = Arc::new(Origin::of_webhook(&msg));
    let alert = msg
        .alerts
        .into_iter()
        .next()
        .ok_or_else(|| bad("no alert".into()))?;
    let mut n = Notification::new(alert, kind, origin);
    n.received_at = time(received_at)?;
    Ok(n)
}

fn attempt_number(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn status_of(code: Option<i64>) -> Option<u16> {
    code.and_then(|c| u16::try_from(c).ok())
}

/// A claimed row: `id, attempts, target, kind, payload, received_at,
/// enqueued_at` plus the joined `classification` and `remote_ref`.
pub(crate) fn delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
    let kind = kind(&row.text("kind")?)?;
    let mut n = decode_payload(&row.text("payload")?, kind, row.int("received_at")?)?;
    if let Some(c) = row.opt_text("classification")? {
        n = n.with_classification(Arc::new(parse::<Classification>("classification", &c)?));
    }
    if let Some(r) = row.opt_text("remote_ref")? {
        n = n.with_remote_ref(r);
    }
    Ok(Delivery {
        lease: LeaseRef {
            id: row.int("id")?,
            attempt: attempt_number(row.int("attempts")?),
        },
        target: Arc::from(row.text("target")?),
        notification: n,
        enqueued_at: time(row.int("enqueued_at")?)?,
    })
}

/// An `alertkit_dead_letters` row.
pub(crate) fn dead_letter<R>(row: &R) -> Result<DeadLetter, StoreError>
where
    R: StoreRow,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind = kind(&row.col::<String>("kind")?)?;
    Ok(DeadLetter {
        id: row.col("id")?,
        target: row.col("target")?,
        notification: decode_payload(
            &row.col::<String>("payload")?,
            kind,
            row.col("received_at")?,
        )?,
        attempts: attempt_number(row.col("attempts")?),
        last_error: row.col("last_error")?,
        last_status: status_of(row.col("last_status")?),
        enqueued_at: time(row.col("enqueued_at")?)?,
        died_at: time(row.col("died_at")?)?,
    })
}

/// An `alertkit_delivery_log` row.
pub(crate) fn attempt<R>(row: &R) -> Result<DeliveryAttempt, StoreError>
where
    R: StoreRow,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let outcome = row.col::<String>("outcome")?;
    let outcome = AttemptOutcome::parse(&outcome).ok_or_else(|| {
        StoreError::Backend(format!("stored delivery outcome {outcome:?} is invalid").into())
    })?;
    Ok(DeliveryAttempt {
        delivery_id: row.col("delivery_id")?,
        target: row.col("target")?,
        fingerprint: fp_from_key(row.col("fingerprint")?),
        kind: kind(&row.col::<String>("kind")?)?,
        attempt: attempt_number(row.col("attempt")?),
        at: time(row.col("at")?)?,
        outcome,
        status_code: status_of(row.col("status")?),
        detail: row.col("detail")?,
        latency_ms: row.col::<i64>("latency_us")? as f64 / 1000.0,
    })
}

/// The columns a settlement writes, ready to bind.
#[derive(Debug)]
pub(crate) struct SettleBinds {
    pub(crate) id: i64,
    pub(crate) attempt: i64,
    pub(crate) outcome: &'static str,
    pub(crate) status: Option<i64>,
    pub(crate) detail: Option<String>,
    pub(crate) latency_us: i64,
    pub(crate) retry_at: Option<i64>,
}

/// Longest error text kept per attempt.
const DETAIL_MAX: usize = 2048;

impl SettleBinds {
    pub(crate) fn new(s: &Settlement) -> Result<Self, StoreError> {
        let detail = s.detail.as_ref().map(|d| {
            let mut end = d.len().min(DETAIL_MAX);
            while !d.is_char_boundary(end) {
                end -= 1;
            }
            d[..end].to_owned()
        });
        let retry_at = match (s.outcome, s.retry_at) {
            (AttemptOutcome::Retry, Some(at)) => Some(nanos("retry_at", at)?),
            (AttemptOutcome::Retry, None) => {
                return Err(StoreError::Invalid(format!(
                    "settlement of delivery {}: a retry needs retry_at",
                    s.lease.id
                )));
            }
            _ => None,
        };
        Ok(Self {
            id: s.lease.id,
            attempt: i64::from(s.lease.attempt),
            outcome: s.outcome.as_str(),
            status: s.status_code.map(i64::from),
            detail,
            latency_us: i64::try_from(s.latency.as_micros()).unwrap_or(i64::MAX),
            retry_at,
        })
    }
}
