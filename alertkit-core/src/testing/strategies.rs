//! proptest strategies for labels, alerts, webhook messages and alert streams.

use std::sync::Arc;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use time::OffsetDateTime;

use crate::{Alert, Annotations, LabelSet, Status, WebhookMessage};

/// Label names: the common ones, classic Prometheus names, and UTF-8 names.
pub fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "alertname", "severity", "namespace", "instance", "job", "pod", "service",
            "cluster", "team", "env", "container", "node",
        ])
        .prop_map(str::to_owned),
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,24}",
        1 => "\\PC{1,12}",
    ]
}

/// Label values: realistic ones and hostile ones (quotes, SQL
/// metacharacters, regex syntax, control characters, NUL, unicode, and
/// occasionally a 64 KiB value).
pub fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9][a-z0-9.:-]{0,30}",
        2 => "\\PC{1,40}",
        2 => prop::sample::select(vec![
            "'; DROP TABLE alerts; --", "\"quoted\"", "back\\slash", "a,b=c{d}", ".*", "(",
            "line\nbreak", "tab\tchar", "nul\u{0}byte", "emoji 🚨🔥", "ünïcödé", "%s%n", " ",
        ])
        .prop_map(str::to_owned),
        1 => Just("v".repeat(64 * 1024)),
    ]
}

/// A label set with an `alertname` and up to `max_extra` other labels.
pub fn label_set_with(max_extra: usize) -> impl Strategy<Value = LabelSet> {
    (
        "[A-Z][A-Za-z0-9]{2,30}",
        btree_map(label_name(), label_value(), 0..=max_extra),
    )
        .prop_map(|(alertname, mut rest)| {
            rest.insert("alertname".to_owned(), alertname);
            LabelSet::from_pairs(rest)
        })
}

/// A label set with an `alertname` and up to 10 other labels.
pub fn label_set() -> impl Strategy<Value = LabelSet> {
    label_set_with(10)
}

/// Annotations: summary, description, runbook and free-form entries.
pub fn annotations() -> impl Strategy<Value = Annotations> {
    btree_map(
        prop_oneof![
            Just("summary".to_owned()),
            Just("description".to_owned()),
            Just("runbook_url".to_owned()),
            "[a-z_]{1,16}",
        ],
        prop_oneof![4 => "\\PC{0,80}", 1 => label_value()],
        0..4,
    )
    .prop_map(Annotations::from_pairs)
}

/// A timestamp between 2001 and 2096 with nanosecond precision, in UTC.
pub fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    (1_000_000_000i64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(secs, nanos)| {
        OffsetDateTime::from_unix_timestamp(secs)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .replace_nanosecond(nanos)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

/// Any valid alert, firing or resolved (`endsAt` never before `startsAt`).
pub fn alert() -> impl Strategy<Value = Alert> {
    (
        label_set(),
        annotations(),
        timestamp(),
        prop::option::of(0i64..86_400_000),
        prop_oneof![
            Just(String::new()),
            "http://prometheus:9090/graph\\?g0\\.expr=[a-z_]{1,20}"
        ],
    )
        .prop_map(|(labels, annotations, starts_at, resolved_after_ms, url)| {
            let ends_at = resolved_after_ms.map(|ms| starts_at + time::Duration::milliseconds(ms));
            Alert {
                labels,
                annotations,
                status: if ends_at.is_some() {
                    Status::Resolved
                } else {
                    Status::Firing
                },
                starts_at,
                ends_at,
                generator_url: Arc::from(url),
            }
        })
}

/// A webhook message of 1 to 20 alerts, as Alertmanager would build it.
pub fn webhook_message() -> impl Strategy<Value = WebhookMessage> {
    (vec(alert(), 1..20), "[a-z-]{1,20}", any::<u8>()).prop_map(|(alerts, receiver, truncated)| {
        let mut msg = WebhookMessage::from_alerts(receiver, alerts);
        msg.group_key = format!("{{}}:{{alertname=\"{}\"}}", msg.alerts.len());
        msg.truncated_alerts = u64::from(truncated % 4);
        msg.external_url = "http://alertmanager:9093".to_owned();
        msg
    })
}

/// How one alert behaves in a generated [`alert_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Fires (re-sent a few times), then resolves.
    FireThenResolve,
    /// Fires and resolves several times, each time with a later `startsAt`.
    Flapping,
    /// Fires and stays firing.
    StaysFiring,
}

/// A realistic delivery sequence: receipts of several alerts in the order
/// Alertmanager would send them, with re-sends (repeat intervals) and, when
/// `ha_replicas > 1`, each receipt duplicated as Alertmanager HA does.
///
/// Every alert's own receipts are in time order; receipts of different
/// alerts interleave. With `storm`, up to 300 distinct alerts fire at once.
pub fn alert_stream(storm: bool, ha_replicas: usize) -> impl Strategy<Value = Vec<Alert>> {
    let alerts = if storm { 50..300usize } else { 1..12usize };
    (
        vec(
            (
                label_set_with(4),
                prop::sample::select(vec![
                    Scenario::FireThenResolve,
                    Scenario::Flapping,
                    Scenario::StaysFiring,
                ]),
                1u32..4,
            ),
            alerts,
        ),
        timestamp(),
        any::<u64>(),
    )
        .prop_map(move |(specs, t0, seed)| {
            // (time offset in ms, alert) pairs, then a deterministic interleave.
            let mut timed: Vec<(i64, usize, Alert)> = Vec::new();
            for (i, (labels, scenario, repeats)) in specs.into_iter().enumerate() {
                let mut t = i64::try_from(i).unwrap_or(0) * 10;
                let cycles = if scenario == Scenario::Flapping { 3 } else { 1 };
                for _ in 0..cycles {
                    let starts = t0 + time::Duration::milliseconds(t);
                    let firing = Alert::firing(labels.clone(), starts);
                    for _ in 0..repeats {
                        timed.push((t, i, firing.clone()));
                        t += 1000;
                    }
                    if scenario != Scenario::StaysFiring {
                        let ends = t0 + time::Duration::milliseconds(t);
                        timed.push((t, i, firing.clone().resolved_at(ends)));
                        t += 1000;
                    }
                }
            }
            // Sort by time, breaking ties pseudo-randomly but stably per alert.
            timed.sort_by_key(|(t, i, _)| (*t, (*i as u64).wrapping_mul(seed | 1)));
            let mut out = Vec::with_capacity(timed.len() * ha_replicas.max(1));
            for (_, _, alert) in timed {
                for _ in 0..ha_replicas.max(1) {
                    out.push(alert.clone());
                }
            }
            out
        })
}
