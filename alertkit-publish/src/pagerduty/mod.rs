//! PagerDuty Events API v2 (feature `pagerduty`).
//!
//! A firing alert (first firing, re-fired, changed) sends `trigger`; a
//! resolved one sends `resolve`. Events are deduplicated by `dedup_key`:
//!
//! - [`DedupBy::Alert`] (default): the alert's 16-hex fingerprint, one
//!   PagerDuty alert per Alertmanager alert;
//! - [`DedupBy::Group`]: SHA-256 hex of the Alertmanager group key, one
//!   PagerDuty alert per group, as Alertmanager's own integration does.
//!   alertkit publishes per alert, so the first resolved alert of a group
//!   resolves the PagerDuty alert even while others still fire (the next
//!   trigger of the group opens a new one). Prefer `alert` unless you need
//!   Alertmanager-compatible keys.
//!
//! A resolve uses the notification's `remote_ref` (the key recorded when the
//! trigger was delivered) when there is one, so changing the mode between a
//! trigger and its resolve still closes the right alert.
//!
//! The trigger payload: `summary` (`HighLatency on db: p99 > 1s`, at most
//! 1024 characters), `source` (`instance`, `service` or `job` label),
//! `severity` (below), `timestamp` (`startsAt`), `component` (`service`,
//! `job` or `container`), `group` (`cluster`, `namespace`, `env` or
//! `environment`), `class` (the classification's category),
//! `custom_details` (labels, annotations, classification), `links`
//! (generator URL, `runbook_url`), `client` / `client_url` (default:
//! `alertkit` and Alertmanager's external URL). Above 512,000 bytes the
//! custom details are replaced by a note (and links dropped if still too
//! big), as Alertmanager does.
//!
//! Severity: the classification's when present, else the `severity` label —
//! kept verbatim when it is already `critical`, `error`, `warning` or `info`,
//! else mapped with [`Severity::from_label`](alertkit_core::Severity::from_label).
//! Critical → `critical`, warning → `warning`, info and noise → `info`,
//! unknown → `error` (Alertmanager's default).

use alertkit_core::{
    Notification, PublishError, PublishReceipt, Publisher, Secret, Severity, Status,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::http::{HttpClient, HttpOptions};
use crate::render::{alert_name, is_http_url, sha256_hex, truncate};

/// The Events API v2 endpoint (US service region).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty's event size limit, as Alertmanager applies it.
pub const MAX_EVENT_BYTES: usize = 512_000;

const MAX_SUMMARY: usize = 1024;
const MAX_SHORT_FIELD: usize = 255;
const MAX_LINK: usize = 2048;

/// What a PagerDuty alert stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupBy {
    /// One PagerDuty alert per alert: `dedup_key` = fingerprint.
    #[default]
    Alert,
    /// One per Alertmanager group: `dedup_key` = SHA-256 hex of the group key.
    Group,
}

/// Configuration of a PagerDuty target.
///
/// ```toml
/// [[targets]]
/// name = "pager"
/// type = "pagerduty"
/// routing_key_env = "PAGERDUTY_ROUTING_KEY"
/// dedup = "alert"                 # or "group"
/// filters = { min_severity = "critical" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PagerDutyConfig {
    /// The integration (routing) key.
    pub routing_key: Secret,
    /// Events endpoint (EU accounts: `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default = "default_url")]
    pub url: String,
    /// Dedup key policy.
    #[serde(default)]
    pub dedup: DedupBy,
    /// `client` shown in PagerDuty.
    #[serde(default = "default_client")]
    pub client: String,
    /// `client_url`; default: the notification's Alertmanager external URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

fn default_client() -> String {
    "alertkit".to_owned()
}

impl PagerDutyConfig {
    /// Defaults for `routing_key`.
    pub fn new(routing_key: impl Into<Secret>) -> Self {
        Self {
            routing_key: routing_key.into(),
            url: default_url(),
            dedup: DedupBy::default(),
            client: default_client(),
            client_url: None,
        }
    }

    /// With another events endpoint.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// With a dedup policy.
    #[must_use]
    pub fn with_dedup(mut self, dedup: DedupBy) -> Self {
        self.dedup = dedup;
        self
    }
}

/// Publishes to PagerDuty (see the [module docs](self)).
#[derive(Debug)]
pub struct PagerDutyPublisher {
    name: String,
    config: PagerDutyConfig,
    http: HttpClient,
}

impl PagerDutyPublisher {
    /// A publisher named `name`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Config`] for an empty routing key or a non-http(s) URL.
    pub fn new(
        name: impl Into<String>,
        config: PagerDutyConfig,
        options: &HttpOptions,
    ) -> Result<Self, PublishError> {
        if config.routing_key.expose().trim().is_empty() {
            return Err(PublishError::Config(
                "routing_key: must not be empty".into(),
            ));
        }
        if !is_http_url(&config.url, MAX_LINK) {
            return Err(PublishError::Config("url: expected an http(s) url".into()));
        }
        Ok(Self {
            name: name.into(),
            config,
            http: HttpClient::new(options)?,
        })
    }

    /// The dedup key for `n` under the configured policy.
    pub fn dedup_key(&self, n: &Notification) -> String {
        match self.config.dedup {
            DedupBy::Group if !n.origin.group_key.is_empty() => {
                sha256_hex(&[n.origin.group_key.as_bytes()])
            }
            _ => n.alert.fingerprint().to_string(),
        }
    }

