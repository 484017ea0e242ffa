//! Wire-format tests: Alertmanager webhook v4 and API v2 bodies, fingerprints.

#![allow(clippy::unwrap_used)] // tests fail loudly

use alertkit_core::{
    ApiV2Defaults, Fingerprint, LabelSet, ParseErrorKind, Status, WebhookMessage,
    parse_postable_alerts, wire::NotificationReason,
};
use serde_json::{Value, json};
use time::macros::datetime;

/// The documentation example of Alertmanager v0.34, every field present.
const FULL: &str = r#"{"version":"4","groupKey":"{}/{service=\"db\"}:{alertname=\"HighLatency\"}","truncatedAlerts":2,
 "status":"firing","receiver":"team\\.db","groupLabels":{"alertname":"HighLatency"},
 "commonLabels":{"alertname":"HighLatency","service":"db","severity":"critical"},
 "commonAnnotations":{"summary":"p99 > 1s"},"routeLabels":{"team":"db"},"externalURL":"http://alertmanager:9093",
 "notification_reason":"first notification","someFutureField":{"nested":[1,2]},
 "alerts":[{"status":"firing","labels":{"alertname":"HighLatency","service":"db","severity":"critical"},
   "annotations":{"summary":"p99 > 1s"},"startsAt":"2026-08-22T10:00:00.123456789Z",
   "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=...",
   "fingerprint":"52abb4dd02d696b5","anotherNewField":true},
  {"status":"resolved","labels":{"alertname":"HighLatency","service":"db","severity":"critical","instance":"db2"},
   "annotations":{},"startsAt":"2026-08-22T09:00:00+02:00","endsAt":"2026-08-22T09:30:00.5+02:00",
   "generatorURL":"","fingerprint":"0000000000000000"}]}"#;

#[test]
fn parses_every_field() {
    let msg = WebhookMessage::from_json(FULL.as_bytes()).unwrap();
    assert_eq!(
        msg.group_key,
        r#"{}/{service="db"}:{alertname="HighLatency"}"#
    );
    assert_eq!(msg.truncated_alerts, 2);
    assert_eq!(msg.status, Status::Firing);
    assert_eq!(msg.receiver, r"team\.db");
    assert_eq!(msg.group_labels.get("alertname"), Some("HighLatency"));
    assert_eq!(msg.common_labels.len(), 3);
    assert_eq!(msg.common_annotations.get("summary"), Some("p99 > 1s"));
    assert_eq!(
        msg.route_labels.as_ref().and_then(|l| l.get("team")),
        Some("db")
    );
    assert_eq!(msg.external_url, "http://alertmanager:9093");
    assert_eq!(
        msg.notification_reason,
        Some(NotificationReason::FirstNotification)
    );
    let [firing, resolved] = &msg.alerts[..] else {
        panic!("two alerts expected")
    };
    assert_eq!(
        firing.starts_at,
        datetime!(2026-08-22 10:00:00.123456789 UTC)
    );
    assert_eq!(firing.ends_at, None);
    assert_eq!(firing.fingerprint().to_string(), "52abb4dd02d696b5");
    assert_eq!(
        &*firing.generator_url,
        "http://prometheus:9090/graph?g0.expr=..."
    );
    assert_eq!(resolved.status, Status::Resolved);
    assert_eq!(
        resolved.ends_at,
        Some(datetime!(2026-08-22 09:30:00.5 +02:00))
    );
    // The second alert's fingerprint is wrong: labels win, the mismatch is reported.
    assert_eq!(msg.fingerprint_mismatches.len(), 1);
    assert_eq!(msg.fingerprint_mismatches[0].index, 1);
    assert_eq!(
        msg.fingerprint_mismatches[0].computed,
        resolved.fingerprint()
    );
}

#[test]
fn emits_the_same_document() {
    let msg = WebhookMessage::from_json(FULL.as_bytes()).unwrap();
    let emitted: Value = serde_json::to_value(&msg).unwrap();
    let mut want: Value = serde_json::from_str(FULL).unwrap();
    // Unknown fields are not kept, and fingerprints are recomputed.
    want.as_object_mut().unwrap().remove("someFutureField");
    want["alerts"][0]
        .as_object_mut()
        .unwrap()
        .remove("anotherNewField");
    want["alerts"][1]["fingerprint"] = json!(msg.alerts[1].fingerprint().to_string());
    assert_eq!(emitted, want);
}

#[test]
fn older_payloads_and_nulls_are_tolerated() {
    let body = br#"{"version":"4","status":"resolved","receiver":"r","groupLabels":null,
      "commonLabels":{},"commonAnnotations":null,"externalURL":"","groupKey":"k",
      "alerts":[{"labels":{"alertname":"A"},"annotations":null,"startsAt":"2026-01-01T00:00:00Z",
      "endsAt":"2026-01-01T00:05:00Z","generatorURL":""}]}"#;
    let msg = WebhookMessage::from_json(body).unwrap();
    assert_eq!(msg.route_labels, None);
    assert_eq!(msg.notification_reason, None);
    assert_eq!(
        msg.alerts[0].status,
        Status::Resolved,
        "status derived from endsAt"
    );
    let emitted = serde_json::to_value(&msg).unwrap();
    assert_eq!(emitted["groupLabels"], json!({}), "emit {{}}, never null");
    assert!(emitted.get("routeLabels").is_none());
}

