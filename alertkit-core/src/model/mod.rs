//! The alert model: labels, fingerprints, alerts, severities, classifications.

mod alert;
mod classification;
mod fingerprint;
mod labels;
mod severity;
pub(crate) mod time;

pub use alert::{Alert, StateKey, Status};
pub use classification::{Category, Classification, ClassificationSource};
pub(crate) use fingerprint::{FNV_OFFSET_BASIS, fnv1a};
pub use fingerprint::{Fingerprint, InvalidFingerprint};
pub use labels::{Annotations, LabelSet, Pair};
pub use severity::{InvalidSeverity, Severity};
pub use time::{ZERO_TIME, format_rfc3339};
