//! Conformance suites: the contracts of the traits, as tests any implementation can run.
//!
//! Each suite is a plain function to call from a `#[test]`; it builds its own
//! multi-threaded tokio runtime, calls your factory for a **fresh, isolated**
//! instance per check (for a database-backed store: its own schema or
//! database; for Redis: its own key prefix), and panics with a description of
//! the first broken rule. Property-based checks shrink to a minimal failing case.
//!
//! ```no_run
//! use alertkit_core::memory::{MemoryCache, MemoryHistoryStore, MemoryJournal};
//! use alertkit_core::testing::conformance;
//!
//! #[test]
//! fn memory_store_conforms() {
//!     conformance::history_store(|| async { MemoryHistoryStore::default() });
//! }
//!
//! #[test]
//! fn memory_cache_conforms() {
//!     conformance::cache(|| async { MemoryCache::new(1 << 20) });
//! }
//!
//! #[test]
//! fn memory_journal_conforms() {
//!     conformance::journal(|| async { MemoryJournal::default() });
//! }
//! # fn main() {}
//! ```

mod cache;
mod classifier;
mod history;
mod journal;
mod outbox;
mod publisher;
mod stats;

pub use cache::cache;
pub use classifier::{ClassifierSuite, classifier};
pub use history::history_store;
pub use journal::journal;
pub use outbox::{OutboxSetup, outbox};
pub use publisher::{Observer, PublisherSuite, publisher};
pub use stats::history_stats;

use std::future::Future;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A runtime for one suite: two workers, so concurrency checks are real.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("conformance: cannot build a tokio runtime: {e}"),
    }
}

/// Runs a property over `cases` generated values, each with a fresh async body.
pub(crate) fn check<S, F, Fut>(
    rt: &tokio::runtime::Runtime,
    name: &str,
    cases: u32,
    strategy: S,
    body: F,
) where
    S: Strategy,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&strategy, |value| rt.block_on(body(value))) {
        panic!("conformance check `{name}` failed: {e}");
    }
}

/// Runs one async check, panicking with its name on failure.
pub(crate) fn once<Fut>(rt: &tokio::runtime::Runtime, name: &str, body: Fut)
where
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    if let Err(e) = rt.block_on(body) {
        panic!("conformance check `{name}` failed: {e}");
    }
}

/// `prop_assert!`-style helper usable with `?` in async bodies.
pub(crate) fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if cond {
        Ok(())
    } else {
        Err(TestCaseError::fail(msg()))
    }
}

/// Converts a trait error into a test failure naming the operation.
pub(crate) fn ok<T, E: std::fmt::Display>(op: &str, r: Result<T, E>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{op} failed: {e}")))
}
