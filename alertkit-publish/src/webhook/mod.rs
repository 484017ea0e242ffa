//! Generic webhooks: Alertmanager v4 bodies, optionally signed (feature `webhook`).
//!
//! Each notification is posted as an Alertmanager webhook payload v4
//! ([`WebhookMessage`]) holding the one alert, so any Alertmanager webhook
//! receiver understands it. `groupKey`, `receiver` and `externalURL` come
//! from the notification's [`Origin`](alertkit_core::Origin) (a missing
//! group key becomes `alertkit:<fingerprint>`). alertkit's own data goes in
//! one extra top-level object that v4 consumers ignore:
//!
//! ```json
//! "alertkit": {"event": "firing", "dedup_key": "52abb4dd02d696b5:firing:…",
//!              "classification": {"severity": "critical", "category": "latency", …}}
//! ```
//!
//! Headers: `Content-Type: application/json`, `User-Agent: alertkit/<version>`,
//! `Idempotency-Key` (SHA-256 hex of the target name and the notification's
//! dedup key: identical on every retry of the same notification), optional
//! bearer or basic auth, custom headers, and with an HMAC secret
//! `X-Alertkit-Timestamp` + `X-Alertkit-Signature: sha256=<hex>` over
//! `timestamp + "." + body`. Receivers check it with [`verify_signature`].

mod sign;

pub use sign::{
    MAX_SKEW_SECS, SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, sign, verify_signature,
    verify_signature_at,
};

use std::collections::BTreeMap;

use alertkit_core::{
    Classification, Notification, PublishError, PublishReceipt, Publisher, Secret, WebhookMessage,
};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize, Serializer};

use crate::http::{HttpClient, HttpOptions};
use crate::render::sha256_hex;

/// HTTP basic credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name (not secret).
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// Configuration of a generic webhook target.
///
/// ```toml
/// [[targets]]
/// name = "oncall"
/// type = "webhook"
/// url_env = "ONCALL_WEBHOOK_URL"
/// hmac_secret_env = "ONCALL_SIGNING_SECRET"
/// bearer_token_env = "ONCALL_TOKEN"      # or: basic_auth = { username = "am", password_env = "PW" }
/// headers = { "X-Team" = "db" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Where to post (may embed a token, so it is a secret).
    #[serde(serialize_with = "serialize_url")]
    pub url: Secret,
    /// Extra headers; values are treated as secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// `Authorization: Bearer …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// `Authorization: Basic …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Signs each request with HMAC-SHA256 when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<Secret>,
    /// Whether the `alertkit` object carries the classification (default true).
    #[serde(default = "yes")]
    pub include_classification: bool,
}

fn yes() -> bool {
    true
}

fn serialize_url<S: Serializer>(url: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&url.redacted_url())
}

impl WebhookConfig {
    /// Posts to `url` with no auth, headers or signing.
    pub fn new(url: impl Into<Secret>) -> Self {
        Self {
            url: url.into(),
            headers: BTreeMap::new(),
            bearer_token: None,
            basic_auth: None,
            hmac_secret: None,
            include_classification: true,
        }
    }

