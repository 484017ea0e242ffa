//! Column encodings shared by the SQL stores' rows: times, fingerprints,
//! statuses, JSON documents, and errors.

use std::sync::Arc;

use alertkit_core::{
    AlertRecord, Annotations, Classification, EventKind, Fingerprint, HistoryEvent, LabelSet,
    Status, StoreError,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

/// A time as Unix nanoseconds; times outside 1677–2262 cannot be stored.
pub(super) fn nanos(field: &str, t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| {
        StoreError::Invalid(format!(
            "{field}: {t} is outside the storable range (1677-2262)"
        ))
    })
}

fn time(n: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(n))
        .map_err(|e| StoreError::Backend(format!("stored time {n} is invalid: {e}").into()))
}

const SIGN: u64 = 1 << 63;

/// The fingerprint as an `INTEGER` ordered like the `u64` (sign bit flipped).
pub(super) fn fp_key(fp: Fingerprint) -> i64 {
    i64::from_ne_bytes((fp.as_u64() ^ SIGN).to_ne_bytes())
}

fn fp_from_key(key: i64) -> Fingerprint {
    Fingerprint::from_u64(u64::from_ne_bytes(key.to_ne_bytes()) ^ SIGN)
}

pub(super) fn status_code(s: Status) -> i64 {
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

fn kind(name: &str) -> Result<EventKind, StoreError> {
    EventKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| StoreError::Backend(format!("stored event kind {name:?} is invalid").into()))
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("cannot encode: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("stored {column} is not valid: {e}").into()))
}

/// Maps sqlx errors: connectivity, pool exhaustion and lock contention are
/// transient; everything else is a backend failure.
pub(super) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut => StoreError::Timeout,
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(ref d)
            if d.message().contains("locked") || d.message().contains("busy") =>
        {
            StoreError::Unavailable(Box::new(e))
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

fn col<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name).map_err(db)
}

/// Reads an `alertkit_alerts` row (all columns).
pub(super) fn record(row: &SqliteRow) -> Result<AlertRecord, StoreError> {
    let labels: LabelSet = parse("labels", &col::<String>(row, "labels")?)?;
    let annotations: Annotations = parse("annotations", &col::<String>(row, "annotations")?)?;
    let classification = col::<Option<String>>(row, "classification")?
        .map(|c| parse::<Classification>("classification", &c).map(Arc::new))
        .transpose()?;
    let mut rec = AlertRecord::first(&alertkit_core::Receipt {
        alert: alertkit_core::Alert::firing(labels, time(col(row, "starts_at")?)?)
            .with_annotations(annotations),
        received_at: time(col(row, "first_seen")?)?,
    })
    .0;
    rec.fingerprint = fp_from_key(col(row, "fingerprint")?);
    rec.status = status(col(row, "status")?)?;
    rec.ends_at = col::<Option<i64>>(row, "ends_at")?.map(time).transpose()?;
    rec.last_seen = time(col(row, "last_seen")?)?;
    rec.last_changed = time(col(row, "last_changed")?)?;
    rec.fire_count = u32::try_from(col::<i64>(row, "fire_count")?).unwrap_or(u32::MAX);
    rec.transitions = u32::try_from(col::<i64>(row, "transitions")?).unwrap_or(u32::MAX);
    rec.classification = classification;
    rec.generator_url = Arc::from(col::<String>(row, "generator_url")?);
    Ok(rec)
}

/// Reads an `alertkit_events` row.
pub(super) fn event(row: &SqliteRow) -> Result<HistoryEvent, StoreError> {
    let mut e = HistoryEvent::new(
        fp_from_key(col(row, "fingerprint")?),
        kind(&col::<String>(row, "kind")?)?,
        time(col(row, "at")?)?,
        status(col(row, "status")?)?,
        time(col(row, "starts_at")?)?,
    );
    e.ends_at = col::<Option<i64>>(row, "ends_at")?.map(time).transpose()?;
    e.annotations = col::<Option<String>>(row, "annotations")?
        .map(|a| parse("annotations", &a))
        .transpose()?;
    e.classification = col::<Option<String>>(row, "classification")?
        .map(|c| parse::<Classification>("classification", &c).map(Arc::new))
        .transpose()?;
    Ok(e)
}
