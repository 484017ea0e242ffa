//! The in-memory implementations pass the conformance suites.

#![allow(clippy::unwrap_used)] // tests fail loudly

use std::sync::Arc;

use alertkit_core::memory::{
    LabelClassifier, MemoryCache, MemoryHistoryConfig, MemoryHistoryStore, MemoryJournal,
    RecordingPublisher,
};
use alertkit_core::testing::conformance::{self, Observer};

#[test]
fn memory_history_store() {
    conformance::history_store(|| async { MemoryHistoryStore::default() });
}

#[test]
fn memory_history_store_with_tight_bounds() {
    // Bounds larger than any single check needs still leave eviction code paths live.
    conformance::history_store(|| async {
        MemoryHistoryStore::new(MemoryHistoryConfig {
            max_alerts: 10_000,
            max_events_per_alert: 64,
            ..MemoryHistoryConfig::default()
        })
    });
}

#[test]
fn memory_cache() {
    conformance::cache(|| async { MemoryCache::new(64 * 1024 * 1024) });
}

#[test]
fn recording_publisher() {
    conformance::publisher(|| async {
        let publisher = Arc::new(RecordingPublisher::new("recording", 10_000));
        let seen = Arc::clone(&publisher);
        let observer: Observer =
            Arc::new(move || seen.notifications().iter().map(|n| n.dedup_key()).collect());
        (publisher, Some(observer))
    });
}

#[test]
fn label_classifier() {
    conformance::classifier(|| async { LabelClassifier });
}

#[test]
fn memory_history_stats() {
    conformance::history_stats(|| async { MemoryHistoryStore::default() });
}

#[test]
fn memory_journal() {
    conformance::journal(|| async { MemoryJournal::default() });
}
