//! Shared fixtures for the alertkit-core benchmarks.
//!
//! Everything here is deterministic: the same arguments always give the same
//! bytes and alerts, so runs on different machines measure the same work.
//!
//! The alerts look like what kube-prometheus-stack sends through
//! Alertmanager: ten labels (`alertname`, `cluster`, `container`, `instance`,
//! `job`, `namespace`, `pod`, `prometheus`, `service`, `severity`), the
//! `summary`/`description`/`runbook_url` annotations, a `startsAt` with
//! nanoseconds, a Prometheus `generatorURL` carrying the URL-encoded PromQL
//! expression, and a mix of firing and resolved alerts (every fourth one is
//! resolved).

use std::fmt::Write as _;
use std::sync::Arc;

use alertkit_core::model::format_rfc3339;
use alertkit_core::{Alert, Annotations, LabelSet, Origin, SourceBatch, Status};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

/// Number of labels on every fixture alert (without the pipeline's round label).
pub const LABELS_PER_ALERT: usize = 10;

/// Name of the label [`alerts`] adds so that every round has fresh fingerprints.
pub const ROUND_LABEL: &str = "bench_round";

/// Five matchers mixing `=`, `!=`, `=~` and `!~`, as a silence or a route would hold.
///
/// Every alert of the `payments` namespace in this module matches it except
/// those whose `alertname` is not a `Kube…` alert or `CPUThrottlingHigh`;
/// [`matching_labels`] satisfies all five and [`non_matching_labels`] fails
/// only the last one, so both evaluate all five matchers.
pub const FIVE_MATCHERS: &str = r#"{namespace="payments", severity!="info", alertname=~"Kube.*|CPUThrottlingHigh", pod=~"checkout-.*", cluster!~"staging-.*|dev-.*"}"#;

/// The namespace all fixture alerts live in (the webhook is grouped by it).
const NAMESPACE: &str = "payments";
const CLUSTER: &str = "prod-eu-west-1";
const PROMETHEUS: &str = "monitoring/kube-prometheus-stack-prometheus";
const PROMETHEUS_URL: &str = "http://prometheus-kube-prometheus-stack-prometheus-0:9090";
const ALERTMANAGER_URL: &str = "http://alertmanager.monitoring.svc:9093";

/// `(alertname, severity, job, PromQL expression, runbook slug)` of the rules the fixtures fire.
const RULES: [(&str, &str, &str, &str, &str); 6] = [
    (
        "KubePodCrashLooping",
        "warning",
        "kube-state-metrics",
        r#"max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",namespace=~".*",reason="CrashLoopBackOff"}[5m]) >= 1"#,
        "kubernetes/kubepodcrashlooping",
    ),
    (
        "KubePodNotReady",
        "warning",
        "kube-state-metrics",
        r#"sum by (namespace, pod, cluster) (max by (namespace, pod, cluster) (kube_pod_status_phase{job="kube-state-metrics",namespace=~".*",phase=~"Pending|Unknown|Failed"}) * on (namespace, pod, cluster) group_left (owner_kind) topk by (namespace, pod, cluster) (1, max by (namespace, pod, owner_kind, cluster) (kube_pod_owner{owner_kind!="Job"}))) > 0"#,
        "kubernetes/kubepodnotready",
    ),
    (
        "CPUThrottlingHigh",
        "info",
        "kubelet",
        r#"sum by (cluster, container, pod, namespace) (increase(container_cpu_cfs_throttled_periods_total{container!=""}[5m])) / sum by (cluster, container, pod, namespace) (increase(container_cpu_cfs_periods_total[5m])) > (25 / 100)"#,
        "kubernetes/cputhrottlinghigh",
    ),
    (
        "KubeContainerWaiting",
        "warning",
        "kube-state-metrics",
        r#"sum by (namespace, pod, container, cluster) (kube_pod_container_status_waiting_reason{job="kube-state-metrics",namespace=~".*"}) > 0"#,
        "kubernetes/kubecontainerwaiting",
    ),
    (
        "TargetDown",
        "critical",
        "checkout-api",
        r#"100 * (count by (job, namespace, service) (up == 0) / count by (job, namespace, service) (up)) > 10"#,
        "general/targetdown",
    ),
    (
        "KubeDeploymentReplicasMismatch",
        "critical",
        "kube-state-metrics",
        r#"(kube_deployment_spec_replicas{job="kube-state-metrics",namespace=~".*"} > kube_deployment_status_replicas_available{job="kube-state-metrics",namespace=~".*"}) and (changes(kube_deployment_status_replicas_updated{job="kube-state-metrics",namespace=~".*"}[10m]) == 0)"#,
        "kubernetes/kubedeploymentreplicasmismatch",
    ),
];

