//! The rule classifier: severity labels vs. reassess, first-match-per-field,
//! templates, the seed alert catalogue, and hostile input.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alertkit_core::testing::conformance;
use alertkit_core::testing::strategies;
use alertkit_core::{
    Alert, Annotations, Category, ClassificationSource, Classifier, LabelSet, Severity,
};
use alertkit_llm::rules::{RuleClassifier, RulePack, RulesConfig};
use proptest::prelude::*;

fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)], expr: &str) -> Alert {
    let mut a = Alert::firing(
        LabelSet::from_pairs(labels.iter().copied()),
        time::OffsetDateTime::UNIX_EPOCH,
    )
    .with_annotations(Annotations::from_pairs(annotations.iter().copied()));
    if !expr.is_empty() {
        let encoded: String = expr
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        a.generator_url = Arc::from(format!("http://prom:9090/graph?g0.expr={encoded}&g0.tab=1"));
    }
    a
}

const PACK: &str = r#"
version = "1"

[[rule]]
name = "says-critical"
when.alertname = '\bcritical\b'
severity = "critical"
confidence = 0.9

[[rule]]
name = "prod-only"
matchers = '{env="prod"}'
when.title = '\bqueue\b'
severity = "critical"
category = "data"
summary = "prod queue {queue} stuck"
recommendations = ["drain {queue} in {env}"]

[[rule]]
name = "down"
when = [{ title = '\bdown\b' }, { expr = '(^|[^a-z_])up\s*==\s*0' }]
unless.title = 'slow(ing)? down'
severity = "warning"
category = "availability"
confidence = 0.6
summary = "{summary} ({instance})"
recommendations = ["check {instance}", "kubectl logs -n {namespace} {pod}"]

[[rule]]
name = "queues"
when.text = '\bqueue\b'
severity = "warning"
category = "data"
confidence = 0.5
"#;

fn pack() -> Arc<RulePack> {
    Arc::new(RulePack::from_toml_str(PACK).unwrap())
}

#[test]
fn severity_label_is_respected_unless_reassess() {
    let a = alert(
        &[
            ("alertname", "ApiDown"),
            ("severity", "P4"),
            ("instance", "api-1"),
        ],
        &[("summary", "api down")],
        "",
    );
    let respect = RuleClassifier::new(pack());
    let v = respect.classify_now(&a);
    assert_eq!(v.severity, Severity::Info, "P4 normalises to info");
    assert_eq!(
        v.category,
        Category::Availability,
        "category still from rules"
    );
    assert_eq!(v.recommendations[0], "check api-1");
    assert!((v.confidence - 0.6).abs() < 1e-9);

    let reassess = RuleClassifier::new(pack()).reassess(true);
    let v = reassess.classify_now(&a);
    assert_eq!(v.severity, Severity::Warning, "the rule decides");
    assert_eq!(v.category, Category::Availability);
    assert_ne!(respect.id(), reassess.id());
    assert!(reassess.id().ends_with("/reassess"));
    assert_eq!(v.model.as_deref(), Some(reassess.id()));

    // An unrecognised label leaves the severity to the rules.
    let bogus = alert(
        &[("alertname", "ApiDown"), ("severity", "whatever")],
        &[],
        "",
    );
    assert_eq!(respect.classify_now(&bogus).severity, Severity::Warning);
    // A known label with no matching rule: label severity, default category.
    let quiet = alert(&[("alertname", "Quiet"), ("severity", "critical")], &[], "");
    let v = respect.classify_now(&quiet);
    assert_eq!(
        (v.severity, v.category),
        (Severity::Critical, Category::Other)
    );
    assert_eq!(v.source, ClassificationSource::Default);
}

#[test]
fn each_field_comes_from_the_first_rule_that_sets_it() {
    let c = RuleClassifier::new(pack());
    let a = alert(&[("alertname", "BackendCriticalDown")], &[], "");
    let v = c.classify_now(&a);
    assert_eq!(v.severity, Severity::Critical, "from says-critical");
    assert_eq!(v.category, Category::Availability, "from down");
    assert!((v.confidence - 0.6).abs() < 1e-9, "lowest of the two rules");
    assert_eq!(v.source, ClassificationSource::Rules);
    let ev = c.pack().evaluate(&a, true);
    assert_eq!(ev.severity.map(|r| r.name()), Some("says-critical"));
    assert_eq!(ev.category.map(|r| r.name()), Some("down"));
    assert_eq!(ev.recommendations.map(|r| r.name()), Some("down"));
}

