//! Column encodings shared by the SQL stores (SQLite and Postgres use the
//! same logical schema): times, fingerprints, statuses, JSON documents,
//! row decoding, and error mapping.

use std::sync::Arc;

use alertkit_core::{
    AlertRecord, Annotations, Classification, EventKind, Fingerprint, HistoryEvent, LabelSet,
    Status, StoreError,
};
use sqlx::{ColumnIndex, Decode, Row, Type};
use time::OffsetDateTime;

/// A time as Unix nanoseconds; times outside 1677–2262 cannot be stored.
pub(crate) fn nanos(field: &str, t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| {
        StoreError::Invalid(format!(
            "{field}: {t} is outside the storable range (1677-2262)"
        ))
    })
}

pub(crate) fn time(n: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| StoreError::Backend(format!("stored time {n} is invalid: {e}").into()))
}

const SIGN: u64 = 1 << 63;

/// The fingerprint as an `INTEGER` ordered like the `u64` (sign bit flipped).
pub(crate) fn fp_key(fp: Fingerprint) -> i64 {
    i64::from_ne_bytes((fp.as_u64() ^ SIGN).to_ne_bytes())
}

pub(crate) fn fp_from_key(key: i64) -> Fingerprint {
    Fingerprint::from_u64(u64::from_ne_bytes(key.to_ne_bytes()) ^ SIGN)
}

pub(crate) fn status_code(s: Status) -> i64 {
    match s {
        Status::Firing => 0,
        Status::Resolved => 1,
    }
}

fn status(code: i64) -> Result<Status, StoreError> {
    match code {
        0 => Ok(Status::Firing),
        1 => Ok(Status::Resolved),
        other => Err(StoreError::Backend(
            format!("stored status {other} is invalid").into(),
        )),
    }
}

pub(crate) fn kind(name: &str) -> Result<EventKind, StoreError> {
    EventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| StoreError::Backend(format!("stored event kind {name:?} is invalid").into()))
}

/// A generator URL as stored: a raw NUL (invalid in a URL, and unstorable in
/// Postgres text) is written percent-encoded, as `%00`.
pub(crate) fn url_text(url: &str) -> std::borrow::Cow<'_, str> {
    if url.contains('\0') {
        std::borrow::Cow::Owned(url.replace('\0', "%00"))
    } else {
        std::borrow::Cow::Borrowed(url)
    }
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    // Sized for a typical label set or verdict up front: growing from
    // empty reallocates (and copies) the text six or seven times.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| StoreError::Invalid(format!("cannot encode: {e}")))?;
    // serde_json writes valid UTF-8 only.
    String::from_utf8(out).map_err(|e| StoreError::Invalid(format!("cannot encode: {e}")))
}

/// Each verdict's JSON, encoded once per batch: a new alert's row and its
/// event row share one `Arc` (and serialising verdicts was the largest part
/// of encoding a batch).
#[derive(Default)]
pub(crate) struct VerdictJson(std::collections::HashMap<usize, String>);

impl VerdictJson {
    pub(crate) fn get(
        &mut self,
        c: Option<&Arc<Classification>>,
    ) -> Result<Option<String>, StoreError> {
        let Some(c) = c else { return Ok(None) };
        // Keyed by address: the batch holds every `Arc` while this lives.
        let text = match self.0.entry(Arc::as_ptr(c).addr()) {
            std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(json(&**c)?).clone(),
        };
        Ok(Some(text))
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("stored {column} is not valid: {e}").into()))
}

/// Whether a SQLite (extended) result code says the same call may succeed
/// later: `SQLITE_BUSY`, `_LOCKED`, `_IOERR`, `_FULL`, `_CANTOPEN`. The
/// caller answers 503, so Alertmanager retries, rather than 500.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_is_transient(extended_code: i32) -> bool {
    matches!(extended_code & 0xff, 5 | 6 | 10 | 13 | 14)
}

