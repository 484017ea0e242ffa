//! Fuzz target bodies, shared by `fuzz/` (libFuzzer) and the corpus replay tests.
//!
//! Each accepts arbitrary bytes, must never panic, and checks the invariants
//! the parsers promise: whatever parses re-serialises and parses back to the
//! same value; matchers round-trip through `Display`.

use crate::{ApiV2Defaults, Matchers, WebhookMessage, parse_postable_alerts};

/// Webhook v4: parse; on success, emit and parse again to the same message.
pub fn webhook(data: &[u8]) {
    let Ok(msg) = WebhookMessage::from_json(data) else {
        return;
    };
    let json = match serde_json::to_vec(&msg) {
        Ok(json) => json,
        Err(e) => panic!("a parsed webhook message failed to serialise: {e}"),
    };
    match WebhookMessage::from_json(&json) {
        Ok(mut again) => {
            // Recomputed fingerprints cannot disagree, so the re-parse has no mismatches.
            again
                .fingerprint_mismatches
                .clone_from(&msg.fingerprint_mismatches);
            assert_eq!(again, msg, "webhook message changed across emit/parse");
        }
        Err(e) => panic!("emitted webhook message does not parse: {e}"),
    }
}

/// API v2 alerts body: parse with fixed defaults; every error names a path
/// inside the array, and valid alerts have labels and ordered times.
pub fn api_v2(data: &[u8]) {
    let defaults = ApiV2Defaults {
        now: time::macros::datetime!(2026-08-22 10:00 UTC),
        resolve_timeout: std::time::Duration::from_secs(300),
    };
    let Ok(parsed) = parse_postable_alerts(data, defaults) else {
        return;
    };
    assert_eq!(parsed.alerts.len(), parsed.expires_at.len());
    for alert in &parsed.alerts {
        assert!(!alert.labels.is_empty(), "accepted an alert without labels");
        assert!(
            alert.ends_at.is_none_or(|e| e >= alert.starts_at),
            "accepted endsAt before startsAt"
        );
    }
    for e in &parsed.errors {
        assert!(
            e.path().starts_with('['),
            "error path {:?} is not inside the array",
            e.path()
        );
    }
}

/// Matchers: parse; on success, `Display` and parse back to the same matchers.
pub fn matchers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = Matchers::parse(text) else {
        return;
    };
    let shown = parsed.to_string();
    match Matchers::parse(&shown) {
        Ok(again) => assert_eq!(
            again, parsed,
            "matchers changed across display/parse: {shown}"
        ),
        Err(e) => panic!("displayed matchers {shown:?} do not parse: {e}"),
    }
}
