//! The five traits, their data types and their tower adapters.
//!
//! | Trait | Role | tower adapter |
//! |---|---|---|
//! | [`AlertSource`] | pulls batches of alerts from somewhere | [`SourceService`] |
//! | [`Classifier`] | decides severity and category | [`ClassifierService`] / [`ServiceClassifier`] |
//! | [`HistoryStore`] | durable, queryable history | [`RecordService`] |
//! | [`Cache`] | byte cache with TTLs | [`CacheService`] |
//! | [`Publisher`] | delivers to one target | [`PublisherService`] / [`ServicePublisher`] |
//! | [`Outbox`] | durable, leased delivery queue (stores) | |
//! | [`Journal`] | durable intake log in front of history (stores) | |
//!
//! All are `async` through `async_trait`, object safe (`Arc<dyn Publisher>`
//! lists chosen at runtime work) and `Send + Sync + 'static`.

mod cache;
mod classify;
mod history;
mod journal;
mod outbox;
mod publish;
mod source;
mod stats;

pub use cache::{Cache, CacheRequest, CacheService, CacheStats};
pub use classify::{Classifier, ClassifierService, ServiceClassifier};
pub use history::{
    AlertRecord, Cursor, EventKind, HistoryEvent, HistoryPage, HistoryQuery, HistoryStore, Receipt,
    RecordOutcome, RecordService,
};
pub use journal::{Journal, JournalEntry, decode_receipts, encode_receipts};
pub use outbox::{
    AttemptOutcome, DeadLetter, DeadLetterQuery, Delivery, DeliveryAttempt, LeaseRef, Outbox,
    QueueDepth, Settlement,
};
pub use publish::{
    Handoff, Notification, Origin, PublishOutcome, PublishReceipt, Publisher, PublisherService,
    ServicePublisher,
};
pub use source::{AlertSource, SourceBatch, SourceService, StreamSource};
pub use stats::{
    DEFAULT_STATS_LIMIT, FlappingAlert, HistoryStats, HistoryStatsReport, MAX_STATS_LIMIT,
    StatsQuery, TopAlert, validate_per_hour,
};

/// The boxed future every adapter returns.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;
