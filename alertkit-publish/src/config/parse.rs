//! Parsing a targets file.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{ConfigError, DEFAULT_TIMEOUT_SECS, RateLimit, TargetConfig, TargetSettings};
use crate::filter::TargetFilter;

/// Keys every target may have, besides its type's own.
const COMMON_KEYS: [&str; 6] = [
    "name",
    "type",
    "enabled",
    "filters",
    "rate_limit",
    "timeout_secs",
];

/// Parses a targets file, reading `*_env` keys from the process environment.
///
/// # Errors
///
/// See [`parse_targets_with_env`].
pub fn parse_targets(text: &str) -> Result<Vec<TargetConfig>, ConfigError> {
    parse_targets_with_env(text, &|name| std::env::var(name).ok())
}

/// Parses a targets file, looking `*_env` variables up with `env`.
///
/// # Errors
///
/// [`ConfigError::Syntax`] for invalid TOML, [`ConfigError::Invalid`] naming
/// the target and key for anything else: unknown or missing keys, bad
/// values, duplicate names, unset environment variables. Settings only a
/// publisher can check (URL schemes, a bot token without a channel) are
/// refused when the target is built ([`TargetRegistry`](crate::TargetRegistry)
/// does both).
///
/// ```
/// use alertkit_publish::config::parse_targets_with_env;
///
/// let text = r#"
///     [[targets]]
///     name = "pager"
///     type = "pagerduty"
///     routing_key_env = "PD_KEY"
///     filters = { min_severity = "critical" }
/// "#;
/// let targets = parse_targets_with_env(text, &|name| (name == "PD_KEY").then(|| "k".repeat(32))).unwrap();
/// assert_eq!(targets[0].settings.kind(), "pagerduty");
/// assert_eq!(targets[0].rate_limit.unwrap().to_string(), "120/min");
///
/// let err = parse_targets_with_env(text, &|_| None).unwrap_err();
/// assert_eq!(err.to_string(), r#"target "pager": key "routing_key_env": environment variable PD_KEY is not set"#);
/// ```
pub fn parse_targets_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<TargetConfig>, ConfigError> {
    let mut root: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        line: e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        }),
        message: e.message().to_owned(),
    })?;
    let targets = match root.remove("targets") {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ConfigError::invalid(
                "",
                "targets",
                "expected an array of tables ([[targets]])",
            ));
        }
    };
    if let Some(key) = root.keys().next() {
        return Err(ConfigError::invalid(
            "",
            key.clone(),
            "unknown top-level key, expected `targets`",
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(targets.len());
    for (i, item) in targets.into_iter().enumerate() {
        let Value::Table(table) = item else {
            return Err(ConfigError::invalid(
                format!("#{}", i + 1),
                "",
                "expected a table",
            ));
        };
        let config = parse_target(i, table, env)?;
        if !names.insert(config.name.clone()) {
            return Err(ConfigError::invalid(
                config.name,
                "name",
                "duplicate target name",
            ));
        }
        out.push(config);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    filters: TargetFilter,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

fn parse_target(
    index: usize,
    mut table: Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TargetConfig, ConfigError> {
    let name = match table.remove("name") {
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ConfigError::invalid(
                format!("#{}", index + 1),
                "name",
                "expected a string",
            ));
        }
        None => {
            return Err(ConfigError::invalid(
                format!("#{}", index + 1),
                "name",
                "missing",
            ));
        }
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        let shown: String = name.chars().take(64).collect();
        return Err(ConfigError::invalid(
            shown,
            "name",
            "expected 1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
    let fail = |key: &str, message: String| ConfigError::invalid(name.clone(), key, message);

    resolve_env(&mut table, "", env).map_err(|(key, message)| fail(&key, message))?;

    let mut common = Table::new();
    for key in COMMON_KEYS {
        if let Some(v) = table.remove(key) {
            common.insert(key.to_owned(), v);
        }
    }
    let common: Common = deserialize(Value::Table(common)).map_err(|(k, m)| fail(&k, m))?;
    common
        .filters
        .validate()
        .map_err(|m| fail("filters.min_confidence", m))?;
    let timeout_secs = common.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(1..=300).contains(&timeout_secs) {
        return Err(fail(
            "timeout_secs",
            format!("{timeout_secs} is outside 1..=300"),
        ));
    }
    let settings = settings(&common.kind, table).map_err(|(k, m)| fail(&k, m))?;
    let rate_limit = match common.rate_limit.as_deref().map(str::trim) {
        None => settings.default_rate_limit(),
        Some("none" | "unlimited") => None,
        Some(s) => Some(
            s.parse::<RateLimit>()
                .map_err(|e| fail("rate_limit", e.to_string()))?,
        ),
    };
    Ok(TargetConfig {
        name,
        enabled: common.enabled,
        filters: common.filters,
        rate_limit,
        timeout_secs,
        settings,
    })
}

type KeyError = (String, String);

/// Deserializes `value`, reporting the dotted key path of the first error.
fn deserialize<T: DeserializeOwned>(value: Value) -> Result<T, KeyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, redact_values(e.inner().message()))
    })
}

/// Hides string values quoted in serde's `invalid type: string "…"` messages:
/// a secret put under the wrong key must not end up in a log.
fn redact_values(message: &str) -> String {
    let marker = "string \"";
    let Some(start) = message.find(marker) else {
        return message.to_owned();
    };
    let value_start = start + marker.len();
    let rest = &message[value_start..];
    let mut end = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                end = Some(i);
                break;
            }
            _ => escaped = false,
        }
    }
    match end {
        Some(end) => format!("{}***{}", &message[..value_start], &rest[end..]),
        None => format!("{}***\"", &message[..value_start]),
    }
}

