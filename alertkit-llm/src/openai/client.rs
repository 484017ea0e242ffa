//! [`LlmClassifier`]: one alert, one chat completion (retried when worth it).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alertkit_core::{Alert, Classification, ClassificationSource, Classifier, ClassifyError};
use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::config::{AuthStyle, LlmConfig, ResponseFormat};
use super::metrics;
use super::parse::parse_reply;
use super::prompt::{self, PROMPT_VERSION, SYSTEM_PROMPT};
use super::wire::{ChatMessage, ChatRequest, ChatResponse, ErrorBody};

/// Largest response body read, in bytes.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest server message kept in an error.
const MAX_ERROR_CHARS: usize = 200;

/// Why an [`LlmClassifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmConfigError {
    /// `base_url` is not an absolute http(s) URL.
    #[error("base_url: {0}")]
    BaseUrl(String),
    /// `model` is empty.
    #[error("model: must not be empty")]
    Model,
    /// `api_key` cannot be sent as a header value.
    #[error("api_key: not a valid header value")]
    ApiKey,
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(String),
}

/// Classifies alerts with any server speaking the OpenAI chat completions API
/// (OpenAI, Azure-style gateways, vLLM, Ollama, llama.cpp).
///
/// Each call sends the redacted alert as a JSON document, asks for a
/// structured answer ([`ResponseFormat`]) and validates it strictly (see the
/// [module docs](super)). Transient failures (connection errors, timeouts,
/// 429, 5xx) are retried with exponential backoff and jitter up to
/// [`LlmConfig::max_attempts`], honouring `Retry-After`; at most
/// [`LlmConfig::max_concurrency`] requests are in flight. Put a
/// [`CircuitBreakerLayer`](alertkit_core::layer::CircuitBreakerLayer) and a
/// fallback around it, as [`crate::chain`] does.
pub struct LlmClassifier {
    config: LlmConfig,
    client: reqwest::Client,
    url: Url,
    id: String,
    model: Arc<str>,
    auth: Option<(HeaderName, HeaderValue)>,
    response_format: Option<Value>,
    limiter: Semaphore,
}

impl fmt::Debug for LlmClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClassifier")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, with the server's requested delay.
struct Failure {
    error: ClassifyError,
    retry_after: Option<Duration>,
}

impl From<ClassifyError> for Failure {
    fn from(error: ClassifyError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

fn unavailable(message: String) -> ClassifyError {
    ClassifyError::Unavailable(message.into())
}

impl LlmClassifier {
    /// A classifier for `config`.
    pub fn new(config: LlmConfig) -> Result<Self, LlmConfigError> {
        if config.model.trim().is_empty() {
            return Err(LlmConfigError::Model);
        }
        let mut url = Url::parse(config.base_url.trim())
            .map_err(|e| LlmConfigError::BaseUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(LlmConfigError::BaseUrl(
                "expected an http or https URL".into(),
            ));
        }
        if !url.path().ends_with("/chat/completions") {
            let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        if !config.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&config.query);
        }
        let auth = match &config.api_key {
            None => None,
            Some(key) => {
                let (name, value) = match config.auth {
                    AuthStyle::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
                    AuthStyle::ApiKeyHeader => {
                        (HeaderName::from_static("api-key"), key.expose().to_owned())
                    }
                };
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| LlmConfigError::ApiKey)?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LlmConfigError::Client(e.without_url().to_string()))?;
        let response_format = match config.response_format {
            ResponseFormat::JsonSchema => Some(json!({
                "type": "json_schema",
                "json_schema": {
                    "name": "alert_classification",
                    "strict": true,
                    "schema": prompt::answer_schema(),
                }
            })),
            ResponseFormat::JsonObject => Some(json!({ "type": "json_object" })),
            ResponseFormat::None => None,
        };
        Ok(Self {
            id: format!("openai/{}/{PROMPT_VERSION}", config.model.trim()),
            model: Arc::from(config.model.trim()),
            limiter: Semaphore::new(config.max_concurrency.max(1)),
            client,
            url,
            auth,
            response_format,
            config,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn request_body(&self, alert: &Alert) -> Result<Vec<u8>, ClassifyError> {
        let document = prompt::user_document(
            alert,
            self.config.max_value_chars,
            self.config.max_prompt_chars,
        );
        let request = ChatRequest {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: SYSTEM_PROMPT,
                },
                ChatMessage {
                    role: "user",
                    content: &document,
                },
            ],
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            response_format: self.response_format.clone(),
            stream: false,
        };
        serde_json::to_vec(&request)
            .map_err(|e| ClassifyError::Rejected(format!("request could not be encoded: {e}")))
    }

    /// Delay before attempt `attempt + 1` (attempt counts from 1), with jitter in `[½, 1]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.config.max_backoff);
        capped.mul_f64(jitter().mul_add(0.5, 0.5))
    }

    async fn classify_inner(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        let start = Instant::now();
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| ClassifyError::Overloaded)?;
        let body = bytes::Bytes::from(self.request_body(alert)?);
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome =
                tokio::time::timeout(self.config.timeout, self.attempt(body.clone())).await;
            let failure = match outcome {
                Ok(Ok(content)) => {
                    let (verdict, repair) = parse_reply(&content)?;
                    metrics::repaired(repair);
                    let mut c = Classification::new(
                        verdict.severity,
                        verdict.category,
                        verdict.confidence,
                        ClassificationSource::Llm,
                    )
                    .with_summary(verdict.summary)
                    .with_recommendations(verdict.recommendations);
                    c.model = Some(Arc::clone(&self.model));
                    c.latency = start.elapsed();
                    return Ok(c);
                }
                Ok(Err(failure)) => failure,
                Err(_elapsed) => Failure::from(ClassifyError::Timeout),
            };
            metrics::attempt_failed(&failure.error);
            if !failure.error.is_transient() || attempt >= max_attempts {
                return Err(failure.error);
            }
            let delay = self.backoff(attempt);
            let wait = match failure.retry_after {
                Some(asked) if asked > self.config.max_backoff => {
                    tracing::debug!(
                        ?asked,
                        "llm server asked to wait longer than max_backoff; giving up"
                    );
                    return Err(failure.error);
                }
                Some(asked) => asked.max(delay),
                None => delay,
            };
            tracing::debug!(attempt, ?wait, error = %failure.error, "llm attempt failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP exchange; `Ok` is the reply's content text.
    async fn attempt(&self, body: bytes::Bytes) -> Result<String, Failure> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                Failure::from(ClassifyError::Timeout)
            } else {
                Failure::from(ClassifyError::Unavailable(Box::new(e.without_url())))
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Failure::from(unavailable(format!(
                "reading the response: {}",
                e.without_url()
            )))
        })? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ClassifyError::InvalidResponse(format!(
                    "body: more than {MAX_BODY_BYTES} bytes"
                ))
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let error = status_error(status, &body);
            return Err(Failure { error, retry_after });
        }
        reply_content(&body)
    }
}

