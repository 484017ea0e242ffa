//! The rule classifier with the full default pack.
//!
//! * `rules/classify/dataset`: one alert per iteration, cycling through the
//!   378 real-world alerting rules of `alertkit-llm/tests/data` turned into
//!   the alerts Prometheus sends (alertname, summary, description, the
//!   URL-encoded expression in the generator URL; no `severity` label, so
//!   every field is judged by the rules). Target: under 5 µs per alert.
//! * `rules/classify/fixture_labelled`: the kube-prometheus-like fixture
//!   alerts of `alertkit_benches` (ten labels, a `severity` label that is
//!   respected, runbook annotation).
//! * `rules/load/default_pack`: parsing and compiling the default pack.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use alertkit_core::{Alert, Annotations, LabelSet};
use alertkit_llm::rules::{DEFAULT_PACK_TOML, RuleClassifier, RulePack};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

const DATASET: &str = include_str!("../../alertkit-llm/tests/data/alert-rules-dev.jsonl");

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn dataset_alerts() -> Vec<Alert> {
    DATASET
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            let mut alert = Alert::firing(
                LabelSet::from_pairs([("alertname", field("alertname"))]),
                time::OffsetDateTime::UNIX_EPOCH,
            )
            .with_annotations(Annotations::from_pairs([
                ("summary", field("summary")),
                ("description", field("description")),
            ]));
            alert.generator_url = Arc::from(format!(
                "http://prometheus:9090/graph?g0.expr={}&g0.tab=1",
                url_encode(&field("expr"))
            ));
            alert
        })
        .collect()
}

fn rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    let classifier = RuleClassifier::default();
    let dataset = dataset_alerts();
    assert_eq!(dataset.len(), 378);
    let mut i = 0;
    group.bench_function("classify/dataset", |b| {
        b.iter(|| {
            i = (i + 1) % dataset.len();
            black_box(classifier.classify_now(black_box(&dataset[i])))
        });
    });
    let fixture = alertkit_benches::alerts(64, 0);
    let mut j = 0;
    group.bench_function("classify/fixture_labelled", |b| {
        b.iter(|| {
            j = (j + 1) % fixture.len();
            black_box(classifier.classify_now(black_box(&fixture[j])))
        });
    });
    group.sample_size(20);
    group.bench_function("load/default_pack", |b| {
        b.iter(|| RulePack::from_toml_str(black_box(DEFAULT_PACK_TOML)).map(|p| p.rules().len()));
    });
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
