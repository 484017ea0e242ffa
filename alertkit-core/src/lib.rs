#![doc = include_str!("docs/crate.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod layer;
pub mod matcher;
pub mod memory;
pub mod model;
pub mod pipeline;
pub mod secret;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod traits;
pub mod wire;

pub use error::{BoxError, CacheError, ClassifyError, PublishError, SourceError, StoreError};
pub use matcher::{Matcher, Matchers};
pub use model::{
    Alert, Annotations, Category, Classification, ClassificationSource, Fingerprint, LabelSet,
    Severity, StateKey, Status,
};
pub use secret::{REDACTED, Secret};
pub use traits::{
    AlertRecord, AlertSource, Cache, CacheStats, Classifier, EventKind, Handoff, HistoryEvent,
    HistoryQuery, HistoryStore, Journal, Notification, Origin, Outbox, PublishOutcome,
    PublishReceipt, Publisher, Receipt, RecordOutcome, SourceBatch,
};
pub use wire::{
    ApiV2Defaults, ParseError, ParseErrorKind, PostableAlerts, WebhookMessage,
    parse_postable_alerts,
};