#[test]
fn errors_name_the_offending_path() {
    let cases: &[(&str, &str, ParseErrorKind)] = &[
        (
            r#"{"alerts":[{"labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00Z"},{"labels":{"a":"b"},"startsAt":"nope"}]}"#,
            r#"alerts[1].startsAt: invalid RFC 3339 time "nope""#,
            ParseErrorKind::Data,
        ),
        (
            r#"{"alerts":[{"labels":{"a":1},"startsAt":"2026-01-01T00:00:00Z"}]}"#,
            "alerts[0].labels.a: invalid type: integer `1`, expected a string",
            ParseErrorKind::Data,
        ),
        (
            r#"{"alerts":[{"labels":{},"startsAt":"2026-01-01T00:00:00Z"}]}"#,
            "alerts[0].labels: at least one label is required",
            ParseErrorKind::Validation,
        ),
        (
            r#"{"alerts":[{"labels":{"a":"b"}}]}"#,
            "alerts[0].startsAt: a start time is required",
            ParseErrorKind::Validation,
        ),
        (
            r#"{"alerts":[{"labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2025-01-01T00:00:00Z"}]}"#,
            "alerts[0].endsAt: before startsAt",
            ParseErrorKind::Validation,
        ),
        (
            r#"{"alerts":[{"status":"pending","labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00Z"}]}"#,
            "alerts[0].status: unknown variant `pending`, expected `firing` or `resolved`",
            ParseErrorKind::Data,
        ),
        (
            r#"{"version":"3","alerts":[]}"#,
            r#"version: unsupported webhook version "3", expected "4""#,
            ParseErrorKind::Validation,
        ),
        (
            r#"{"alerts":[{"labels":{"":"x"},"startsAt":"2026-01-01T00:00:00Z"}]}"#,
            "alerts[0].labels: empty label name",
            ParseErrorKind::Data,
        ),
    ];
    for (body, want, kind) in cases {
        let err = WebhookMessage::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), *want, "body {body}");
        assert_eq!(err.kind(), *kind, "body {body}");
    }
    let mut invalid_utf8 = br#"{"alerts":[{"labels":{"a":"b"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""},"startsAt":"2026-01-01T00:00:00Z"}]}"#);
    let err = WebhookMessage::from_json(&invalid_utf8).unwrap_err();
    assert_eq!(err.path(), "alerts[0].labels.a", "{err}");
    let err = WebhookMessage::from_json(b"{\"alerts\":[").unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::Syntax);
    assert!(WebhookMessage::from_json(b"").is_err());
    assert!(WebhookMessage::from_json(b"[]").is_err());
    assert!(WebhookMessage::from_json(b"{} trailing").is_err());
}

#[test]
fn api_v2_defaults_and_validation() {
    let defaults = ApiV2Defaults {
        now: datetime!(2026-08-22 10:00 UTC),
        resolve_timeout: std::time::Duration::from_secs(300),
    };
    let body = br#"[
      {"labels":{"alertname":"NoTimes","empty":""}},
      {"labels":{"alertname":"OnlyEnd"},"endsAt":"2026-08-22T09:00:00Z"},
      {"labels":{"alertname":"Future"},"startsAt":"2026-08-22T09:00:00Z","endsAt":"2026-08-22T11:00:00Z"},
      {"labels":{"empty":""}},
      {"labels":{"alertname":"Backwards"},"startsAt":"2026-08-22T09:00:00Z","endsAt":"2026-08-22T08:00:00Z"},
      {"labels":{"alertname":"BadTime"},"startsAt":"tomorrow"},
      {"labels":{"alertname":"Equal"},"startsAt":"2026-08-22T09:00:00Z","endsAt":"2026-08-22T09:00:00Z"}
    ]"#;
    let parsed = parse_postable_alerts(body, defaults).unwrap();
    let names: Vec<_> = parsed
        .alerts
        .iter()
        .map(|a| a.alertname().unwrap())
        .collect();
    assert_eq!(names, ["NoTimes", "OnlyEnd", "Future", "Equal"]);
    let no_times = &parsed.alerts[0];
    assert_eq!(no_times.starts_at, defaults.now);
    assert_eq!(no_times.status, Status::Firing);
    assert_eq!(
        no_times.labels.get("empty"),
        None,
        "empty-valued labels removed"
    );
    assert_eq!(parsed.expires_at[0], datetime!(2026-08-22 10:05 UTC));
    let only_end = &parsed.alerts[1];
    assert_eq!(
        only_end.starts_at,
        datetime!(2026-08-22 09:00 UTC),
        "startsAt defaults to endsAt"
    );
    assert_eq!(only_end.status, Status::Resolved);
    assert_eq!(parsed.alerts[2].status, Status::Firing);
    assert_eq!(
        parsed.alerts[2].ends_at, None,
        "a future endsAt is not an end"
    );
    let errors: Vec<_> = parsed.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "[3].labels: at least one label is required",
            "[4].endsAt: before startsAt",
            r#"[5].startsAt: invalid RFC 3339 time "tomorrow""#,
        ]
    );
    let err = parse_postable_alerts(br#"{"labels":{}}"#, defaults).unwrap_err();
    assert_eq!(err.path(), ".");
    assert!(parse_postable_alerts(b"[1,", defaults).is_err());
}

#[test]
fn fingerprints_match_an_independent_implementation() {
    // Generated by scripts/fingerprint_vectors.py (Python, written from the
    // specification; it also checks the upstream prometheus/common vectors).
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("data/fingerprint_vectors.json")).unwrap();
    assert!(vectors.len() > 200);
    for v in vectors {
        let labels: LabelSet = serde_json::from_value(v["labels"].clone()).unwrap_or_else(|e| {
            // Empty names are invalid for alertkit; the vector file has none.
            panic!("vector labels rejected: {e}")
        });
        let want: Fingerprint = v["fingerprint"].as_str().unwrap().parse().unwrap();
        assert_eq!(labels.fingerprint(), want, "labels {}", v["labels"]);
    }
}
