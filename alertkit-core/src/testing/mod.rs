//! Test harness for alertkit and its plugins (feature `testing`).
//!
//! - [`strategies`]: proptest strategies for label sets, alerts, webhook
//!   messages and realistic alert streams (lifecycles, flapping, storms, HA
//!   duplicates).
//! - [`conformance`]: the contracts of [`HistoryStore`](crate::HistoryStore),
//!   [`Cache`](crate::Cache), [`Publisher`](crate::Publisher) and
//!   [`Classifier`](crate::Classifier) as runnable suites.
//! - [`alertmanager`]: a real Alertmanager process for end-to-end tests.
//! - [`fuzz`]: the bodies of the cargo-fuzz targets, so their corpora also
//!   replay as ordinary tests.

pub mod alertmanager;
pub mod conformance;
pub mod fuzz;
pub mod strategies;