    /// With HMAC signing.
    #[must_use]
    pub fn with_hmac_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// With a bearer token.
    #[must_use]
    pub fn with_bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// With basic auth.
    #[must_use]
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.basic_auth = Some(BasicAuth {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// With an extra header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// Publishes Alertmanager-v4 webhooks (see the [module docs](self)).
#[derive(Debug)]
pub struct WebhookPublisher {
    name: String,
    url: Secret,
    headers: HeaderMap,
    auth: Auth,
    secrets: Vec<Secret>,
    hmac_secret: Option<Secret>,
    include_classification: bool,
    http: HttpClient,
}

#[derive(Debug)]
enum Auth {
    None,
    Bearer(Secret),
    Basic(BasicAuth),
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(flatten)]
    message: &'a WebhookMessage,
    alertkit: Extras<'a>,
}

#[derive(Serialize)]
struct Extras<'a> {
    event: &'static str,
    dedup_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    classification: Option<&'a Classification>,
}

impl WebhookPublisher {
    /// A publisher named `name`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] for a non-http(s) URL, an invalid header name
    /// or value, both bearer and basic auth, or an empty HMAC secret.
    pub fn new(
        name: impl Into<String>,
        config: WebhookConfig,
        options: &HttpOptions,
    ) -> Result<Self, PublishError> {
        let url = config.url.expose();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(PublishError::Config("url: expected an http(s) url".into()));
        }
        let mut headers = HeaderMap::new();
        let mut secrets = vec![config.url.clone()];
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| PublishError::Config(format!("headers: invalid header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v.expose())
                .map_err(|_| PublishError::Config(format!("headers.{k}: invalid header value")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
            secrets.push(v.clone());
        }
        let auth = match (config.bearer_token, config.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(PublishError::Config(
                    "bearer_token: set either bearer_token or basic_auth, not both".into(),
                ));
            }
            (Some(token), None) => {
                secrets.push(token.clone());
                Auth::Bearer(token)
            }
            (None, Some(basic)) => {
                secrets.push(basic.password.clone());
                Auth::Basic(basic)
            }
            (None, None) => Auth::None,
        };
        if let Some(s) = &config.hmac_secret {
            if s.is_empty() {
                return Err(PublishError::Config(
                    "hmac_secret: must not be empty".into(),
                ));
            }
            secrets.push(s.clone());
        }
        Ok(Self {
            name: name.into(),
            url: config.url,
            headers,
            auth,
            secrets,
            hmac_secret: config.hmac_secret,
            include_classification: config.include_classification,
            http: HttpClient::new(options)?,
        })
    }

    /// The JSON body this publisher sends for `n`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] if the body cannot be serialized (it always can).
    pub fn body(&self, n: &Notification) -> Result<Vec<u8>, PublishError> {
        let mut message =
            WebhookMessage::from_alerts(n.origin.receiver.clone(), vec![n.alert.clone()]);
        message.group_key = if n.origin.group_key.is_empty() {
            format!("alertkit:{}", n.alert.fingerprint())
        } else {
            n.origin.group_key.clone()
        };
        message.external_url = n.origin.external_url.clone();
        message.route_labels = None;
        let body = Body {
            message: &message,
            alertkit: Extras {
                event: n.kind.as_str(),
                dedup_key: n.dedup_key(),
                classification: n
                    .classification
                    .as_deref()
                    .filter(|_| self.include_classification),
            },
        };
        serde_json::to_vec(&body).map_err(|e| PublishError::Config(format!("body: {e}")))
    }

    /// The `Idempotency-Key` for `n` at this target: the same on every retry.
    pub fn idempotency_key(&self, n: &Notification) -> String {
        sha256_hex(&[self.name.as_bytes(), b"\n", n.dedup_key().as_bytes()])
    }
}

#[async_trait]
impl Publisher for WebhookPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        let body = self.body(n)?;
        let mut request = self
            .http
            .client()
            .post(self.url.expose())
            .headers(self.headers.clone())
            .header("content-type", "application/json")
            .header("idempotency-key", self.idempotency_key(n));
        request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::Basic(b) => request.basic_auth(&b.username, Some(b.password.expose())),
        };
        if let Some(secret) = &self.hmac_secret {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let signature = sign(secret.expose().as_bytes(), &timestamp, &body);
            request = request
                .header(TIMESTAMP_HEADER, timestamp)
                .header(SIGNATURE_HEADER, signature);
        }
        let resp = self.http.send(request.body(body)).await?;
        let secrets: Vec<&Secret> = self.secrets.iter().collect();
        resp.check(&secrets)?;
        Ok(PublishReceipt::delivered().with_status(resp.status()))
    }
}
