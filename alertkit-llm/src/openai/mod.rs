//! The OpenAI-compatible LLM classifier.
//!
//! [`LlmClassifier`] talks to any server with the chat completions API
//! (`POST {base_url}/chat/completions`): OpenAI, Azure-style gateways
//! ([`AuthStyle::ApiKeyHeader`] and an `api-version` in [`LlmConfig::query`]),
//! vLLM, Ollama and llama.cpp. The request and response structs are written
//! by hand and tolerate whatever extra fields a server adds.
//!
//! # The prompt
//!
//! The system prompt holds the instructions and the taxonomy; the alert goes
//! in the user message as a JSON document (labels, annotations, generator
//! URL), described to the model as untrusted data, so text in an alert
//! cannot change the instructions. Before anything leaves the process,
//! secret-looking values are replaced by `[redacted]`: labels or annotations
//! named like secrets (`*password*`, `*token*`, `*api_key*`, …), bearer and
//! basic credentials, `user:password@` in URLs, `key=value` pairs with
//! secret-like keys, and well-known token shapes (OpenAI, GitHub, GitLab,
//! Slack, AWS, Google keys, JWTs, PEM private keys). Long values are cut to
//! [`LlmConfig::max_value_chars`] and the document to
//! [`LlmConfig::max_prompt_chars`].
//!
//! # The answer
//!
//! Structured output is requested with a strict JSON schema
//! ([`ResponseFormat::JsonSchema`]), `json_object`, or nothing, per server.
//! The answer is validated strictly whatever was requested: `severity` is
//! one of `critical`, `warning`, `info`, `noise`; `category` one of the
//! [`Category`](alertkit_core::Category) names; `confidence` a number in
//! `0..=1`; `summary` a string; `recommendations` an optional list of
//! strings (at most 10 kept). Extra fields are ignored. Two repairs are
//! made, and counted in [`metrics::REPAIRS`]:
//!
//! - prose or code fences around the object: the first balanced object
//!   that validates is used;
//! - an object cut short (`max_tokens`): it is closed after its last
//!   complete member, and used only if the required fields are all there.
//!
//! Anything else is a [`ClassifyError::InvalidResponse`](alertkit_core::ClassifyError::InvalidResponse)
//! naming the field, which a fallback turns into the rules' answer.
//!
//! # Failures
//!
//! | Server says | Error | Retried |
//! |---|---|---|
//! | connection refused, reset, DNS | `Unavailable` | yes |
//! | no answer within [`LlmConfig::timeout`], or 408 | `Timeout` | yes |
//! | 429 | `Unavailable` (`rate limited`) | yes, after `max(backoff, Retry-After)`; a `Retry-After` above [`LlmConfig::max_backoff`] gives up at once |
//! | 5xx | `Unavailable` (`server error`) | yes, honouring `Retry-After` |
//! | other 4xx | `Rejected` | no (and not a circuit-breaker failure) |
//! | 2xx with a bad body or answer | `InvalidResponse` | no |
//!
//! # Metrics
//!
//! [`metrics::CLASSIFICATIONS`] `{status}`, [`metrics::ERRORS`] `{reason, stage}`,
//! [`metrics::TOKENS`] `{kind}`, [`metrics::DURATION`] `{status}`,
//! [`metrics::REPAIRS`] `{kind}`.
//!
//! ```no_run
//! # async fn demo(alert: alertkit_core::Alert) -> Result<(), Box<dyn std::error::Error>> {
//! use alertkit_core::Classifier;
//! use alertkit_core::Secret;
//! use alertkit_llm::openai::{LlmClassifier, LlmConfig};
//!
//! let config = LlmConfig::new("https://api.openai.com/v1", "gpt-4o-mini")
//!     .with_api_key(Secret::new(std::env::var("OPENAI_API_KEY")?));
//! let llm = LlmClassifier::new(config)?;
//! let verdict = llm.classify(&alert).await?;
//! println!("{} {} {:.2}", verdict.severity, verdict.category, verdict.confidence);
//! # Ok(()) }
//! ```

mod client;
mod config;
pub mod metrics;
mod parse;
mod prompt;
mod redact;
mod repair;
mod wire;

pub use client::{LlmClassifier, LlmConfigError};
pub use config::{AuthStyle, LlmConfig, ResponseFormat};