    /// The event this publisher would send for `n`.
    pub fn event(&self, n: &Notification) -> Value {
        let key = self.config.routing_key.expose();
        if n.alert.status == Status::Resolved {
            let dedup_key = n
                .remote_ref
                .as_deref()
                .filter(|r| !r.is_empty() && r.len() <= MAX_SHORT_FIELD)
                .map_or_else(|| self.dedup_key(n), str::to_owned);
            return json!({"routing_key": key, "event_action": "resolve", "dedup_key": dedup_key});
        }
        let mut event = trigger(n, key, &self.dedup_key(n), &self.config);
        if serialized_len(&event) > MAX_EVENT_BYTES {
            event["payload"]["custom_details"] = json!({
                "note": format!("custom_details removed: the event exceeded {MAX_EVENT_BYTES} bytes")
            });
            if serialized_len(&event) > MAX_EVENT_BYTES
                && let Some(obj) = event.as_object_mut()
            {
                obj.remove("links");
            }
        }
        event
    }
}

fn serialized_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// The PagerDuty severity for `n` (see the module docs).
fn pd_severity(n: &Notification) -> &'static str {
    let severity = match &n.classification {
        Some(c) => c.severity,
        None => {
            let raw = n.alert.labels.get("severity").unwrap_or_default().trim();
            for verbatim in ["critical", "error", "warning", "info"] {
                if raw.eq_ignore_ascii_case(verbatim) {
                    return verbatim;
                }
            }
            Severity::from_label(raw)
        }
    };
    match severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info | Severity::Noise => "info",
        Severity::Unknown => "error",
    }
}

fn first_label<'a>(n: &'a Notification, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|k| n.alert.labels.get(k))
}

fn trigger(
    n: &Notification,
    routing_key: &str,
    dedup_key: &str,
    config: &PagerDutyConfig,
) -> Value {
    let alert = &n.alert;
    let name = alert_name(alert);
    let source = first_label(n, &["instance", "service", "job"]);
    let detail = alert.summary().or_else(|| {
        n.classification
            .as_ref()
            .map(|c| c.summary.as_str())
            .filter(|s| !s.is_empty())
    });
    let summary = match (source, detail) {
        (Some(s), Some(d)) => format!("{name} on {s}: {d}"),
        (Some(s), None) => format!("{name} on {s}"),
        (None, Some(d)) => format!("{name}: {d}"),
        (None, None) => name.to_owned(),
    };
    let short = |s: &str| Value::from(truncate(s, MAX_SHORT_FIELD).into_owned());

    let mut payload = Map::new();
    payload.insert(
        "summary".into(),
        truncate(&summary, MAX_SUMMARY).into_owned().into(),
    );
    payload.insert("source".into(), short(source.unwrap_or(name)));
    payload.insert("severity".into(), pd_severity(n).into());
    payload.insert(
        "timestamp".into(),
        alertkit_core::model::format_rfc3339(alert.starts_at).into(),
    );
    if let Some(c) = first_label(n, &["service", "job", "container"]) {
        payload.insert("component".into(), short(c));
    }
    if let Some(g) = first_label(n, &["cluster", "namespace", "env", "environment"]) {
        payload.insert("group".into(), short(g));
    }
    if let Some(c) = &n.classification {
        payload.insert("class".into(), c.category.as_str().into());
    }
    let mut details = Map::new();
    details.insert("labels".into(), json!(alert.labels));
    details.insert("annotations".into(), json!(alert.annotations));
    details.insert("fingerprint".into(), alert.fingerprint().to_string().into());
    if let Some(c) = &n.classification {
        details.insert("classification".into(), json!(c));
    }
    payload.insert("custom_details".into(), Value::Object(details));

    let mut links = Vec::new();
    if is_http_url(&alert.generator_url, MAX_LINK) {
        links.push(json!({"href": &*alert.generator_url, "text": "Source"}));
    }
    if let Some(r) = alert.annotations.get("runbook_url")
        && is_http_url(r, MAX_LINK)
    {
        links.push(json!({"href": r, "text": "Runbook"}));
    }

    let mut event = Map::new();
    event.insert("routing_key".into(), routing_key.into());
    event.insert("event_action".into(), "trigger".into());
    event.insert("dedup_key".into(), dedup_key.into());
    event.insert("payload".into(), Value::Object(payload));
    if !links.is_empty() {
        event.insert("links".into(), Value::Array(links));
    }
    event.insert("client".into(), short(&config.client));
    let client_url = config
        .client_url
        .as_deref()
        .unwrap_or(&n.origin.external_url);
    if is_http_url(client_url, MAX_LINK) {
        event.insert("client_url".into(), client_url.into());
    }
    Value::Object(event)
}

#[derive(Deserialize)]
struct Accepted {
    #[serde(default)]
    dedup_key: Option<String>,
}

#[async_trait]
impl Publisher for PagerDutyPublisher {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self, n: &Notification) -> Result<PublishReceipt, PublishError> {
        let event = self.event(n);
        let secrets = [&self.config.routing_key];
        let resp = self
            .http
            .send(self.http.client().post(&self.config.url).json(&event))
            .await?;
        resp.check(&secrets)?;
        let sent_key = event["dedup_key"].as_str().unwrap_or_default().to_owned();
        let key = serde_json::from_slice::<Accepted>(resp.body())
            .ok()
            .and_then(|a| a.dedup_key)
            .filter(|k| !k.is_empty() && k.len() <= MAX_SHORT_FIELD)
            .unwrap_or(sent_key);
        Ok(PublishReceipt::delivered()
            .with_status(resp.status())
            .with_remote_id(key))
    }
}