#[test]
fn expr_unless_and_matchers() {
    let c = RuleClassifier::new(pack());
    // Matched through the expression alone.
    let v = c.classify_now(&alert(
        &[("alertname", "X")],
        &[],
        "mysql_up == 0 or up == 0",
    ));
    assert_eq!(v.category, Category::Availability);
    // `unless` rejects the rule.
    let v = c.classify_now(&alert(&[("alertname", "HttpSlowingDown")], &[], ""));
    assert_eq!(v.source, ClassificationSource::Default);
    assert_eq!(v.category, Category::Other);
    assert!((v.confidence - 0.2).abs() < 1e-9);
    // Matchers gate a rule on labels.
    let staging = alert(&[("alertname", "QueueStuck"), ("env", "staging")], &[], "");
    assert_eq!(c.classify_now(&staging).severity, Severity::Warning);
    let prod = alert(
        &[
            ("alertname", "QueueStuck"),
            ("env", "prod"),
            ("queue", "mail"),
        ],
        &[],
        "",
    );
    let v = c.classify_now(&prod);
    assert_eq!(
        (v.severity, v.category),
        (Severity::Critical, Category::Data)
    );
    assert_eq!(v.summary, "prod queue mail stuck");
    assert_eq!(v.recommendations, ["drain mail in prod"]);
}

#[test]
fn templates_runbooks_and_missing_labels() {
    let c = RuleClassifier::new(pack());
    let a = alert(
        &[("alertname", "NodeDown"), ("instance", "n1\nevil")],
        &[
            ("summary", "Node\tdown"),
            ("runbook_url", "https://runbooks/node-down"),
        ],
        "",
    );
    let v = c.classify_now(&a);
    assert_eq!(v.summary, "Node down (n1 evil)");
    assert_eq!(
        v.recommendations,
        [
            "Follow the runbook: https://runbooks/node-down",
            "check n1 evil",
            "kubectl logs -n <namespace> <pod>",
        ]
    );
}

#[test]
fn config_builds_the_classifier() {
    let c = RuleClassifier::from_config(&RulesConfig::new().reassess(true)).unwrap();
    assert!(c.id().starts_with("rules/default@"));
    assert!(c.id().ends_with("/reassess"));
    let err = RuleClassifier::from_config(&RulesConfig::new().pack("/nonexistent/pack.toml"));
    assert!(err.is_err());
    let parsed: RulesConfig =
        toml::from_str("reassess = false\npack = \"/etc/alertkit/rules.toml\"").unwrap();
    assert_eq!(
        parsed.pack.as_deref(),
        Some(std::path::Path::new("/etc/alertkit/rules.toml"))
    );
    assert!(toml::from_str::<RulesConfig>("reasess = true").is_err());
}

