//! Targets file parsing, the registry's reload, and redacted views.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use alertkit_core::{PublishOutcome, Severity};
use alertkit_publish::config::{ConfigError, TargetSettings, parse_targets_with_env};
use alertkit_publish::{EnvLookup, TargetRegistry};
use serde_json::json;

const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
const PD_KEY: &str = "0123456789abcdef0123456789abcdef";

fn env() -> EnvLookup {
    Arc::new(|name| match name {
        "SLACK_WEBHOOK_URL" => Some(SLACK_URL.to_owned()),
        "PD_KEY" => Some(PD_KEY.to_owned()),
        "ROOTLY_KEY" => Some("rootly-secret-key".to_owned()),
        "HOOK_PW" => Some("hook-password-secret".to_owned()),
        _ => None,
    })
}

const FULL: &str = r#"
[[targets]]
name = "ops-slack"
type = "slack"
url_env = "SLACK_WEBHOOK_URL"
history_url = "https://alertkit.example/alerts"
filters = { min_severity = "warning", matchers = '{env="prod"}', drop_noise = true }

[[targets]]
name = "pager"
type = "pagerduty"
routing_key_env = "PD_KEY"
dedup = "group"
rate_limit = "60/min"
filters = { min_severity = "critical", min_confidence = 0.7 }

[[targets]]
name = "rootly"
type = "rootly"
api_key_env = "ROOTLY_KEY"
enabled = false

[[targets]]
name = "oncall"
type = "webhook"
url = "https://oncall.example/hook?token=query-secret"
basic_auth = { username = "am", password_env = "HOOK_PW" }
hmac_secret = "hmac-secret-value"
headers = { "X-Api-Key" = "header-secret" }
timeout_secs = 3
"#;

fn parse(text: &str) -> Result<Vec<alertkit_publish::config::TargetConfig>, ConfigError> {
    let env = env();
    parse_targets_with_env(text, &move |n| env(n))
}

#[test]
fn parses_every_type_with_defaults() {
    let targets = parse(FULL).unwrap();
    let kinds: Vec<&str> = targets.iter().map(|t| t.settings.kind()).collect();
    assert_eq!(kinds, ["slack", "pagerduty", "rootly", "webhook"]);
    let rate: Vec<String> = targets
        .iter()
        .map(|t| t.rate_limit.map_or("none".into(), |r| r.to_string()))
        .collect();
    assert_eq!(rate, ["1/s", "60/min", "3000/min", "none"]);
    assert_eq!(targets[0].filters.min_severity, Some(Severity::Warning));
    assert!(targets[0].filters.drop_noise);
    assert!(!targets[2].enabled);
    assert_eq!(targets[3].timeout_secs, 3);
    match &targets[0].settings {
        TargetSettings::Slack(c) => assert_eq!(c.url.as_ref().unwrap().expose(), SLACK_URL),
        s => panic!("{s:?}"),
    }
}