/// Maps sqlx errors: connectivity, pool exhaustion, lock contention and
/// SQLite's disk failures are transient; everything else is a backend
/// failure.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut => StoreError::Timeout,
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(Box::new(e))
        }
        // SQLite: lock contention outlasting the busy timeout, a full or
        // failing disk, a file that cannot be opened.
        #[cfg(feature = "sqlite")]
        sqlx::Error::Database(ref d)
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                && d.code()
                    .and_then(|c| c.parse().ok())
                    .is_some_and(sqlite_is_transient) =>
        {
            StoreError::Unavailable(Box::new(e))
        }
        // Postgres: a NUL character cannot be stored in text.
        sqlx::Error::Database(ref d) if d.code().as_deref() == Some("22021") => {
            StoreError::Invalid(format!("text cannot hold this value: {}", d.message()))
        }
        // Postgres: server shutting down, too many connections, serialization failures.
        sqlx::Error::Database(ref d)
            if d.code().as_deref().is_some_and(|c| {
                c.starts_with("57P")
                    || c.starts_with("08")
                    || c == "53300"
                    || c == "40001"
                    || c == "40P01"
            }) =>
        {
            StoreError::Unavailable(Box::new(e))
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

/// The column types the stores read, for a row type `R`.
pub(crate) trait StoreRow: Row
where
    for<'a> &'a str: ColumnIndex<Self>,
{
    /// Reads column `name`.
    fn col<'r, T>(&'r self, name: &str) -> Result<T, StoreError>
    where
        T: Decode<'r, Self::Database> + Type<Self::Database>,
    {
        self.try_get(name).map_err(db)
    }
}

impl<R: Row> StoreRow for R where for<'a> &'a str: ColumnIndex<R> {}

/// A row's columns by name: what [`record`] reads, whichever driver
/// returned the row (sqlx rows, or the SQLite writer's own).
pub(crate) trait Columns {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
}

impl<R> Columns for R
where
    R: StoreRow,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.col(name)
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.col(name)
    }

    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.col(name)
    }

    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.col(name)
    }
}

/// Reads an `alertkit_alerts` row (all columns).
pub(crate) fn record(row: &impl Columns) -> Result<AlertRecord, StoreError> {
    let labels: LabelSet = parse("labels", &row.text("labels")?)?;
    let annotations: Annotations = parse("annotations", &row.text("annotations")?)?;
    let classification = row
        .opt_text("classification")?
        .map(|c| parse::<Classification>("classification", &c).map(Arc::new))
        .transpose()?;
    let mut rec = AlertRecord::first(&alertkit_core::Receipt::new(
        alertkit_core::Alert::firing(labels, time(row.int("starts_at")?)?)
            .with_annotations(annotations),
        time(row.int("first_seen")?)?,
    ))
    .0;
    rec.fingerprint = fp_from_key(row.int("fingerprint")?);
    rec.status = status(row.int("status")?)?;
    rec.ends_at = row.opt_int("ends_at")?.map(time).transpose()?;
    rec.last_seen = time(row.int("last_seen")?)?;
    rec.last_changed = time(row.int("last_changed")?)?;
    rec.fire_count = u32::try_from(row.int("fire_count")?).unwrap_or(u32::MAX);
    rec.transitions = u32::try_from(row.int("transitions")?).unwrap_or(u32::MAX);
    rec.classification = classification;
    rec.generator_url = Arc::from(row.text("generator_url")?);
    Ok(rec)
}

/// An event from its stored columns (annotations and classification unset).
pub(crate) fn event_from_parts(
    fingerprint: Fingerprint,
    kind: EventKind,
    at: i64,
    status_code: i64,
    starts_at: i64,
    ends_at: Option<i64>,
) -> Result<HistoryEvent, StoreError> {
    let mut e = HistoryEvent::new(
        fingerprint,
        kind,
        time(at)?,
        status(status_code)?,
        time(starts_at)?,
    );
    e.ends_at = ends_at.map(time).transpose()?;
    Ok(e)
}

/// Reads an alert's timeline from its `alertkit_events` rows, in order
/// (a row may stand for two events: see [`super::timeline`]).
pub(crate) fn timeline<R>(rows: &[R]) -> Result<Vec<HistoryEvent>, StoreError>
where
    R: StoreRow,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut events = Vec::with_capacity(rows.len() + rows.len() / 2);
    for row in rows {
        super::timeline::unfold(event(row)?, &mut events);
    }
    Ok(events)
}

/// Reads an `alertkit_events` row as stored.
fn event<R>(row: &R) -> Result<HistoryEvent, StoreError>
where
    R: StoreRow,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut e = event_from_parts(
        fp_from_key(row.col("fingerprint")?),
        kind(&row.col::<String>("kind")?)?,
        row.col("at")?,
        row.col("status")?,
        row.col("starts_at")?,
        row.col("ends_at")?,
    )?;
    e.annotations = row
        .col::<Option<String>>("annotations")?
        .map(|a| parse("annotations", &a))
        .transpose()?;
    e.classification = row
        .col::<Option<String>>("classification")?
        .map(|c| parse::<Classification>("classification", &c).map(Arc::new))
        .transpose()?;
    Ok(e)
}