/// The alert catalogue of the alert-response handbook (seed 003): every alert
/// gets its category and concrete steps; with `reassess`, the rules find the
/// handbook's severity where the alert itself carries the signal.
#[test]
fn seed_catalogue() {
    let respect = RuleClassifier::default();
    let reassess = RuleClassifier::default().reassess(true);
    // (alertname, expr, handbook severity, category, severity the rules give on their own)
    let catalogue: &[(&str, &str, &str, Category, Severity)] = &[
        (
            "PodCrashLoopBackOff",
            r#"rate(kube_pod_container_status_restarts_total{namespace=~"octollm.*"}[10m]) > 0.3"#,
            "critical",
            Category::Availability,
            Severity::Critical,
        ),
        (
            "NodeNotReady",
            r#"kube_node_status_condition{condition="Ready",status="false"} == 1"#,
            "critical",
            Category::Availability,
            Severity::Critical,
        ),
        (
            "HighErrorRate",
            r#"rate(http_requests_total{status=~"5.."}[5m]) / rate(http_requests_total[5m]) > 0.1"#,
            "critical",
            Category::Errors,
            Severity::Critical,
        ),
        (
            "DatabaseConnectionPoolExhausted",
            "db_pool_active_connections / db_pool_max_connections > 0.95",
            "critical",
            Category::Saturation,
            Severity::Critical,
        ),
        (
            "HighLatency",
            "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m])) > 1.0",
            "critical",
            Category::Latency,
            Severity::Warning,
        ),
        (
            "CertificateExpiringInSevenDays",
            "(certmanager_certificate_expiration_timestamp_seconds - time()) < 604800",
            "critical",
            Category::Certificates,
            Severity::Warning,
        ),
        (
            "HighNodeCPUUsage",
            r#"(1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m])) by (instance)) > 0.80"#,
            "warning",
            Category::Saturation,
            Severity::Warning,
        ),
        (
            "HighNodeMemoryUsage",
            "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > 0.85",
            "warning",
            Category::Saturation,
            Severity::Warning,
        ),
        (
            "HighRequestLatency",
            "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m])) > 1.0",
            "warning",
            Category::Latency,
            Severity::Warning,
        ),
        (
            "PodOOMKilled",
            r#"kube_pod_container_status_terminated_reason{reason="OOMKilled"} > 0"#,
            "warning",
            Category::Saturation,
            Severity::Warning,
        ),
        (
            "PersistentVolumeClaimPending",
            r#"kube_persistentvolumeclaim_status_phase{phase="Pending"} == 1"#,
            "warning",
            Category::Capacity,
            Severity::Warning,
        ),
        (
            "DeploymentReplicasMismatch",
            "kube_deployment_spec_replicas != kube_deployment_status_replicas_available",
            "warning",
            Category::Deployment,
            Severity::Warning,
        ),
        (
            "LowCacheHitRate",
            "redis_keyspace_hits_total / (redis_keyspace_hits_total + redis_keyspace_misses_total) < 0.50",
            "warning",
            Category::Saturation,
            Severity::Warning,
        ),
        (
            "NewDeploymentDetected",
            "changes(kube_deployment_status_observed_generation[5m]) > 0",
            "info",
            Category::Deployment,
            Severity::Info,
        ),
        (
            "HPAScaledUp",
            "changes(kube_horizontalpodautoscaler_status_current_replicas[5m]) > 0",
            "info",
            Category::Deployment,
            Severity::Info,
        ),
        (
            "ConfigMapChanged",
            "changes(kube_configmap_info[5m]) > 0",
            "info",
            Category::Deployment,
            Severity::Info,
        ),
    ];
    for (name, expr, label, category, own) in catalogue {
        let a = alert(
            &[
                ("alertname", name),
                ("severity", label),
                ("namespace", "octollm"),
                ("pod", "api-0"),
            ],
            &[],
            expr,
        );
        let v = respect.classify_now(&a);
        assert_eq!(
            v.severity,
            Severity::from_label(label),
            "{name}: label respected"
        );
        assert_eq!(v.category, *category, "{name}: category");
        assert!(
            v.recommendations.len() >= 2,
            "{name}: {:?}",
            v.recommendations
        );
        assert!(!v.summary.is_empty());
        assert_eq!(
            reassess.classify_now(&a).severity,
            *own,
            "{name}: rules alone"
        );
    }
    // The handbook's steps reach the verdicts.
    let crash = respect.classify_now(&alert(
        &[
            ("alertname", "PodCrashLoopBackOff"),
            ("namespace", "octollm"),
            ("pod", "api-0"),
        ],
        &[],
        "",
    ));
    assert!(
        crash
            .recommendations
            .iter()
            .any(|r| r.contains("kubectl logs -n octollm api-0 --previous")),
        "{:?}",
        crash.recommendations
    );
    let pool = respect.classify_now(&alert(
        &[("alertname", "DatabaseConnectionPoolExhausted")],
        &[],
        "",
    ));
    assert!(
        pool.recommendations
            .iter()
            .any(|r| r.contains("pg_stat_activity")),
        "{:?}",
        pool.recommendations
    );
}

#[test]
fn heartbeats_are_noise() {
    let c = RuleClassifier::default().reassess(true);
    for a in [
        alert(
            &[("alertname", "Watchdog")],
            &[("summary", "An alert that should always be firing")],
            "vector(1)",
        ),
        alert(&[("alertname", "DeadMansSwitch")], &[], ""),
    ] {
        let v = c.classify_now(&a);
        assert_eq!(
            (v.severity, v.category),
            (Severity::Noise, Category::Observability)
        );
    }
}

#[test]
fn conformance_suite() {
    conformance::classifier(|| async { RuleClassifier::default() });
    conformance::classifier(|| async { RuleClassifier::default().reassess(true) });
}

fn generator_url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "\\PC{0,200}",
        "[ -~]{0,200}".prop_map(|q| format!("http://p/graph?g0.expr={q}&g0.tab=1")),
        "(%[0-9A-Fa-f]{0,2}|[a-z_(){}=~\"+<>&#?]){0,120}"
            .prop_map(|q| format!("http://p/graph?g0.expr={q}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary alerts never panic and always get a well-formed verdict.
    #[test]
    fn arbitrary_alerts_never_panic(mut a in strategies::alert(), url in generator_url(), reassess in any::<bool>()) {
        a.generator_url = Arc::from(url);
        let c = RuleClassifier::default().reassess(reassess);
        let v = c.classify_now(&a);
        prop_assert!((0.0..=1.0).contains(&v.confidence));
        prop_assert!(!v.summary.contains('\n'));
        prop_assert!(v.summary.chars().count() <= 201);
        prop_assert!(v.recommendations.iter().all(|r| !r.trim().is_empty() && !r.contains('\n')));
        prop_assert!(v.severity != Severity::Unknown);
    }
}
