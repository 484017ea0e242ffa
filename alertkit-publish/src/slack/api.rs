//! Slack Web API responses: HTTP 200 with `{"ok":false,"error":"…"}` on failure.

use alertkit_core::{PublishError, Secret};
use serde::Deserialize;

use crate::http::HttpResponse;

/// The fields of a `chat.postMessage` / `chat.update` answer alertkit uses.
#[derive(Debug, Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// A successful Web API call: where the message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Posted {
    pub(crate) channel: Option<String>,
    pub(crate) ts: Option<String>,
}

/// Errors that mean "the message to update is gone or frozen": post a new one instead.
pub(crate) const UPDATE_IMPOSSIBLE: [&str; 4] = [
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "msg_too_long",
];

/// Web API error codes worth retrying as server-side failures.
const SERVER_ERRORS: [&str; 5] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// Interprets a Web API response.
pub(crate) fn interpret(resp: &HttpResponse, secrets: &[&Secret]) -> Result<Posted, ApiError> {
    resp.check(secrets).map_err(ApiError::Publish)?;
    let parsed: ApiResponse = serde_json::from_slice(resp.body()).map_err(|_| {
        ApiError::Publish(PublishError::Server {
            status: resp.status(),
            message: format!("unparseable slack response: {}", resp.excerpt(secrets)),
            retry_after: resp.retry_after(),
        })
    })?;
    if parsed.ok {
        return Ok(Posted {
            channel: parsed.channel,
            ts: parsed.ts,
        });
    }
    let code: String = parsed
        .error
        .as_deref()
        .unwrap_or("unknown_error")
        .chars()
        .take(100)
        .collect();
    let code = crate::http::scrub(&code, secrets);
    Err(ApiError::Slack {
        error: classify_code(&code, resp.status(), resp.retry_after()),
        code,
    })
}

/// Why a Web API call failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// HTTP-level failure or garbage.
    Publish(PublishError),
    /// `ok:false` with an error code.
    Slack { code: String, error: PublishError },
}

impl ApiError {
    pub(crate) fn into_publish(self) -> PublishError {
        match self {
            Self::Publish(e) | Self::Slack { error: e, .. } => e,
        }
    }
}

/// Maps an `ok:false` error code to a [`PublishError`].
pub(crate) fn classify_code(
    code: &str,
    status: u16,
    retry_after: Option<std::time::Duration>,
) -> PublishError {
    if code == "ratelimited" || code == "rate_limited" {
        PublishError::RateLimited { retry_after }
    } else if SERVER_ERRORS.contains(&code) {
        PublishError::Server {
            status,
            message: code.to_owned(),
            retry_after,
        }
    } else {
        PublishError::Rejected {
            status: Some(status),
            message: code.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(matches!(
            classify_code("ratelimited", 200, None),
            PublishError::RateLimited { .. }
        ));
        assert!(classify_code("internal_error", 200, None).is_transient());
        assert!(!classify_code("invalid_auth", 200, None).is_transient());
        assert!(!classify_code("channel_not_found", 200, None).is_transient());
    }
}
