//! A deterministic, realistic notification storm, shared by the storm test
//! (`alertkit-llm/tests/storm.rs`) and the storm bench
//! (`benches/benches/storm.rs`, which includes this file by path).
//!
//! The model: 50 distinct alerts (ten rules × five instances), as an
//! Alertmanager HA pair delivers them with `group_interval` = 1 minute.
//!
//! - At minute 0 an incident fires 30 of them at once.
//! - Every minute, each firing alert resolves with probability 4 % (its
//!   resolved notification is sent once), each quiet alert fires (again)
//!   with probability 3 %, and each firing alert's annotations change with
//!   probability 1 % (its description carries a value that moves).
//! - Every minute, every firing or just-resolved alert is delivered by both
//!   Alertmanagers (so each appears twice, concurrently).
//! - It stops at 10 000 deliveries (215 minutes of notifications, under
//!   the 6 h verdict TTL of the reference server, so no entry expires).
//!
//! Labels, annotations and expressions look like what node-exporter and
//! kube-prometheus rules send. A splitmix64 generator with a fixed seed makes
//! every run the same.

use std::sync::Arc;

use alertkit_core::{Alert, Annotations, LabelSet};
use time::{Duration, OffsetDateTime};

/// Distinct alerts (fingerprints) in the storm.
pub(crate) const DISTINCT_ALERTS: usize = 50;
/// Deliveries in the storm.
pub(crate) const RECEIPTS: usize = 10_000;
/// Alertmanagers delivering each notification.
pub(crate) const REPLICAS: usize = 2;

/// `(alertname, severity, summary, expression)` of the ten rules.
const RULES: [(&str, &str, &str, &str); 10] = [
    (
        "NodeDown",
        "critical",
        "Node {instance} is down",
        "up{job=\"node\"} == 0",
    ),
    (
        "HostHighCpuLoad",
        "warning",
        "CPU load is high on {instance}",
        "100 - (avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[2m])) * 100) > 80",
    ),
    (
        "HostOutOfMemory",
        "warning",
        "Host out of memory ({instance})",
        "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10",
    ),
    (
        "HostOutOfDiskSpace",
        "critical",
        "Disk almost full on {instance}",
        "(node_filesystem_avail_bytes * 100) / node_filesystem_size_bytes < 10",
    ),
    (
        "KubePodCrashLooping",
        "warning",
        "Pod is crash looping on {instance}",
        "max_over_time(kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\"}[5m]) >= 1",
    ),
    (
        "HttpHighErrorRate",
        "critical",
        "5xx error rate above 5% on {instance}",
        "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])) > 0.05",
    ),
    (
        "HighRequestLatency",
        "warning",
        "p99 latency above 1s on {instance}",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 1",
    ),
    (
        "PostgresReplicationLag",
        "warning",
        "Replication lag on {instance}",
        "pg_replication_lag_seconds > 30",
    ),
    (
        "SslCertificateExpiry",
        "warning",
        "Certificate on {instance} expires soon",
        "probe_ssl_earliest_cert_expiry - time() < 86400 * 7",
    ),
    (
        "KafkaConsumerLag",
        "warning",
        "Consumer group lag growing on {instance}",
        "sum by (group) (kafka_consumergroup_lag) > 10000",
    ),
];

const INSTANCES: [&str; 5] = [
    "10.0.1.11:9100",
    "10.0.1.12:9100",
    "10.0.2.21:9100",
    "10.0.2.22:9100",
    "10.0.3.31:9100",
];

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn url_encode(s: &str) -> String {
    use std::fmt::Write as _;
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

struct State {
    firing_since: Option<OffsetDateTime>,
    /// Bumped when the annotations change.
    version: u32,
}

fn alert(i: usize, version: u32, starts_at: OffsetDateTime) -> Alert {
    let (name, severity, summary, expr) = RULES[i % RULES.len()];
    let instance = INSTANCES[i / RULES.len()];
    let labels = LabelSet::from_pairs([
        ("alertname", name),
        ("instance", instance),
        ("job", "node"),
        ("severity", severity),
        ("cluster", "prod-eu-west-1"),
    ]);
    let value = 80 + (version * 7) % 19;
    let mut a = Alert::firing(labels, starts_at).with_annotations(Annotations::from_pairs([
        ("summary", summary.replace("{instance}", instance)),
        (
            "description",
            format!("{name} has held for 5 minutes on {instance}: current value {value}."),
        ),
        (
            "runbook_url",
            format!("https://runbooks.example.com/{}", name.to_ascii_lowercase()),
        ),
    ]));
    a.generator_url = Arc::from(format!(
        "http://prometheus-0:9090/graph?g0.expr={}&g0.tab=1",
        url_encode(expr)
    ));
    a
}

/// The storm, minute by minute: the alerts delivered in each minute (each
/// notification once per Alertmanager, [`REPLICAS`] copies in a row).
pub(crate) fn storm() -> Vec<Vec<Alert>> {
    let mut rng = Rng(0x5eed_a1e7_0000_0005);
    let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let mut states: Vec<State> = (0..DISTINCT_ALERTS)
        .map(|i| State {
            firing_since: (i < 30).then_some(t0),
            version: 0,
        })
        .collect();
    let mut minutes = Vec::new();
    let mut total = 0;
    let mut minute = 0i64;
    while total < RECEIPTS {
        let now = t0 + Duration::minutes(minute);
        let mut sent = Vec::new();
        for (i, s) in states.iter_mut().enumerate() {
            let delivered = match s.firing_since {
                Some(since) if minute > 0 && rng.chance(4) => {
                    s.firing_since = None;
                    Some(alert(i, s.version, since).resolved_at(now))
                }
                Some(since) => {
                    if minute > 0 && rng.chance(1) {
                        s.version += 1;
                    }
                    Some(alert(i, s.version, since))
                }
                None if rng.chance(3) => {
                    s.firing_since = Some(now);
                    Some(alert(i, s.version, now))
                }
                None => None,
            };
            if let Some(a) = delivered {
                for _ in 0..REPLICAS {
                    sent.push(a.clone());
                }
            }
        }
        sent.truncate(RECEIPTS - total);
        total += sent.len();
        minutes.push(sent);
        minute += 1;
    }
    minutes
}
