//! [`RecordingPublisher`]: keeps what it is asked to publish.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::lock;
use crate::{Notification, PublishError, PublishReceipt, Publisher};

/// A publisher that records notifications instead of sending them, keeping
/// the most recent `capacity` (older ones are dropped and counted).
///
/// It backs simulation mode ("what would have been sent") and tests.
///
/// ```
/// use alertkit_core::memory::RecordingPublisher;
///
/// let publisher = RecordingPublisher::new("simulation", 1000);
/// assert!(publisher.notifications().is_empty());
/// ```
#[derive(Debug)]
pub struct RecordingPublisher {
    name: String,
    capacity: usize,
    recorded: Mutex<VecDeque<Notification>>,
    total: AtomicU64,
}

impl RecordingPublisher {
    /// A publisher named `name` keeping the last `capacity` notifications.
    pub fn new(name: impl Into<String>, capacity: usize) -> Self {
        Self {
            name: name.into(),
            capacity: capacity.max(1),
            recorded: Mutex::new(VecDeque::new()),
            total: AtomicU64::new(0),
        }
    }

    /// The notifications kept, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        lock::mutex(&self.recorded).iter().cloned().collect()
    }

    /// How many notifications were published since creation (or the last `clear`).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// How many were dropped to respect the capacity.
    pub fn dropped(&self) -> u64 {
        let kept = lock::mutex(&self.recorded).len() as u64;
        self.total().saturating_sub(kept)
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        let mut recorded = lock::mutex(&self.recorded);
        recorded.clear();
        self.total.store(0, Ordering::Relaxed);
    }
}

#[async_trait]
impl Publisher for RecordingPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, notification: &Notification) -> Result<PublishReceipt, PublishError> {
        let mut recorded = lock::mutex(&self.recorded);
        if recorded.len() == self.capacity {
            recorded.pop_front();
        }
        recorded.push_back(notification.clone());
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(PublishReceipt::delivered())
    }
}
