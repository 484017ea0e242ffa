//! Slack: incoming webhooks, or the Web API with a bot token (feature `slack`).
//!
//! # Message layout
//!
//! One message per notification, in Block Kit with a top-level `text`
//! fallback (`[FIRING] HighLatency db (critical): p99 > 1s`):
//!
//! 1. header `FIRING: HighLatency (db)` / `RESOLVED: …` (the subject is the
//!    `service`, `job` or `instance` label);
//! 2. a section with the `summary` and `description` annotations, severity,
//!    start and resolve times;
//! 3. the classification, when there is one: severity, category, confidence,
//!    source, summary and recommendations;
//! 4. labels as section fields (ten per section, up to thirty; the rest are
//!    counted in the context line);
//! 5. the other annotations;
//! 6. a context line: fingerprint, receiver, event kind;
//! 7. link buttons: *Source* (generator URL), *Runbook* (`runbook_url`
//!    annotation), *Silence* (Alertmanager's new-silence page, from
//!    `Origin::external_url`, while firing) and *History*
//!    ([`SlackConfig::history_url`] + `/` + fingerprint).
//!
//! Slack's limits are enforced by cutting text on character boundaries with
//! an ellipsis, never by sending something Slack would reject: 50 blocks,
//! 3000 characters per section, 10 fields of 2000, 150 per header, a 4000
//! character `text`, and about 11k characters of block text in total (Slack
//! rejects roughly 13k with `msg_blocks_too_long`). User text is escaped for
//! mrkdwn (`&`, `<`, `>`), so labels cannot inject mentions or links.
//!
//! # Modes
//!
//! - **Incoming webhook** ([`SlackConfig::webhook`]): the URL is the secret;
//!   Slack returns no message id, so a resolve is a new message.
//! - **Bot token** ([`SlackConfig::bot`]): `chat.postMessage` to the
//!   configured channel. The receipt's `remote_id` is `channel:ts`; on a
//!   resolve whose notification carries it as `remote_ref`, the original
//!   message is edited with `chat.update` ([`OnResolve::Update`], default) or
//!   answered in its thread ([`OnResolve::Thread`]). If the original cannot
//!   be edited any more (`message_not_found`, `cant_update_message`,
//!   `edit_window_closed`), a new message is posted. Slack's `ok:false`
//!   answers are classified: `ratelimited` → rate limited; `internal_error`,
//!   `fatal_error`, `service_unavailable`, `request_timeout` → server error
//!   (retried); anything else (`invalid_auth`, `channel_not_found`,
//!   `invalid_blocks`, `not_in_channel`, …) → rejected.

mod api;
mod blocks;

use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher, Secret, Status};
use async_trait::async_trait;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

use crate::http::{HttpClient, HttpOptions};
use api::{ApiError, UPDATE_IMPOSSIBLE};
use blocks::Links;

/// Slack's Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// What a bot-mode publisher does with a resolve for a message it posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnResolve {
    /// Edit the original message in place (`chat.update`).
    #[default]
    Update,
    /// Reply in the original message's thread.
    Thread,
    /// Post a new message.
    New,
}

/// Configuration of a Slack target.
///
/// In a targets file (see [`crate::config`]):
///
/// ```toml
/// [[targets]]
/// name = "ops-slack"
/// type = "slack"
/// url_env = "SLACK_WEBHOOK_URL"          # incoming webhook, or:
/// # token_env = "SLACK_BOT_TOKEN"        # bot mode …
/// # channel = "C0123456789"              # … with a channel
/// # on_resolve = "thread"                # update (default) | thread | new
/// history_url = "https://alertkit.example/alerts"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackConfig {
    /// Incoming webhook URL (webhook mode).
    #[serde(default, serialize_with = "serialize_url")]
    pub url: Option<Secret>,
    /// Bot token `xoxb-…` (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Channel id or name (bot mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Web API base URL (bot mode).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// What to do on a resolve (bot mode).
    #[serde(default)]
    pub on_resolve: OnResolve,
    /// Base URL of an alert-history page; a *History* button links to `<history_url>/<fingerprint>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_url: Option<String>,
}

/// Serializes the optional webhook URL as its [`Secret::redacted_url`] (for redacted views).
fn serialize_url<S: Serializer>(value: &Option<Secret>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(url) => serializer.serialize_some(&url.redacted_url()),
        None => serializer.serialize_none(),
    }
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

impl SlackConfig {
    /// Incoming-webhook mode.
    pub fn webhook(url: impl Into<Secret>) -> Self {
        Self {
            url: Some(url.into()),
            token: None,
            channel: None,
            api_url: default_api_url(),
            on_resolve: OnResolve::default(),
            history_url: None,
        }
    }

    /// Bot-token mode posting to `channel`.
    pub fn bot(token: impl Into<Secret>, channel: impl Into<String>) -> Self {
        Self {
            url: None,
            token: Some(token.into()),
            channel: Some(channel.into()),
            ..Self::webhook(Secret::new(""))
        }
    }

    /// With another Web API base URL (tests, proxies).
    #[must_use]
    pub fn with_api_url(mut self, api_url: impl Into<String>) -> Self {
        self.api_url = api_url.into();
        self
    }

    /// With a resolve behaviour (bot mode).
    #[must_use]
    pub fn with_on_resolve(mut self, on_resolve: OnResolve) -> Self {
        self.on_resolve = on_resolve;
        self
    }

    /// With a history link base URL.
    #[must_use]
    pub fn with_history_url(mut self, history_url: impl Into<String>) -> Self {
        self.history_url = Some(history_url.into());
        self
    }
}

#[derive(Debug)]
enum Mode {
    Webhook {
        url: Secret,
    },
    Bot {
        token: Secret,
        channel: String,
        api_url: String,
        on_resolve: OnResolve,
    },
}

