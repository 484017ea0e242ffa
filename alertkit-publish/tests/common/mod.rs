//! Fixtures and helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;

use alertkit_core::{
    Alert, Annotations, Category, Classification, ClassificationSource, EventKind, LabelSet,
    Notification, Origin, Severity,
};
use serde_json::Value;
use time::macros::datetime;
use wiremock::Request;

pub fn origin() -> Arc<Origin> {
    let mut o = Origin::named("team-db");
    o.group_key = r#"{}:{alertname="HighLatency"}"#.to_owned();
    o.external_url = "http://alertmanager:9093".to_owned();
    Arc::new(o)
}

pub fn alert() -> Alert {
    let mut a = Alert::firing(
        LabelSet::from_pairs([
            ("alertname", "HighLatency"),
            ("service", "db"),
            ("severity", "critical"),
            ("env", "prod"),
        ]),
        datetime!(2026-08-22 10:00 UTC),
    )
    .with_annotations(Annotations::from_pairs([
        ("summary", "p99 > 1s"),
        ("description", "p99 latency above 1s for 5 minutes"),
        ("runbook_url", "https://runbooks.example/latency"),
        ("dashboard", "https://grafana.example/d/db"),
    ]));
    a.generator_url = Arc::from("http://prometheus:9090/graph?g0.expr=latency");
    a
}

pub fn firing() -> Notification {
    Notification::new(alert(), EventKind::Firing, origin())
}

pub fn resolved() -> Notification {
    Notification::new(
        alert().resolved_at(datetime!(2026-08-22 10:30 UTC)),
        EventKind::Resolved,
        origin(),
    )
}

pub fn classification() -> Arc<Classification> {
    Arc::new(
        Classification::new(
            Severity::Critical,
            Category::Latency,
            0.87,
            ClassificationSource::Llm,
        )
        .with_summary("database latency regression after the 09:55 deploy")
        .with_recommendations([
            "check slow queries: SELECT * FROM pg_stat_activity",
            "roll back deploy 2026-08-22-0955 if the regression persists",
        ])
        .with_model("test-model-1"),
    )
}

pub fn classified() -> Notification {
    firing().with_classification(classification())
}

/// Everything too big: 200 long labels, huge annotations, a 500-char name,
/// mrkdwn specials and multi-byte characters at every cut point.
pub fn oversized() -> Notification {
    let mut labels: Vec<(String, String)> = (0..200)
        .map(|i| {
            (
                format!("label_{i:03}"),
                format!("välue-{i}-{}", "é<&>".repeat(700)),
            )
        })
        .collect();
    labels.push(("alertname".into(), format!("Huge{}", "Ñ".repeat(500))));
    labels.push(("service".into(), "db".into()));
    labels.push(("severity".into(), "warning".into()));
    let mut annotations: Vec<(String, String)> = (0..30)
        .map(|i| (format!("note_{i:02}"), "€ & <b>".repeat(1000)))
        .collect();
    annotations.push(("summary".into(), "ß<>".repeat(5000)));
    annotations.push(("description".into(), "日本".repeat(100_000)));
    let a = Alert::firing(
        LabelSet::from_pairs(labels),
        datetime!(2026-08-22 10:00 UTC),
    )
    .with_annotations(Annotations::from_pairs(annotations));
    let c = Classification::new(
        Severity::Warning,
        Category::Capacity,
        0.5,
        ClassificationSource::Rules,
    )
    .with_summary("ü".repeat(5000))
    .with_recommendations((0..100).map(|i| format!("step {i}: {}", "x".repeat(200))));
    Notification::new(a, EventKind::Firing, origin()).with_classification(Arc::new(c))
}

/// Compares `actual` with `tests/golden/<name>.json`; `ALERTKIT_BLESS=1` rewrites the file.
pub fn assert_golden(name: &str, actual: &Value) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "golden",
        &format!("{name}.json"),
    ]
    .iter()
    .collect();
    if std::env::var_os("ALERTKIT_BLESS").is_some() {
        let mut text = serde_json::to_string_pretty(actual).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run with ALERTKIT_BLESS=1 to create it)",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert!(
        actual == &expected,
        "payload differs from {} (ALERTKIT_BLESS=1 rewrites it)\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        serde_json::to_string_pretty(&expected).unwrap(),
        serde_json::to_string_pretty(actual).unwrap()
    );
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap()
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
