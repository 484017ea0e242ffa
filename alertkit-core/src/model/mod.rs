//! The alert model: labels, fingerprints, alerts, severities, classifications.

mod alert;
mod classification;
mod fingerprint;
mod labels;
mod pairs;
pub(crate) use pairs::push_json_str;
mod severity;
pub(crate) mod time;

pub use alert::{Alert, StateKey, Status};
pub use classification::{Category, Classification, ClassificationSource};
pub use fingerprint::{Fingerprint, InvalidFingerprint};
pub use labels::{Annotations, LabelSet};
pub use severity::{InvalidSeverity, Severity};
pub use time::{ZERO_TIME, format_rfc3339};

/// Deserializes a value from its text form through `FromStr` (the inverse of
/// serializing it with `collect_str` through `Display`).
pub(crate) fn deserialize_parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
    s.parse().map_err(serde::de::Error::custom)
}