/// Workloads of the `payments` namespace the alerts are about.
const SERVICES: [&str; 5] = [
    "checkout-api",
    "checkout-worker",
    "payment-gateway",
    "ledger",
    "fraud-scoring",
];

/// Everything about fixture alert `i`, before it becomes JSON or an [`Alert`].
struct Spec {
    labels: Vec<(&'static str, String)>,
    annotations: Vec<(&'static str, String)>,
    starts_at: OffsetDateTime,
    ends_at: Option<OffsetDateTime>,
    generator_url: String,
}

/// A base time with a sub-second part, so every `startsAt` carries nanoseconds.
fn base_time() -> OffsetDateTime {
    time::macros::datetime!(2026-08-22 09:14:07.123_456_789 UTC)
}

/// A pseudo-random but deterministic 5-character pod suffix, like a ReplicaSet's.
fn pod_suffix(i: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize];
            x /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

/// Percent-encodes a query value the way Go's `url.QueryEscape` does (space as `+`).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn spec(i: usize) -> Spec {
    let (alertname, severity, job, expr, runbook) = RULES[i % RULES.len()];
    let service = SERVICES[(i / RULES.len()) % SERVICES.len()];
    let pod = format!(
        "{service}-{:08x}{:02x}-{}",
        (i as u32).wrapping_mul(2_654_435_761),
        i % 251,
        pod_suffix(i)
    );
    let instance = format!("10.42.{}.{}:8080", (i / 250) % 256, i % 250 + 2);
    let labels = vec![
        ("alertname", alertname.to_owned()),
        ("cluster", CLUSTER.to_owned()),
        ("container", service.to_owned()),
        ("instance", instance),
        ("job", job.to_owned()),
        ("namespace", NAMESPACE.to_owned()),
        ("pod", pod.clone()),
        ("prometheus", PROMETHEUS.to_owned()),
        ("service", service.to_owned()),
        ("severity", severity.to_owned()),
    ];
    let annotations = vec![
        (
            "description",
            format!(
                "Pod {NAMESPACE}/{pod} ({service}) on cluster {CLUSTER} has been in a non-ready state or restarting \
                 for longer than 15 minutes (rule {alertname}); check the container logs and recent deployments."
            ),
        ),
        (
            "runbook_url",
            format!("https://runbooks.prometheus-operator.dev/runbooks/{runbook}"),
        ),
        (
            "summary",
            format!("{alertname}: {service} in {NAMESPACE} is unhealthy."),
        ),
    ];
    let starts_at = base_time()
        + Duration::seconds(i as i64 * 17)
        + Duration::nanoseconds((i as i64 * 7_919) % 1_000_000_000);
    let ends_at =
        (i % 4 == 3).then(|| starts_at + Duration::minutes(12) + Duration::milliseconds(345));
    let generator_url = format!(
        "{PROMETHEUS_URL}/graph?g0.expr={}&g0.tab=1",
        query_escape(expr)
    );
    Spec {
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url,
    }
}

/// An owned `(name, value)` label pair, as a producer holding its own strings has them.
pub type Pair = (Box<str>, Box<str>);

/// The ten kube-prometheus labels of fixture alert `i`, in name order.
///
/// Alerts with different `i` have different `pod` and `instance` labels, so
/// different fingerprints.
pub fn alert_labels(i: usize) -> Vec<(&'static str, String)> {
    spec(i).labels
}

/// The labels of fixture alert `i` as owned [`Pair`]s, in the order a
/// hand-written producer would list them (`alertname` and `severity` first),
/// i.e. **not** sorted by name.
pub fn unsorted_label_pairs(i: usize) -> Vec<Pair> {
    let mut labels = spec(i).labels;
    // Move `severity` right after `alertname`, then reverse the rest, so the
    // sort in `LabelSet::from_pairs` has real work to do.
    let severity = labels.remove(LABELS_PER_ALERT - 1);
    labels.insert(1, severity);
    labels[2..].reverse();
    labels
        .into_iter()
        .map(|(k, v)| (Box::from(k), v.into_boxed_str()))
        .collect()
}

/// The labels of fixture alert `i` as owned [`Pair`]s, sorted by name (as
/// Alertmanager sends them, Go's JSON encoder sorting map keys).
pub fn sorted_label_pairs(i: usize) -> Vec<Pair> {
    spec(i)
        .labels
        .into_iter()
        .map(|(k, v)| (Box::from(k), v.into_boxed_str()))
        .collect()
}

/// A label set that satisfies every matcher of [`FIVE_MATCHERS`].
pub fn matching_labels() -> LabelSet {
    LabelSet::from_pairs(spec(0).labels)
}

/// A label set that satisfies the first four matchers of [`FIVE_MATCHERS`]
/// and fails the last (`cluster!~"staging-.*|dev-.*"`).
pub fn non_matching_labels() -> LabelSet {
    let mut labels = spec(0).labels;
    for (name, value) in &mut labels {
        if *name == "cluster" {
            *value = "staging-eu-west-1".to_owned();
        }
    }
    LabelSet::from_pairs(labels)
}

fn labels_object<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect::<Map<_, _>>(),
    )
}

