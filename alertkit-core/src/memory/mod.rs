//! In-memory implementations: real, bounded, not durable.
//!
//! - [`MemoryHistoryStore`]: a [`HistoryStore`](crate::HistoryStore) bounded in alerts and events per alert.
//! - [`MemoryCache`]: a [`Cache`](crate::Cache) bounded in bytes, with a TTL per entry.
//! - [`RecordingPublisher`]: a [`Publisher`](crate::Publisher) that keeps the last N notifications.
//! - [`LabelClassifier`]: a [`Classifier`](crate::Classifier) that reads the `severity` label; the last fallback.

mod cache;
mod history;
mod journal;
mod label_classifier;
pub(crate) mod lock;
mod recording;

pub use cache::{MemoryCache, MemoryValueCache};
pub use history::{MemoryHistoryConfig, MemoryHistoryStore};
pub use journal::MemoryJournal;
pub use label_classifier::LabelClassifier;
pub use recording::RecordingPublisher;
