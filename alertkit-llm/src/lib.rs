//! Classification for alertkit: the rule classifier with its default rule
//! pack, the OpenAI-compatible LLM classifier, and the standard chain
//! `cache(llm, fallback to rules)`.
//!
//! (Crate docs, feature table and examples are being written.)

#![forbid(unsafe_code)]

pub mod chain;
pub mod mode;
pub mod rules;

pub use rules::{RuleClassifier, RulePack, RulePackError, RulesConfig};

pub use chain::{ChainBuilder, StandardChain};
pub use mode::{EnrichmentMode, ModeSource, ModeState, ModeSwitch};

#[cfg(feature = "openai")]
pub mod openai;
#[cfg(feature = "openai")]
pub use openai::{LlmClassifier, LlmConfig};