/// The error for a non-2xx answer.
fn status_error(status: StatusCode, body: &[u8]) -> ClassifyError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(ErrorBody::message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let message = prompt::redact(message.trim());
    let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
    let code = status.as_u16();
    match code {
        429 => unavailable(format!("rate limited (status 429): {message}")),
        408 => ClassifyError::Timeout,
        500..=599 => unavailable(format!("server error (status {code}): {message}")),
        _ => ClassifyError::Rejected(format!("status {code}: {message}")),
    }
}

/// The content of the first choice of a 2xx body.
fn reply_content(body: &[u8]) -> Result<String, Failure> {
    let response: ChatResponse = serde_json::from_slice(body).map_err(|e| {
        Failure::from(ClassifyError::InvalidResponse(format!(
            "body: not a chat completion: {e}"
        )))
    })?;
    if let Some(usage) = &response.usage {
        metrics::tokens(usage);
    }
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(ClassifyError::InvalidResponse("choices: empty".into()).into());
    };
    let finish_reason = choice.finish_reason;
    let Some(message) = choice.message else {
        return Err(ClassifyError::InvalidResponse("choices[0].message: missing".into()).into());
    };
    if let Some(content) = message.content.map(super::wire::Content::into_text)
        && !content.trim().is_empty()
    {
        if finish_reason.as_deref() == Some("length") {
            tracing::debug!("llm answer cut at max_tokens; repairing if safe");
        }
        return Ok(content);
    }
    if let Some(refusal) = message.refusal {
        let refusal: String = refusal.chars().take(MAX_ERROR_CHARS).collect();
        return Err(ClassifyError::InvalidResponse(format!(
            "choices[0].message: refused: {refusal}"
        ))
        .into());
    }
    Err(ClassifyError::InvalidResponse("choices[0].message.content: empty".into()).into())
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)`, different on every call (for jitter, not security).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[async_trait]
impl Classifier for LlmClassifier {
    fn id(&self) -> &str {
        &self.id
    }

    async fn classify(&self, alert: &Alert) -> Result<Classification, ClassifyError> {
        let start = Instant::now();
        let result = self.classify_inner(alert).await;
        metrics::classified(&result, start.elapsed());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = parse_retry_after(&text).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn status_mapping() {
        assert!(status_error(StatusCode::TOO_MANY_REQUESTS, b"").is_transient());
        assert!(status_error(StatusCode::BAD_GATEWAY, b"oops").is_transient());
        let e = status_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"Incorrect API key provided: sk-abcdefghijklmnopqrstuvwx"}}"#,
        );
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.contains("status 401") && !text.contains("abcdefghijklmnop"),
            "{text}"
        );
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
