//! Rootly alerts REST API (feature `rootly`).
//!
//! A firing alert is created with `POST {base}/v1/alerts` (JSON:API,
//! `Content-Type: application/vnd.api+json`, bearer key) with
//! `deduplication_key` = fingerprint, so Rootly folds repeats into one
//! alert. The returned `data.id` becomes the receipt's `remote_id`.
//!
//! A resolved alert calls `POST {base}/v1/alerts/{id}/resolve` with the
//! notification's `remote_ref` (the stored id).
//!
//! **Resolve without a known id** (the firing was filtered, failed for good,
//! or its delivery state was lost): nothing is sent and the receipt is
//! *skipped* with the reason `no rootly alert id recorded for this alert`.
//! Creating a new alert only to resolve it would add noise, and searching
//! Rootly by dedup key needs read scopes an alert-writing key may not have.
//! A Rootly alert left open this way is visible in the delivery log.
//!
//! Attributes sent: `summary` (`HighLatency on db (critical)`),
//! `description` (summary/description annotations and the classification
//! summary), `status` (`triggered`, or [`RootlyConfig::status`]),
//! `started_at`, `external_id` (fingerprint), `external_url` (Alertmanager's
//! external URL, else the generator URL), `deduplication_key`, `labels` as
//! `[{key, value}]` plus `severity` (the effective one) when the alert has
//! no `severity` label, and `data` (group key, annotations, classification).

use alertkit_core::{Notification, PublishError, PublishReceipt, Publisher, Secret, Status};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::http::{HttpClient, HttpOptions};
use crate::render::{alert_name, effective_severity, is_http_url, subject, truncate};

/// Rootly's API base URL.
pub const DEFAULT_URL: &str = "https://api.rootly.com";

const JSON_API: &str = "application/vnd.api+json";
const MAX_SUMMARY: usize = 1000;
const MAX_DESCRIPTION: usize = 10_000;
const MAX_ID: usize = 128;

/// Configuration of a Rootly target.
///
/// ```toml
/// [[targets]]
/// name = "rootly"
/// type = "rootly"
/// api_key_env = "ROOTLY_API_KEY"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RootlyConfig {
    /// API key (Global, Team or Personal scope).
    pub api_key: Secret,
    /// API base URL.
    #[serde(default = "default_url")]
    pub url: String,
    /// Alert status on creation: `triggered` (On-Call, default) or `open`.
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

fn default_status() -> String {
    "triggered".to_owned()
}

impl RootlyConfig {
    /// Defaults for `api_key`.
    pub fn new(api_key: impl Into<Secret>) -> Self {
        Self {
            api_key: api_key.into(),
            url: default_url(),
            status: default_status(),
        }
    }

    /// With another API base URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }
}

/// Publishes to Rootly (see the [module docs](self)).
#[derive(Debug)]
pub struct RootlyPublisher {
    name: String,
    api_key: Secret,
    base: String,
    status: String,
    http: HttpClient,
}

impl RootlyPublisher {
    /// A publisher named `name`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] for an empty key, a non-http(s) URL or a
    /// status other than `triggered` / `open`.
    pub fn new(
        name: impl Into<String>,
        config: RootlyConfig,
        options: &HttpOptions,
    ) -> Result<Self, PublishError> {
        if config.api_key.expose().trim().is_empty() {
            return Err(PublishError::Config("api_key: must not be empty".into()));
        }
        if !is_http_url(&config.url, 2048) {
            return Err(PublishError::Config("url: expected an http(s) url".into()));
        }
        if !matches!(config.status.as_str(), "triggered" | "open") {
            return Err(PublishError::Config(
                "status: expected \"triggered\" or \"open\"".into(),
            ));
        }
        Ok(Self {
            name: name.into(),
            api_key: config.api_key,
            base: config.url.trim_end_matches('/').to_owned(),
            status: config.status,
            http: HttpClient::new(options)?,
        })
    }

