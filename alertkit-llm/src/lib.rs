//! The LLM classifier for alertkit (OpenAI-compatible chat completions) and
//! its fallback chain.
//!
//! **Status:** not implemented yet; this crate exports nothing. The
//! classifier will implement [`alertkit_core::Classifier`] and compose with
//! the core layers (`ClassificationCacheLayer`, `FallbackLayer`) as shown in
//! the `alertkit-core` crate docs. Until then, use
//! [`alertkit_core::memory::LabelClassifier`] or your own `Classifier`.

#![forbid(unsafe_code)]