/// Publishes to Slack (see the [module docs](self)).
#[derive(Debug)]
pub struct SlackPublisher {
    name: String,
    mode: Mode,
    links: Links,
    http: HttpClient,
}

impl SlackPublisher {
    /// A publisher named `name`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] unless exactly one of `url` and `token` is
    /// set, with a `channel` for a token, and URLs are http(s).
    pub fn new(
        name: impl Into<String>,
        config: SlackConfig,
        options: &HttpOptions,
    ) -> Result<Self, PublishError> {
        let mode = match (config.url, config.token) {
            (Some(url), None) => {
                check_url("url", url.expose())?;
                Mode::Webhook { url }
            }
            (None, Some(token)) => {
                let channel = config
                    .channel
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| PublishError::Config("channel: required with token".into()))?;
                check_url("api_url", &config.api_url)?;
                Mode::Bot {
                    token,
                    channel,
                    api_url: config.api_url.trim_end_matches('/').to_owned(),
                    on_resolve: config.on_resolve,
                }
            }
            (Some(_), Some(_)) => {
                return Err(PublishError::Config(
                    "url: set either url (incoming webhook) or token (bot), not both".into(),
                ));
            }
            (None, None) => {
                return Err(PublishError::Config(
                    "url: an incoming webhook url or a bot token is required".into(),
                ));
            }
        };
        if let Some(h) = &config.history_url {
            check_url("history_url", h)?;
        }
        Ok(Self {
            name: name.into(),
            mode,
            links: Links {
                history_url: config.history_url,
            },
            http: HttpClient::new(options)?,
        })
    }

    /// The `text` and `blocks` this publisher would send for `n`.
    pub fn render(&self, n: &Notification) -> Value {
        let r = blocks::render(n, &self.links);
        json!({"text": r.text, "blocks": r.blocks})
    }

    async fn post_webhook(
        &self,
        url: &Secret,
        body: Value,
    ) -> Result<PublishReceipt, PublishError> {
        let resp = self
            .http
            .send(self.http.client().post(url.expose()).json(&body))
            .await?;
        resp.check(&[url])?;
        Ok(PublishReceipt::delivered().with_status(resp.status()))
    }

    async fn call_api(
        &self,
        token: &Secret,
        api_url: &str,
        method: &str,
        body: &Value,
    ) -> Result<(u16, api::Posted), ApiError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ApiError::Publish(PublishError::Config(format!("body: {e}"))))?;
        let request = self
            .http
            .client()
            .post(format!("{api_url}/{method}"))
            .bearer_auth(token.expose())
            .header("content-type", "application/json; charset=utf-8")
            .body(bytes);
        let resp = self.http.send(request).await.map_err(ApiError::Publish)?;
        let posted = api::interpret(&resp, &[token])?;
        Ok((resp.status(), posted))
    }

    async fn publish_bot(
        &self,
        n: &Notification,
        token: &Secret,
        channel: &str,
        api_url: &str,
        on_resolve: OnResolve,
    ) -> Result<PublishReceipt, PublishError> {
        let rendered = self.render(n);
        let previous = n
            .remote_ref
            .as_deref()
            .and_then(|r| r.split_once(':'))
            .filter(|(c, ts)| !c.is_empty() && !ts.is_empty());
        let mut body = rendered;
        body["channel"] = json!(channel);
        if n.alert.status == Status::Resolved
            && let Some((prev_channel, prev_ts)) = previous
        {
            match on_resolve {
                OnResolve::Update => {
                    let mut update = body.clone();
                    update["channel"] = json!(prev_channel);
                    update["ts"] = json!(prev_ts);
                    match self.call_api(token, api_url, "chat.update", &update).await {
                        Ok((status, _)) => {
                            return Ok(PublishReceipt::delivered()
                                .with_status(status)
                                .with_remote_id(format!("{prev_channel}:{prev_ts}")));
                        }
                        Err(ApiError::Slack { code, .. })
                            if UPDATE_IMPOSSIBLE.contains(&code.as_str()) =>
                        {
                            tracing::debug!(target_name = %self.name, %code, "slack message cannot be updated, posting a new one");
                        }
                        Err(e) => return Err(e.into_publish()),
                    }
                }
                OnResolve::Thread => {
                    body["channel"] = json!(prev_channel);
                    body["thread_ts"] = json!(prev_ts);
                    let (status, _) = self
                        .call_api(token, api_url, "chat.postMessage", &body)
                        .await
                        .map_err(ApiError::into_publish)?;
                    // Later events keep threading under the original message.
                    return Ok(PublishReceipt::delivered()
                        .with_status(status)
                        .with_remote_id(format!("{prev_channel}:{prev_ts}")));
                }
                OnResolve::New => {}
            }
        }
        let (status, posted) = self
            .call_api(token, api_url, "chat.postMessage", &body)
            .await
            .map_err(ApiError::into_publish)?;
        let receipt = PublishReceipt::delivered().with_status(status);
        Ok(match (posted.channel, posted.ts) {
            (Some(c), Some(ts)) => receipt.with_remote_id(format!("{c}:{ts}")),
            _ => receipt,
        })
    }
}

fn check_url(key: &str, url: &str) -> Result<(), PublishError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(PublishError::Config(format!(
            "{key}: expected an http(s) url"
        )))
    }
}

#[async_trait]
impl Publisher for SlackPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        match &self.mode {
            Mode::Webhook { url } => self.post_webhook(url, self.render(n)).await,
            Mode::Bot {
                token,
                channel,
                api_url,
                on_resolve,
            } => {
                self.publish_bot(n, token, channel, api_url, *on_resolve)
                    .await
            }
        }
    }
}