    /// The JSON:API document that creates an alert for `n`.
    pub fn create_body(&self, n: &Notification) -> Value {
        let alert = &n.alert;
        let severity = effective_severity(n);
        let fingerprint = alert.fingerprint().to_string();
        let summary = match subject(alert) {
            Some(s) => format!("{} on {s} ({severity})", alert_name(alert)),
            None => format!("{} ({severity})", alert_name(alert)),
        };
        let mut description = Vec::new();
        if let Some(s) = alert.annotations.get("summary") {
            description.push(s.to_owned());
        }
        if let Some(d) = alert.annotations.get("description")
            && Some(d) != alert.annotations.get("summary")
        {
            description.push(d.to_owned());
        }
        if let Some(c) = n.classification.as_ref().filter(|c| !c.summary.is_empty()) {
            description.push(format!("alertkit: {}", c.summary));
        }
        let mut labels: Vec<Value> = alert
            .labels
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        if !alert.labels.contains("severity") {
            labels.push(json!({"key": "severity", "value": severity.as_str()}));
        }
        let mut data = Map::new();
        data.insert("groupKey".into(), n.origin.group_key.clone().into());
        data.insert("fingerprint".into(), fingerprint.clone().into());
        data.insert("annotations".into(), json!(alert.annotations));
        if let Some(c) = &n.classification {
            data.insert("classification".into(), json!(c));
        }
        let mut attributes = Map::new();
        attributes.insert(
            "summary".into(),
            truncate(&summary, MAX_SUMMARY).into_owned().into(),
        );
        if !description.is_empty() {
            attributes.insert(
                "description".into(),
                truncate(&description.join("\n\n"), MAX_DESCRIPTION)
                    .into_owned()
                    .into(),
            );
        }
        attributes.insert("status".into(), self.status.clone().into());
        attributes.insert(
            "started_at".into(),
            alertkit_core::model::format_rfc3339(alert.starts_at).into(),
        );
        attributes.insert("external_id".into(), fingerprint.clone().into());
        let external_url = [n.origin.external_url.as_str(), &alert.generator_url]
            .into_iter()
            .find(|u| is_http_url(u, 2048));
        if let Some(u) = external_url {
            attributes.insert("external_url".into(), u.into());
        }
        attributes.insert("deduplication_key".into(), fingerprint.into());
        attributes.insert("labels".into(), Value::Array(labels));
        attributes.insert("data".into(), Value::Object(data));
        json!({"data": {"type": "alerts", "attributes": attributes}})
    }

    /// The JSON:API document that resolves an alert for `n`.
    pub fn resolve_body(n: &Notification) -> Value {
        let at = n.alert.ends_at.map_or_else(String::new, |t| {
            format!(" at {}", alertkit_core::model::format_rfc3339(t))
        });
        json!({"data": {"type": "alerts", "attributes": {
            "resolution_message": format!("Resolved in Alertmanager{at} (alertkit)"),
            "resolve_related_incidents": false,
        }}})
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<crate::http::HttpResponse, PublishError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| PublishError::Config(format!("body: {e}")))?;
        let request = self
            .http
            .client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.api_key.expose())
            .header("content-type", JSON_API)
            .header("accept", JSON_API)
            .body(bytes);
        let resp = self.http.send(request).await?;
        resp.check(&[&self.api_key])?;
        Ok(resp)
    }
}

#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    id: Value,
}

/// Whether `id` is safe to put in a URL path.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[async_trait]
impl Publisher for RootlyPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        if n.alert.status == Status::Resolved {
            let Some(id) = n.remote_ref.as_deref() else {
                return Ok(PublishReceipt::skipped(
                    "no rootly alert id recorded for this alert; nothing to resolve",
                ));
            };
            if !valid_id(id) {
                return Err(PublishError::Rejected {
                    status: None,
                    message: "remote_ref: not a rootly alert id".into(),
                });
            }
            let resp = self
                .post(&format!("/v1/alerts/{id}/resolve"), &Self::resolve_body(n))
                .await?;
            return Ok(PublishReceipt::delivered()
                .with_status(resp.status())
                .with_remote_id(id));
        }
        let resp = self.post("/v1/alerts", &self.create_body(n)).await?;
        let id = serde_json::from_slice::<Created>(resp.body())
            .ok()
            .and_then(|c| match c.data.id {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|id| valid_id(id));
        let receipt = PublishReceipt::delivered().with_status(resp.status());
        Ok(match id {
            Some(id) => receipt.with_remote_id(id),
            None => {
                tracing::warn!(target_name = %self.name, "rootly accepted the alert but returned no usable data.id; a resolve will be skipped");
                receipt
            }
        })
    }
}
