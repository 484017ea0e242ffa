//! Secrets never appear in `Debug` output of configs, publishers or errors.
#![allow(clippy::unwrap_used)]

use alertkit_core::PublishError;
use alertkit_publish::Secret;
use alertkit_publish::http::HttpOptions;
use alertkit_publish::pagerduty::{PagerDutyConfig, PagerDutyPublisher};
use alertkit_publish::rootly::{RootlyConfig, RootlyPublisher};
use alertkit_publish::slack::{SlackConfig, SlackPublisher};
use alertkit_publish::webhook::{WebhookConfig, WebhookPublisher};

const SECRETS: [&str; 7] = [
    "SLACKHOOKSECRET",
    "xoxb-bot-secret",
    "pd-routing-secret-0123456789abcd",
    "rootly-key-secret",
    "hook-token-secret",
    "hook-hmac-secret",
    "hook-header-secret",
];

#[test]
fn debug_output_is_redacted() {
    let o = HttpOptions::default();
    let slack_hook = SlackConfig::webhook("https://hooks.slack.com/services/T/B/SLACKHOOKSECRET");
    let slack_bot = SlackConfig::bot("xoxb-bot-secret", "C1");
    let pd = PagerDutyConfig::new("pd-routing-secret-0123456789abcd");
    let rootly = RootlyConfig::new("rootly-key-secret");
    let hook = WebhookConfig::new("https://x.example/hook?t=hook-token-secret")
        .with_hmac_secret("hook-hmac-secret")
        .with_header("x-key", "hook-header-secret")
        .with_bearer_token("hook-token-secret");
    let dump = format!(
        "{slack_hook:?} {slack_bot:?} {pd:?} {rootly:?} {hook:?} {:?} {:?} {:?} {:?} {:?}",
        SlackPublisher::new("a", slack_hook.clone(), &o).unwrap(),
        SlackPublisher::new("b", slack_bot.clone(), &o).unwrap(),
        PagerDutyPublisher::new("c", pd.clone(), &o).unwrap(),
        RootlyPublisher::new("d", rootly.clone(), &o).unwrap(),
        WebhookPublisher::new("e", hook.clone(), &o).unwrap(),
    );
    for s in SECRETS {
        assert!(!dump.contains(s), "{s} leaked: {dump}");
    }
    assert!(dump.contains("***"));
    // Serialized configs are redacted views too.
    let json = serde_json::to_string(&(slack_hook, slack_bot, pd, rootly, hook)).unwrap();
    for s in SECRETS {
        assert!(!json.contains(s), "{s} leaked: {json}");
    }
}

#[test]
fn config_errors_do_not_echo_secrets() {
    let e = SlackPublisher::new(
        "a",
        SlackConfig::webhook("hooks.slack.com/services/T/B/SLACKHOOKSECRET"),
        &HttpOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, PublishError::Config(_)));
    assert!(!format!("{e} {e:?}").contains("SLACKHOOKSECRET"));
    let s = Secret::new("abc");
    assert_eq!(format!("{s:?}"), r#"Secret("***")"#);
}