fn settings(kind: &str, table: Table) -> Result<TargetSettings, KeyError> {
    let value = Value::Table(table);
    match kind {
        "slack" => {
            #[cfg(feature = "slack")]
            return deserialize(value).map(TargetSettings::Slack);
            #[cfg(not(feature = "slack"))]
            return not_compiled("slack");
        }
        "pagerduty" => {
            #[cfg(feature = "pagerduty")]
            return deserialize(value).map(TargetSettings::PagerDuty);
            #[cfg(not(feature = "pagerduty"))]
            return not_compiled("pagerduty");
        }
        "rootly" => {
            #[cfg(feature = "rootly")]
            return deserialize(value).map(TargetSettings::Rootly);
            #[cfg(not(feature = "rootly"))]
            return not_compiled("rootly");
        }
        "webhook" => {
            #[cfg(feature = "webhook")]
            return deserialize(value).map(TargetSettings::Webhook);
            #[cfg(not(feature = "webhook"))]
            return not_compiled("webhook");
        }
        _ => {}
    }
    let shown: String = kind.chars().take(32).collect();
    Err((
        "type".to_owned(),
        format!("unknown target type {shown:?}, expected slack, pagerduty, rootly or webhook"),
    ))
}

#[cfg_attr(
    all(
        feature = "slack",
        feature = "pagerduty",
        feature = "rootly",
        feature = "webhook"
    ),
    allow(dead_code)
)]
fn not_compiled(feature: &str) -> Result<TargetSettings, KeyError> {
    Err((
        "type".to_owned(),
        format!("support for `{feature}` targets is not compiled in (cargo feature `{feature}`)"),
    ))
}

/// Replaces every `<key>_env = "VAR"` (at any depth) with `<key>` = the variable's value.
fn resolve_env(
    table: &mut Table,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), KeyError> {
    let env_keys: Vec<String> = table
        .keys()
        .filter(|k| k.ends_with("_env") && k.len() > 4)
        .cloned()
        .collect();
    for env_key in env_keys {
        let path = format!("{prefix}{env_key}");
        let Some(Value::String(var)) = table.remove(&env_key) else {
            return Err((
                path,
                "expected the name of an environment variable".to_owned(),
            ));
        };
        let key = env_key.trim_end_matches("_env").to_owned();
        if table.contains_key(&key) {
            return Err((
                format!("{prefix}{key}"),
                format!("set either {key} or {env_key}, not both"),
            ));
        }
        let value = env(&var).ok_or_else(|| {
            let shown: String = var.chars().take(64).collect();
            (
                path.clone(),
                format!("environment variable {shown} is not set"),
            )
        })?;
        table.insert(key, Value::String(value));
    }
    for (k, v) in table.iter_mut() {
        if let Value::Table(inner) = v {
            resolve_env(inner, &format!("{prefix}{k}."), env)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_quoted_strings() {
        assert_eq!(
            redact_values(r#"invalid type: string "Bearer abc", expected a map"#),
            r#"invalid type: string "***", expected a map"#
        );
        assert_eq!(redact_values("unknown field `x`"), "unknown field `x`");
    }
}
