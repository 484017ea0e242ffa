//! [`LlmConfig`]: where the model lives and how hard to try.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use alertkit_core::Secret;
use serde::Deserialize;

/// How the request asks for structured output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `response_format: {type: json_schema, json_schema: {strict: true, …}}`
    /// (OpenAI, Azure OpenAI, vLLM, recent Ollama and llama.cpp servers).
    #[default]
    JsonSchema,
    /// `response_format: {type: json_object}`, for servers without schemas.
    JsonObject,
    /// No `response_format` at all; the prompt alone asks for JSON.
    None,
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>` (OpenAI, vLLM, most gateways).
    #[default]
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// Settings of an [`LlmClassifier`](super::LlmClassifier).
///
/// Durations are written `"30s"`, `"500ms"`, `"2m"` or as a number of seconds.
///
/// ```
/// use alertkit_llm::openai::{LlmConfig, ResponseFormat};
///
/// let config: LlmConfig = toml::from_str(r#"
///     base_url = "http://127.0.0.1:11434/v1"
///     model = "llama3.1:8b"
///     response_format = "json_object"
///     timeout = "20s"
/// "#).unwrap();
/// assert_eq!(config.response_format, ResponseFormat::JsonObject);
/// assert_eq!(config.max_attempts, 3);
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LlmConfig {
    /// The API root, e.g. `https://api.openai.com/v1`; requests go to
    /// `{base_url}/chat/completions` (a URL already ending in
    /// `/chat/completions` is used as is).
    pub base_url: String,
    /// The API key, if the server wants one (never printed: see [`Secret`]).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// How the key is sent.
    #[serde(default)]
    pub auth: AuthStyle,
    /// The model name (`gpt-4o-mini`, `llama3.1:8b`, a deployment name…).
    pub model: String,
    /// Extra query parameters (Azure's `api-version`).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// How structured output is requested.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Sampling temperature; `None` leaves the server default (some reasoning models refuse any other).
    #[serde(default = "defaults::temperature")]
    pub temperature: Option<f32>,
    /// `max_tokens` of the answer; `None` sends none.
    #[serde(default = "defaults::max_tokens")]
    pub max_tokens: Option<u32>,
    /// Time allowed for one HTTP attempt (connect, answer and body). Default 30 s.
    #[serde(
        default = "defaults::timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub timeout: Duration,
    /// Attempts per classification, the first included (transient errors only). Default 3.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt, with jitter. Default 500 ms.
    #[serde(
        default = "defaults::backoff",
        deserialize_with = "duration::deserialize"
    )]
    pub backoff: Duration,
    /// Longest wait before a retry. A `Retry-After` asking for longer ends the
    /// attempts at once (the fallback answers instead). Default 10 s.
    #[serde(
        default = "defaults::max_backoff",
        deserialize_with = "duration::deserialize"
    )]
    pub max_backoff: Duration,
    /// Requests in flight at once; further calls wait their turn. Default 8.
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: usize,
    /// Longest label or annotation value put in the prompt, in characters. Default 1000.
    #[serde(default = "defaults::max_value_chars")]
    pub max_value_chars: usize,
    /// Budget of the whole alert document in the prompt, in characters. Default 12 000.
    #[serde(default = "defaults::max_prompt_chars")]
    pub max_prompt_chars: usize,
}

impl LlmConfig {
    /// A configuration with every default, for `base_url` and `model`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            auth: AuthStyle::default(),
            model: model.into(),
            query: BTreeMap::new(),
            response_format: ResponseFormat::default(),
            temperature: defaults::temperature(),
            max_tokens: defaults::max_tokens(),
            timeout: defaults::timeout(),
            max_attempts: defaults::max_attempts(),
            backoff: defaults::backoff(),
            max_backoff: defaults::max_backoff(),
            max_concurrency: defaults::max_concurrency(),
            max_value_chars: defaults::max_value_chars(),
            max_prompt_chars: defaults::max_prompt_chars(),
        }
    }

    /// With an API key.
    ///
    /// ```
    /// use alertkit_core::Secret;
    /// use alertkit_llm::openai::LlmConfig;
    ///
    /// let config = LlmConfig::new("https://api.openai.com/v1", "gpt-4o-mini")
    ///     .with_api_key(Secret::new("sk-live-123"));
    /// assert!(format!("{config:?}").contains(r#"api_key: Some(Secret("***"))"#));
    /// assert!(!format!("{config:?}").contains("sk-live-123"));
    /// ```
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<Secret>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// With the way structured output is requested.
    #[must_use]
    pub fn with_response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = format;
        self
    }

    /// With the per-attempt timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With the retry budget: attempts (at least 1), first delay and longest delay.
    #[must_use]
    pub fn with_retries(
        mut self,
        max_attempts: u32,
        backoff: Duration,
        max_backoff: Duration,
    ) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff = backoff;
        self.max_backoff = max_backoff;
        self
    }

    /// With the concurrency limit (at least 1).
    #[must_use]
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &crate::openai::prompt::redact(&self.base_url))
            .field("api_key", &self.api_key)
            .field("auth", &self.auth)
            .field("model", &self.model)
            .field("response_format", &self.response_format)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_concurrency", &self.max_concurrency)
            .finish_non_exhaustive()
    }
}

mod defaults {
    use std::time::Duration;

    pub(super) fn temperature() -> Option<f32> {
        Some(0.1)
    }
    pub(super) fn max_tokens() -> Option<u32> {
        Some(600)
    }
    pub(super) fn timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub(super) fn max_attempts() -> u32 {
        3
    }
    pub(super) fn backoff() -> Duration {
        Duration::from_millis(500)
    }
    pub(super) fn max_backoff() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn max_concurrency() -> usize {
        8
    }
    pub(super) fn max_value_chars() -> usize {
        1000
    }
    pub(super) fn max_prompt_chars() -> usize {
        12_000
    }
}

/// `"30s"`, `"250ms"`, `"2m"`, `"1h"` or a number of seconds.
pub(crate) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error as _};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }

    pub(crate) fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, unit) = s.split_at(split);
        let n: f64 = number.parse().ok()?;
        let seconds = match unit.trim() {
            "ms" => n / 1000.0,
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            _ => return None,
        };
        Duration::try_from_secs_f64(seconds).ok()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Duration::try_from_secs_f64(s)
                .map_err(|_| D::Error::custom(format!("invalid duration {s}"))),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                D::Error::custom(format!(
                    "invalid duration {:?}: expected e.g. \"30s\", \"500ms\", \"2m\"",
                    t.chars().take(32).collect::<String>()
                ))
            }),
        }
    }
}
