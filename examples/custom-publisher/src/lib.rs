//! A custom alertkit publisher: every notification becomes one JSON line in a file.
//!
//! Implementing [`Publisher`] takes a name and one async method that makes a
//! single delivery attempt; retries, rate limits and filters are added by
//! alertkit around it. Errors say whether retrying can help: an I/O failure
//! is [`PublishError::Transport`] (transient).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use alertkit_core::layer::FanOut;
//! use alertkit_example_custom_publisher::JsonLinesPublisher;
//!
//! let sink = JsonLinesPublisher::open("audit-log", "/var/log/alertkit/notifications.jsonl").await?;
//! let fanout = FanOut::new().with_publisher(Arc::new(sink));
//! # let _ = fanout; Ok(()) }
//! ```

use std::path::Path;

use alertkit_core::model::format_rfc3339;
use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher};
use async_trait::async_trait;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Appends one JSON object per notification to a file (JSON Lines).
#[derive(Debug)]
pub struct JsonLinesPublisher {
    name: String,
    file: Mutex<tokio::fs::File>,
}

impl JsonLinesPublisher {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    ///
    /// The I/O error opening the file.
    pub async fn open(name: impl Into<String>, path: impl AsRef<Path>) -> std::io::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(Self {
            name: name.into(),
            file: Mutex::new(file),
        })
    }
}

#[async_trait]
impl Publisher for JsonLinesPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        let line = json!({
            "dedup_key": n.dedup_key(),
            "event": n.kind.as_str(),
            "fingerprint": n.alert.fingerprint(),
            "status": n.alert.status,
            "labels": n.alert.labels,
            "annotations": n.alert.annotations,
            "classification": n.classification,
            "receiver": n.origin.receiver,
            "received_at": format_rfc3339(n.received_at),
        });
        let mut bytes =
            serde_json::to_vec(&line).map_err(|e| PublishError::Config(e.to_string()))?;
        bytes.push(b'\n');
        // One write per line under the lock: concurrent publishes never interleave.
        let mut file = self.file.lock().await;
        file.write_all(&bytes)
            .await
            .map_err(|e| PublishError::Transport(Box::new(e)))?;
        file.flush()
            .await
            .map_err(|e| PublishError::Transport(Box::new(e)))?;
        Ok(PublishReceipt::delivered())
    }
}