/// An Alertmanager webhook (payload version 4) body with `n` alerts, as
/// Alertmanager 0.27+ would POST it for a route grouped by `namespace`.
///
/// Each alert carries the fingerprint Alertmanager would send (the one
/// alertkit computes, so no mismatch is reported). `commonLabels` and
/// `commonAnnotations` are the real intersections over the alerts.
pub fn webhook_body(n: usize) -> Vec<u8> {
    let specs: Vec<Spec> = (0..n).map(spec).collect();
    let mut alerts = Vec::with_capacity(n);
    let mut common_labels: Option<Vec<(&str, &str)>> = None;
    let mut common_annotations: Option<Vec<(&str, &str)>> = None;
    let mut any_firing = false;
    for s in &specs {
        let fingerprint =
            LabelSet::from_pairs(s.labels.iter().map(|(k, v)| (*k, v.as_str()))).fingerprint();
        let firing = s.ends_at.is_none();
        any_firing |= firing;
        alerts.push(json!({
            "status": if firing { "firing" } else { "resolved" },
            "labels": labels_object(s.labels.iter().map(|(k, v)| (*k, v.as_str()))),
            "annotations": labels_object(s.annotations.iter().map(|(k, v)| (*k, v.as_str()))),
            "startsAt": format_rfc3339(s.starts_at),
            "endsAt": s.ends_at.map_or_else(|| alertkit_core::model::ZERO_TIME.to_owned(), format_rfc3339),
            "generatorURL": s.generator_url,
            "fingerprint": fingerprint.to_string(),
        }));
        let labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let annotations: Vec<(&str, &str)> = s
            .annotations
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        common_labels = Some(match common_labels {
            None => labels,
            Some(common) => common.into_iter().filter(|p| labels.contains(p)).collect(),
        });
        common_annotations = Some(match common_annotations {
            None => annotations,
            Some(common) => common
                .into_iter()
                .filter(|p| annotations.contains(p))
                .collect(),
        });
    }
    let body = json!({
        "version": "4",
        "groupKey": format!("{{}}/{{severity=~\"warning|critical|info\"}}:{{namespace=\"{NAMESPACE}\"}}"),
        "truncatedAlerts": 0,
        "status": if any_firing { "firing" } else { "resolved" },
        "receiver": "payments-oncall",
        "groupLabels": { "namespace": NAMESPACE },
        "commonLabels": labels_object(common_labels.unwrap_or_default()),
        "commonAnnotations": labels_object(common_annotations.unwrap_or_default()),
        "externalURL": ALERTMANAGER_URL,
        "alerts": alerts,
    });
    // Serialising a `Value` built from strings cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `count` distinct alerts for round `round` of a pipeline benchmark.
///
/// They are the fixture alerts `0..count` with an eleventh label,
/// [`ROUND_LABEL`]`=round`: alerts of different rounds have different
/// fingerprints, so the pipeline's duplicate detection never drops them and
/// every one is recorded and published.
pub fn alerts(count: usize, round: u64) -> Vec<Alert> {
    let round = round.to_string();
    (0..count)
        .map(|i| {
            let s = spec(i);
            let labels =
                LabelSet::from_pairs(s.labels.into_iter().chain([(ROUND_LABEL, round.clone())]));
            Alert {
                labels,
                annotations: Annotations::from_pairs(s.annotations),
                status: if s.ends_at.is_some() {
                    Status::Resolved
                } else {
                    Status::Firing
                },
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                generator_url: Arc::from(s.generator_url),
            }
        })
        .collect()
}

/// `batches` batches of `per_batch` alerts each, all distinct, for round `round`.
///
/// Batch `b` holds the fixture alerts `b * per_batch .. (b + 1) * per_batch`
/// (see [`alerts`]), from an origin named like an Alertmanager receiver.
pub fn batches(batches: usize, per_batch: usize, round: u64) -> Vec<SourceBatch> {
    let mut all = alerts(batches * per_batch, round).into_iter();
    (0..batches)
        .map(|_| {
            SourceBatch::new(
                Origin::named("payments-oncall"),
                all.by_ref().take(per_batch).collect(),
            )
        })
        .collect()
}

/// The PostgreSQL the benches that have Postgres variants use: `DATABASE_URL`
/// when it names one, the local server
/// (`postgres://postgres@127.0.0.1:5432/test`) when it is unset, and none
/// when it names another database (`DATABASE_URL=sqlite:none` runs only the
/// SQLite and in-memory variants, without touching Postgres).
pub fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        Ok(_) => None,
        Err(_) => Some("postgres://postgres@127.0.0.1:5432/test".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use alertkit_core::{Matchers, WebhookMessage};

    use super::*;

    #[test]
    fn webhook_body_parses_with_expected_alert_count() {
        for n in [1, 10, 100] {
            let body = webhook_body(n);
            let msg = WebhookMessage::from_json(&body).expect("fixture body parses");
            assert_eq!(msg.alerts.len(), n);
            assert!(
                msg.fingerprint_mismatches.is_empty(),
                "fixture fingerprints are Alertmanager's"
            );
            assert!(
                msg.alerts
                    .iter()
                    .all(|a| a.labels.len() == LABELS_PER_ALERT)
            );
            assert!(msg.alerts.iter().all(|a| a.annotations.len() == 3));
            assert!(
                msg.alerts
                    .iter()
                    .all(|a| a.generator_url.contains("g0.expr="))
            );
            assert_eq!(msg.status, Status::Firing);
        }
    }

    #[test]
    fn webhook_body_is_realistic() {
        let msg = WebhookMessage::from_json(&webhook_body(100)).expect("fixture body parses");
        let resolved = msg
            .alerts
            .iter()
            .filter(|a| a.status == Status::Resolved)
            .count();
        assert_eq!(resolved, 25);
        assert!(msg.alerts.iter().all(|a| a.starts_at.nanosecond() != 0));
        let fingerprints: HashSet<_> = msg.alerts.iter().map(Alert::fingerprint).collect();
        assert_eq!(fingerprints.len(), 100, "alerts are distinct");
        let common: Vec<_> = msg.common_labels.iter().map(|(k, _)| k).collect();
        assert_eq!(common, ["cluster", "namespace", "prometheus"]);
        assert_eq!(msg.group_labels.get("namespace"), Some(NAMESPACE));
        // The emitted form parses back to the same message.
        let emitted = serde_json::to_vec(&msg).expect("emit");
        assert_eq!(WebhookMessage::from_json(&emitted).expect("re-parse"), msg);
    }

    #[test]
    fn pipeline_alerts_are_distinct_within_and_across_rounds() {
        let batches = batches(4, 100, 1);
        assert_eq!(batches.len(), 4);
        assert!(batches.iter().all(|b| b.alerts.len() == 100));
        let mut fingerprints: HashSet<_> = batches
            .iter()
            .flat_map(|b| &b.alerts)
            .map(Alert::fingerprint)
            .collect();
        assert_eq!(fingerprints.len(), 400);
        fingerprints.extend(alerts(400, 2).iter().map(Alert::fingerprint));
        assert_eq!(fingerprints.len(), 800);
    }

    #[test]
    fn label_pair_orders_build_the_same_set() {
        let unsorted = unsorted_label_pairs(7);
        assert_eq!(unsorted.len(), LABELS_PER_ALERT);
        assert_ne!(unsorted, sorted_label_pairs(7));
        assert_eq!(
            LabelSet::from_pairs(unsorted),
            LabelSet::from_pairs(sorted_label_pairs(7))
        );
    }

    #[test]
    fn five_matchers_match_and_miss() {
        let matchers = Matchers::parse(FIVE_MATCHERS).expect("fixture matchers parse");
        assert_eq!(matchers.len(), 5);
        assert!(matchers.matches(&matching_labels()));
        assert!(!matchers.matches(&non_matching_labels()));
        let failing: Vec<_> = matchers
            .iter()
            .filter(|m| !m.matches(&non_matching_labels()))
            .map(|m| m.name())
            .collect();
        assert_eq!(failing, ["cluster"], "only the last matcher fails");
    }
}
