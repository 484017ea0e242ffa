//! The HTTP machinery shared by the vendor publishers (feature `http`).
//!
//! One [`HttpClient`] per publisher: a pooled `reqwest::Client` with explicit
//! timeouts, no redirects (a redirect could carry credentials elsewhere) and
//! `User-Agent: alertkit/<version>`. Responses are turned into
//! [`PublishError`]s by [`classify_status`]:
//!
//! | Response | Result | Retry? |
//! |---|---|---|
//! | 2xx | `Ok` | – |
//! | 429 | [`PublishError::RateLimited`] with `Retry-After` | yes |
//! | 408, 5xx | [`PublishError::Server`] with `Retry-After` | yes |
//! | other 3xx/4xx | [`PublishError::Rejected`] | no |
//! | no answer in time | [`PublishError::Timeout`] | yes |
//! | connection failure | [`PublishError::Transport`] | yes |
//!
//! Error messages carry a short, secret-scrubbed excerpt of the response
//! body, never a request URL.

mod classify;

pub use classify::{MAX_RETRY_AFTER, classify_status, parse_retry_after};

use std::time::Duration;

use alertkit_core::{PublishError, REDACTED, Secret};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The `User-Agent` of every request alertkit makes.
pub const USER_AGENT: &str = concat!("alertkit/", env!("CARGO_PKG_VERSION"));

/// How much of a response body is read (larger bodies are cut off).
const MAX_BODY: usize = 256 * 1024;

/// How many characters of a response body go into an error message.
const EXCERPT_CHARS: usize = 300;

/// Timeouts of one publisher's HTTP client.
///
/// ```
/// use std::time::Duration;
/// use alertkit_publish::http::HttpOptions;
///
/// let options = HttpOptions::with_timeout(Duration::from_secs(2));
/// assert_eq!(options.timeout, Duration::from_secs(2));
/// assert_eq!(options.connect_timeout, Duration::from_secs(2));
/// assert_eq!(HttpOptions::default().timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Whole-request deadline, from connecting to the last body byte (default 10 s).
    pub timeout: Duration,
    /// Deadline for establishing a connection (default 5 s).
    pub connect_timeout: Duration,
    /// How long an idle pooled connection is kept (default 90 s).
    pub pool_idle_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

impl HttpOptions {
    /// Defaults with a whole-request `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout: timeout.min(Self::default().connect_timeout),
            ..Self::default()
        }
    }
}

/// A pooled HTTP client with alertkit's defaults.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// Builds a client.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] when the TLS backend cannot be set up.
    pub fn new(options: &HttpOptions) -> Result<Self, PublishError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PublishError::Config(format!("http client: {}", e.without_url())))?;
        Ok(Self { client })
    }

    /// The underlying client, to build requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` and reads (at most 256 KiB of) the response body.
    ///
    /// Only failures to get a response are errors here; call
    /// [`HttpResponse::check`] to classify the status.
    ///
    /// # Errors
    ///
    /// [`PublishError::Timeout`], [`PublishError::Transport`] (without the
    /// request URL) or [`PublishError::Config`] for a request that cannot be
    /// built (an invalid URL or header value).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, PublishError> {
        let mut response = request.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            let room = MAX_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY {
                break;
            }
        }
        Ok(HttpResponse {
            status,
            retry_after,
            body,
        })
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// Maps a reqwest failure to a [`PublishError`], dropping the URL (it may be a secret).
fn map_error(e: reqwest::Error) -> PublishError {
    let e = e.without_url();
    if e.is_timeout() {
        PublishError::Timeout
    } else if e.is_builder() {
        PublishError::Config(format!("invalid request: {e}"))
    } else {
        PublishError::Transport(Box::new(e))
    }
}

/// A response: status, `Retry-After` and the (bounded) body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The parsed `Retry-After` header (seconds), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The body (at most 256 KiB).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A short, printable excerpt of the body with `secrets` replaced by `***`.
    pub fn excerpt(&self, secrets: &[&Secret]) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let cleaned: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let cleaned = cleaned.trim();
        let cut = crate::render::truncate(cleaned, EXCERPT_CHARS);
        let out = scrub(&cut, secrets);
        if out.is_empty() {
            "empty response body".to_owned()
        } else {
            out
        }
    }

    /// `Ok` for 2xx, else the classified error with a body excerpt.
    ///
    /// # Errors
    ///
    /// See [`classify_status`].
    pub fn check(&self, secrets: &[&Secret]) -> Result<(), PublishError> {
        if self.is_success() {
            return Ok(());
        }
        classify_status(self.status, self.retry_after, self.excerpt(secrets))
    }
}

/// Replaces every occurrence of each non-trivial secret in `text` with `***`.
///
/// Used on response body excerpts: a target may echo a key back.
pub(crate) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        // Very short values would redact ordinary words.
        if s.expose().len() >= 6 && out.contains(s.expose()) {
            out = out.replace(s.expose(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_secrets() {
        let s = Secret::new("hunter2-very-secret");
        let short = Secret::new("abc");
        assert_eq!(
            scrub("echo hunter2-very-secret! abc", &[&s, &short]),
            "echo ***! abc"
        );
    }
}
