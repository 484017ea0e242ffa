//! [`HistoryStats`] for [`MemoryHistoryStore`]: one pass over the alerts
//! changed since the interval's start (every event the interval can hold
//! belongs to one of them: a state change moves `last_changed`).

use std::collections::HashMap;
use std::ops::Bound;
use std::time::Duration;

use async_trait::async_trait;

use super::{MemoryHistoryStore, State, lock};
use crate::traits::{
    FlappingAlert, HistoryStats, HistoryStatsReport, StatsQuery, TopAlert, validate_per_hour,
};
use crate::{AlertRecord, EventKind, Fingerprint, HistoryEvent, Severity, Status, StoreError};

/// `(last_changed, fingerprint)` keys from `since` on, as `order` holds them.
fn from(state: &State, since: i128) -> impl Iterator<Item = &super::Entry> {
    state
        .order
        .range((
            Bound::Included((since, Fingerprint::from_u64(0))),
            Bound::Unbounded,
        ))
        .filter_map(|(_, fp)| state.alerts.get(fp))
}

/// The events of `events` recorded in the interval.
fn within<'a>(
    events: &'a std::collections::VecDeque<HistoryEvent>,
    query: &'a StatsQuery,
) -> impl Iterator<Item = &'a HistoryEvent> {
    events
        .iter()
        .filter(|e| e.at >= query.since && e.at < query.until)
}

fn label(record: &AlertRecord, name: &str) -> String {
    record.labels.get(name).unwrap_or_default().to_owned()
}

/// Orders `(fingerprint, count)` rows by count descending, then fingerprint.
fn rank<T>(rows: &mut Vec<(Fingerprint, u64, T)>, limit: usize) {
    rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    rows.truncate(limit);
}

#[async_trait]
impl HistoryStats for MemoryHistoryStore {
    async fn stats(&self, query: &StatsQuery) -> Result<HistoryStatsReport, StoreError> {
        query.validate()?;
        let (since, until) = (
            query.since.unix_timestamp_nanos(),
            query.until.unix_timestamp_nanos(),
        );
        let state = lock::read(&self.state);
        let mut report = HistoryStatsReport::default();
        let mut statuses = [0u64; 2];
        let mut severities = [0u64; Severity::ALL.len()];
        let mut namespaces: HashMap<&str, u64> = HashMap::new();
        let mut resolve_nanos: i128 = 0;
        for entry in from(&state, since) {
            let rec = &entry.record;
            if rec.last_changed.unix_timestamp_nanos() < until {
                report.unique_fingerprints += 1;
                statuses[usize::from(rec.status == Status::Resolved)] += 1;
                let severity = rec.severity();
                if let Some(i) = Severity::ALL.iter().position(|s| *s == severity) {
                    severities[i] += 1;
                }
                *namespaces
                    .entry(rec.labels.get("namespace").unwrap_or_default())
                    .or_default() += 1;
            }
            for e in within(&entry.events, query) {
                match e.kind {
                    EventKind::Firing | EventKind::Refired => {
                        report.firings += 1;
                    }
                    EventKind::Resolved => {
                        report.resolved_count += 1;
                        if let Some(end) = e.ends_at {
                            resolve_nanos += (end - e.starts_at).whole_nanoseconds().max(0);
                        }
                    }
                    EventKind::AnnotationsChanged | EventKind::Classified => {}
                }
            }
        }
        report.by_status = vec![
            (Status::Firing, statuses[0]),
            (Status::Resolved, statuses[1]),
        ];
        report.by_severity = Severity::ALL.into_iter().zip(severities).collect();
        report.namespaces = namespaces.len() as u64;
        let mut by_namespace: Vec<(String, u64)> = namespaces
            .into_iter()
            .map(|(n, c)| (n.to_owned(), c))
            .collect();
        by_namespace.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_namespace.truncate(query.effective_limit());
        report.by_namespace = by_namespace;
        report.mean_time_to_resolve = (report.resolved_count > 0).then(|| {
            let mean = resolve_nanos / i128::from(report.resolved_count);
            Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX))
        });
        Ok(report)
    }

    async fn top_firing(&self, query: &StatsQuery) -> Result<Vec<TopAlert>, StoreError> {
        query.validate()?;
        let state = lock::read(&self.state);
        let mut rows = Vec::new();
        for entry in from(&state, query.since.unix_timestamp_nanos()) {
            let fired = within(&entry.events, query)
                .filter(|e| matches!(e.kind, EventKind::Firing | EventKind::Refired));
            let (count, last) = fired.fold((0u64, None), |(n, last), e| {
                (
                    n + 1,
                    Some(last.map_or(e.at, |l: time::OffsetDateTime| l.max(e.at))),
                )
            });
            if let Some(last) = last {
                rows.push((entry.record.fingerprint, count, (last, &entry.record)));
            }
        }
        rank(&mut rows, query.effective_limit());
        Ok(rows
            .into_iter()
            .map(|(fp, count, (last, rec))| {
                TopAlert::new(
                    fp,
                    label(rec, "alertname"),
                    label(rec, "namespace"),
                    count,
                    last,
                )
            })
            .collect())
    }

    async fn flapping(
        &self,
        query: &StatsQuery,
        min_transitions_per_hour: f64,
    ) -> Result<Vec<FlappingAlert>, StoreError> {
        query.validate()?;
        validate_per_hour(min_transitions_per_hour)?;
        let min = query.min_transitions(min_transitions_per_hour);
        let state = lock::read(&self.state);
        let mut rows = Vec::new();
        for entry in from(&state, query.since.unix_timestamp_nanos()) {
            let transitions = within(&entry.events, query)
                .filter(|e| e.kind.is_notifiable())
                .count() as u64;
            if transitions >= min {
                rows.push((entry.record.fingerprint, transitions, &entry.record));
            }
        }
        rank(&mut rows, query.effective_limit());
        Ok(rows
            .into_iter()
            .map(|(fp, n, rec)| {
                FlappingAlert::new(
                    fp,
                    label(rec, "alertname"),
                    label(rec, "namespace"),
                    n,
                    query,
                )
            })
            .collect())
    }
}