/// The error loading `text` (parsing and building the publishers).
fn err(text: &str) -> String {
    TargetRegistry::from_toml_with_env(text, env())
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_the_target_and_key() {
    let base = "[[targets]]\nname = \"t\"\ntype = \"slack\"\nurl = \"https://h.example/x\"\n";
    for (extra, want) in [
        (
            "colour = \"red\"",
            r#"target "t": key "colour": unknown field `colour`"#,
        ),
        (
            "filters = { min_severity = \"urgent\" }",
            r#"target "t": key "filters.min_severity": unknown severity"#,
        ),
        (
            "filters = { matchers = '{env=~\"(\"}' }",
            r#"target "t": key "filters.matchers""#,
        ),
        (
            "filters = { min_confidence = 2.0 }",
            r#"target "t": key "filters.min_confidence": 2 is outside"#,
        ),
        (
            "filters = { nope = 1 }",
            r#"target "t": key "filters.nope": unknown field `nope`"#,
        ),
        (
            "rate_limit = \"fast\"",
            r#"target "t": key "rate_limit": invalid rate limit"#,
        ),
        (
            "timeout_secs = 0",
            r#"target "t": key "timeout_secs": 0 is outside 1..=300"#,
        ),
        (
            "url_env = \"X\"",
            r#"target "t": key "url": set either url or url_env, not both"#,
        ),
        (
            "on_resolve = \"delete\"",
            r#"target "t": key "on_resolve": unknown variant `delete`"#,
        ),
        (
            "history_url = \"ftp://x\"",
            r#"target "t": key "history_url": expected an http(s) url"#,
        ),
    ] {
        let e = err(&format!("{base}{extra}\n"));
        assert!(e.starts_with(want), "{extra}: {e}");
    }
    let e = err("[[targets]]\nname = \"s\"\ntype = \"slack\"\ntoken = \"xoxb-1\"\n");
    assert_eq!(e, r#"target "s": key "channel": required with token"#);
    let e = err("[[targets]]\nname = \"p\"\ntype = \"pagerduty\"\n");
    assert!(
        e.starts_with(r#"target "p": key "": missing field `routing_key`"#),
        "{e}"
    );
    let e = err("[[targets]]\nname = \"w\"\ntype = \"teams\"\n");
    assert!(
        e.starts_with(r#"target "w": key "type": unknown target type "teams""#),
        "{e}"
    );
    let e = err("[[targets]]\ntype = \"slack\"\n");
    assert_eq!(e, r##"target "#1": key "name": missing"##);
    let e = err(
        "[[targets]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"https://x.example\"\n[[targets]]\nname = \"a\"\ntype = \"webhook\"\nurl = \"https://x.example\"\n",
    );
    assert_eq!(e, r#"target "a": key "name": duplicate target name"#);
    let e = err("[[targets]]\nname = \"a\"\ntype = \"slack\"\nurl_env = \"MISSING\"\n");
    assert_eq!(
        e,
        r#"target "a": key "url_env": environment variable MISSING is not set"#
    );
    let e = err("[[targets]]\nname = \"bad name!\"\n");
    assert!(e.starts_with(r#"target "bad name!": key "name""#), "{e}");
    let e = err("target = 1\n");
    assert!(e.contains(r#"key "target": unknown top-level key"#), "{e}");
    let e = err(
        "[[targets]]\nname = \"x\"\nurl = \"https://hooks.slack.com/services/SYNTAX-SECRET\"\n= broken\n",
    );
    assert!(e.starts_with("targets file line 4:"), "{e}");
    assert!(!e.contains("SYNTAX-SECRET"), "{e}");
}

#[test]
fn secret_values_in_the_wrong_place_are_not_echoed() {
    let e = err(
        "[[targets]]\nname = \"w\"\ntype = \"webhook\"\nurl = \"https://x.example\"\nheaders = \"Bearer misplaced-secret\"\n",
    );
    assert!(e.contains(r#"key "headers""#), "{e}");
    assert!(!e.contains("misplaced-secret"), "{e}");
}

#[test]
fn redacted_view_hides_secrets() {
    let registry = TargetRegistry::from_toml(
        &FULL
            .replace(
                "url_env = \"SLACK_WEBHOOK_URL\"",
                &format!("url = \"{SLACK_URL}\""),
            )
            .replace(
                "routing_key_env = \"PD_KEY\"",
                &format!("routing_key = \"{PD_KEY}\""),
            )
            .replace(
                "api_key_env = \"ROOTLY_KEY\"",
                "api_key = \"rootly-secret-key\"",
            )
            .replace(
                "password_env = \"HOOK_PW\"",
                "password = \"hook-password-secret\"",
            ),
    )
    .unwrap();
    let view = serde_json::to_value(&*registry.current()).unwrap();
    let text = view.to_string();
    for secret in [
        "XXXXSECRETXXXX",
        "/services/",
        PD_KEY,
        "rootly-secret-key",
        "query-secret",
        "hook-password-secret",
        "hmac-secret-value",
        "header-secret",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(view[0]["url"], "https://hooks.slack.com/***");
    assert_eq!(view[0]["type"], "slack");
    assert_eq!(view[1]["routing_key"], "***");
    assert_eq!(view[1]["rate_limit"], "60/min");
    assert_eq!(view[3]["url"], "https://oncall.example/***");
    assert_eq!(view[3]["headers"], json!({"X-Api-Key": "***"}));
    assert_eq!(
        view[3]["basic_auth"],
        json!({"username": "am", "password": "***"})
    );
    assert_eq!(view[3]["rate_limit"], "none");
    // Debug output of the registry, its targets and publishers is safe too.
    let dbg = format!(
        "{registry:?} {:?} {:?}",
        registry.current().get("oncall").unwrap(),
        parse(FULL).unwrap()
    );
    for secret in [
        "XXXXSECRETXXXX",
        PD_KEY,
        "rootly-secret-key",
        "query-secret",
        "hook-password-secret",
        "hmac-secret-value",
        "header-secret",
    ] {
        assert!(!dbg.contains(secret), "{secret} in Debug");
    }
}

#[test]
fn reload_swaps_valid_files_and_keeps_the_old_set_on_errors() {
    let dir = std::env::temp_dir().join(format!("alertkit-publish-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.toml");
    std::fs::write(&file, FULL).unwrap();
    let registry = TargetRegistry::from_file_with_env(&file, env()).unwrap();
    let first = registry.current();
    assert_eq!(first.generation(), 1);
    assert_eq!(first.len(), 4);
    assert_eq!(first.enabled().count(), 3);
    assert!(first.get("rootly").unwrap().publisher().is_none());
    assert_eq!(
        first.fanout().names().collect::<Vec<_>>(),
        ["ops-slack", "pager", "oncall"]
    );
    let mut rx = registry.subscribe();

    // Valid change: pager edited, rootly removed, a new webhook added.
    let changed = FULL
        .replace("dedup = \"group\"", "dedup = \"alert\"")
        .replace(
            "name = \"rootly\"\ntype = \"rootly\"\napi_key_env = \"ROOTLY_KEY\"\nenabled = false",
            "name = \"audit\"\ntype = \"webhook\"\nurl = \"https://audit.example/\"",
        );
    std::fs::write(&file, &changed).unwrap();
    let summary = registry.reload().unwrap();
    assert_eq!(summary.generation, 2);
    assert_eq!(summary.added, ["audit"]);
    assert_eq!(summary.removed, ["rootly"]);
    assert_eq!(summary.changed, ["pager"]);
    assert_eq!(summary.unchanged, 2);
    assert!(rx.has_changed().unwrap());
    let second = registry.current();
    assert_eq!(rx.borrow_and_update().generation(), 2);
    // Unchanged targets keep their publisher (and its connection pool).
    assert!(Arc::ptr_eq(
        second.get("ops-slack").unwrap().publisher().unwrap(),
        first.get("ops-slack").unwrap().publisher().unwrap()
    ));
    assert!(!Arc::ptr_eq(
        second.get("pager").unwrap().publisher().unwrap(),
        first.get("pager").unwrap().publisher().unwrap()
    ));
    assert_eq!(registry.last_error(), None);

    // Invalid file: the old set stays, the error names target and key.
    std::fs::write(
        &file,
        changed.replace("dedup = \"alert\"", "dedup = \"sometimes\""),
    )
    .unwrap();
    let e = registry.reload().unwrap_err();
    assert!(
        e.to_string()
            .starts_with(r#"target "pager": key "dedup": unknown variant `sometimes`"#),
        "{e}"
    );
    assert_eq!(registry.current().generation(), 2);
    assert!(Arc::ptr_eq(&registry.current(), &second));
    assert!(registry.last_error().unwrap().contains(r#"key "dedup""#));
    assert!(!rx.has_changed().unwrap());

    // A missing file is an error too, and still keeps the set.
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        registry.reload().unwrap_err(),
        ConfigError::Read { .. }
    ));
    assert_eq!(registry.current().len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn filtered_targets_skip_what_they_do_not_want() {
    let registry = TargetRegistry::from_toml(
        "[[targets]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/never\"\nfilters = { min_severity = \"critical\", matchers = '{env=\"staging\"}' }\n",
    )
    .unwrap();
    let set = registry.current();
    let target = set.get("hook").unwrap();
    // env=prod does not match: skipped without any request (port 9 would refuse).
    let receipt = target
        .filtered()
        .unwrap()
        .publish(&common::firing())
        .await
        .unwrap();
    assert!(
        matches!(receipt.outcome, PublishOutcome::Skipped { ref reason } if reason.contains("labels do not match"))
    );
    let results = set.fanout().publish_all(&common::firing()).await;
    assert!(!results[0].result.as_ref().unwrap().is_delivered());
}

use alertkit_core::Publisher;
