//! History statistics for the SQL stores: the queries (aggregated in the
//! database, over covering indexes: see migrations `…04_stats.sql` and
//! `…05_ingest.sql`) and the assembly of their rows. SQLite and Postgres run
//! the same text (`?N` placeholders become `$N` for Postgres).
//!
//! The alert counts read `alertkit_alerts_last_changed` (`last_changed,
//! fingerprint` covering `status, severity`) and `alertkit_alerts_namespace`
//! (`namespace, last_changed`);
//! the event queries read `alertkit_events_stats`
//! (`kind, at, fingerprint, starts_at, ends_at`). Only the rows of top lists
//! touch the wide tables, to name their alerts.
//!
//! Postgres runs these for the partial hours at an interval's ends only and
//! reads the whole hours from its hourly counters (`postgres::hourly`); both
//! add up in a [`Tally`].

use std::collections::HashMap;
use std::time::Duration;

use alertkit_core::traits::{FlappingAlert, HistoryStatsReport, StatsQuery, TopAlert};
use alertkit_core::{LabelSet, Severity, Status, StoreError};

use super::codec::{fp_from_key, parse, time};

/// Alert counts by status and severity in one pass of the covering index
/// (no sort): `alerts, firing, critical, warning, info, noise` (the rest is
/// `unknown`).
pub(crate) const ALERT_COUNTS: &str = "SELECT count(*), \
       count(*) FILTER (WHERE status = 0), \
       count(*) FILTER (WHERE severity = 'critical'), \
       count(*) FILTER (WHERE severity = 'warning'), \
       count(*) FILTER (WHERE severity = 'info'), \
       count(*) FILTER (WHERE severity = 'noise') \
     FROM alertkit_alerts WHERE last_changed >= ?1 AND last_changed < ?2";

/// Alerts per namespace, without sorting the interval's rows (SQLite has no
/// hash aggregation): the distinct namespaces are walked by index seeks (a
/// recursive "loose index scan"), then each one's alerts in the interval
/// are counted over its index range. One row per namespace stored; those
/// without alerts in the interval (count 0) are dropped and the rest ranked
/// in Rust. (Filtering `n > 0` in SQL made Postgres count every namespace
/// twice, once for the filter and once for the output: 345 → 265 ms over
/// 1M alerts.)
pub(crate) const NAMESPACES: &str = "WITH RECURSIVE ns(name) AS ( \
       SELECT min(namespace) FROM alertkit_alerts \
       UNION ALL \
       SELECT (SELECT min(namespace) FROM alertkit_alerts WHERE namespace > ns.name) \
       FROM ns WHERE ns.name IS NOT NULL) \
     SELECT name, (SELECT count(*) FROM alertkit_alerts WHERE namespace = ns.name \
                   AND last_changed >= ?1 AND last_changed < ?2) AS n \
     FROM ns WHERE name IS NOT NULL";

/// Event counts: `firings, resolutions, resolutions with an end time, their
/// mean time to resolve (nanoseconds)`.
pub(crate) const EVENT_COUNTS: &str = "SELECT \
       count(*) FILTER (WHERE kind <> 'resolved'), \
       count(*) FILTER (WHERE kind = 'resolved'), \
       count(*) FILTER (WHERE kind = 'resolved' AND ends_at IS NOT NULL), \
       CAST(avg(CASE WHEN kind = 'resolved' AND ends_at IS NOT NULL THEN \
         CASE WHEN ends_at > starts_at THEN ends_at - starts_at ELSE 0 END END) \
         AS DOUBLE PRECISION) \
     FROM alertkit_events \
     WHERE kind IN ('firing', 'refired', 'resolved') AND at >= ?1 AND at < ?2";

/// `TOP_FIRING` with `$alert`, the join that names each `t.fingerprint`'s alert `a`.
macro_rules! top_firing {
    ($alert:expr) => {
        concat!(
            "SELECT t.fingerprint, t.n, t.last_at, a.labels, a.namespace \
             FROM (SELECT fingerprint, count(*) AS n, max(at) AS last_at FROM alertkit_events \
                   WHERE kind IN ('firing', 'refired') AND at >= ?1 AND at < ?2 \
                   GROUP BY fingerprint ORDER BY n DESC, fingerprint LIMIT ?3) t ",
            $alert,
            " ORDER BY t.n DESC, t.fingerprint"
        )
    };
}

/// `FLAPPING` with `$alert`, as for [`top_firing`].
macro_rules! flapping {
    ($alert:expr) => {
        concat!(
            "SELECT t.fingerprint, t.n, a.labels, a.namespace \
             FROM (SELECT fingerprint, count(*) AS n FROM alertkit_events \
                   WHERE kind IN ('firing', 'resolved', 'refired') AND at >= ?1 AND at < ?2 \
                   GROUP BY fingerprint HAVING count(*) >= ?4 \
                   ORDER BY n DESC, fingerprint LIMIT ?3) t ",
            $alert,
            " ORDER BY t.n DESC, t.fingerprint"
        )
    };
}

/// The alert of `t.fingerprint` by the unique fingerprint index (Postgres).
#[cfg(feature = "postgres")]
macro_rules! alert_by_index {
    () => {
        "LEFT JOIN alertkit_alerts a ON a.fingerprint = t.fingerprint"
    };
}

/// The alert of `t.fingerprint` through SQLite's two lookup tables.
#[cfg(feature = "sqlite")]
macro_rules! alert_by_lookup {
    () => {
        "LEFT JOIN alertkit_alerts a ON a.id = \
         (SELECT alert_id FROM alertkit_fingerprints WHERE fingerprint = t.fingerprint)"
    };
}

/// Most `firing`/`refired` events per alert, named from the alerts table.
#[cfg(feature = "postgres")]
pub(crate) const TOP_FIRING: &str = top_firing!(alert_by_index!());
/// [`TOP_FIRING`] for SQLite.
#[cfg(feature = "sqlite")]
pub(crate) const TOP_FIRING_SQLITE: &str = top_firing!(alert_by_lookup!());

/// Alerts with at least `?4` state changes, named from the alerts table.
#[cfg(feature = "postgres")]
pub(crate) const FLAPPING: &str = flapping!(alert_by_index!());
/// [`FLAPPING`] for SQLite.
#[cfg(feature = "sqlite")]
pub(crate) const FLAPPING_SQLITE: &str = flapping!(alert_by_lookup!());

/// `ALERT_COUNTS` row.
pub(crate) type AlertCounts = (i64, i64, i64, i64, i64, i64);
/// `NAMESPACES` row.
pub(crate) type NamespaceRow = (String, i64);
/// `EVENT_COUNTS` row.
pub(crate) type EventCounts = (i64, i64, i64, Option<f64>);
/// `TOP_FIRING` row.
pub(crate) type TopRow = (i64, i64, i64, Option<String>, Option<String>);
/// `FLAPPING` row.
pub(crate) type FlappingRow = (i64, i64, Option<String>, Option<String>);

/// A validated query's bind values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) since: i64,
    pub(crate) until: i64,
    pub(crate) limit: i64,
    /// `limit` as a list size.
    pub(crate) rows: usize,
}

impl Bounds {
    pub(crate) fn new(query: &StatsQuery) -> Result<Self, StoreError> {
        query.validate()?;
        // Times beyond the storable range (1677-2262) bound nothing: clamp them.
        let clamp = |t: time::OffsetDateTime| {
            let n = t.unix_timestamp_nanos();
            i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX })
        };
        Ok(Self {
            since: clamp(query.since),
            until: clamp(query.until),
            limit: i64::try_from(query.effective_limit()).unwrap_or(i64::MAX),
            rows: query.effective_limit(),
        })
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Statistics counts being summed: from the aggregate queries over one
/// interval, and (Postgres) from hourly counters over others.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// `ALERT_COUNTS`' columns.
    alerts: [i64; 6],
    namespaces: HashMap<String, i64>,
    firings: i64,
    resolutions: i64,
    ttr_count: i64,
    /// Total time to resolve, nanoseconds.
    ttr_sum: f64,
}

impl Tally {
    /// The counts of the three `stats` queries' rows over one interval.
    pub(crate) fn from_rows(
        alerts: AlertCounts,
        namespaces: Vec<NamespaceRow>,
        events: EventCounts,
    ) -> Self {
        let mut t = Self::default();
        t.add_alerts(alerts);
        for (name, n) in namespaces {
            t.add_namespace(name, n);
        }
        let (firings, resolutions, ttr_count, mean) = events;
        // The mean of none is NULL: it adds nothing.
        let ttr_sum = mean.map_or(0.0, |m| m * ttr_count as f64);
        t.add_events(firings, resolutions, ttr_count, ttr_sum);
        t
    }

    /// Adds alert counts (`ALERT_COUNTS`' columns).
    pub(crate) fn add_alerts(&mut self, alerts: AlertCounts) {
        let (total, firing, critical, warning, info, noise) = alerts;
        for (sum, n) in self
            .alerts
            .iter_mut()
            .zip([total, firing, critical, warning, info, noise])
        {
            *sum += n;
        }
    }

    /// Adds `n` alerts of namespace `name`.
    pub(crate) fn add_namespace(&mut self, name: String, n: i64) {
        *self.namespaces.entry(name).or_default() += n;
    }

    /// Adds event counts; `ttr_sum` is the total time to resolve of the
    /// `ttr_count` resolutions with an end time.
    pub(crate) fn add_events(
        &mut self,
        firings: i64,
        resolutions: i64,
        ttr_count: i64,
        ttr_sum: f64,
    ) {
        self.firings += firings;
        self.resolutions += resolutions;
        self.ttr_count += ttr_count;
        self.ttr_sum += ttr_sum;
    }

    /// Adds another interval's counts.
    #[cfg(feature = "postgres")]
    pub(crate) fn add(&mut self, other: Tally) {
        let [total, firing, critical, warning, info, noise] = other.alerts;
        self.add_alerts((total, firing, critical, warning, info, noise));
        for (name, n) in other.namespaces {
            self.add_namespace(name, n);
        }
        self.add_events(
            other.firings,
            other.resolutions,
            other.ttr_count,
            other.ttr_sum,
        );
    }

    /// The report; `limit` namespaces are kept.
    pub(crate) fn report(self, limit: usize) -> HistoryStatsReport {
        let [total, firing, critical, warning, info, noise] = self.alerts;
        let known = critical + warning + info + noise;
        let mut r = HistoryStatsReport::default();
        r.unique_fingerprints = count(total);
        r.by_status = vec![
            (Status::Firing, count(firing)),
            (Status::Resolved, count(total - firing)),
        ];
        r.by_severity = vec![
            (Severity::Critical, count(critical)),
            (Severity::Warning, count(warning)),
            (Severity::Info, count(info)),
            (Severity::Noise, count(noise)),
            (Severity::Unknown, count(total - known)),
        ];
        let mut by_namespace: Vec<(String, u64)> = self
            .namespaces
            .into_iter()
            .filter(|row| row.1 > 0)
            .map(|row| (row.0, count(row.1)))
            .collect();
        r.namespaces = by_namespace.len() as u64;
        by_namespace.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_namespace.truncate(limit);
        r.by_namespace = by_namespace;
        r.firings = count(self.firings);
        r.resolved_count = count(self.resolutions);
        r.mean_time_to_resolve = (self.ttr_count > 0)
            .then(|| self.ttr_sum / self.ttr_count as f64)
            .filter(|m| m.is_finite())
            // A saturating conversion of a non-negative mean.
            .map(|m| Duration::from_nanos(m.max(0.0).round() as u64));
        r
    }
}

/// The `namespace` column of an alert: its `namespace` label, `""` when
/// absent; a NUL (unstorable in Postgres text) becomes U+FFFD.
pub(crate) fn namespace(labels: &LabelSet) -> String {
    labels
        .get("namespace")
        .unwrap_or_default()
        .replace('\0', "\u{FFFD}")
}

/// `alertname` from stored labels (`""` when gone or absent).
fn alertname(labels: Option<String>) -> Result<String, StoreError> {
    Ok(labels
        .map(|l| parse::<LabelSet>("labels", &l))
        .transpose()?
        .and_then(|l| l.get("alertname").map(str::to_owned))
        .unwrap_or_default())
}

pub(crate) fn top(rows: Vec<TopRow>) -> Result<Vec<TopAlert>, StoreError> {
    rows.into_iter()
        .map(|(fp, n, last, labels, namespace)| {
            Ok(TopAlert::new(
                fp_from_key(fp),
                alertname(labels)?,
                namespace.unwrap_or_default(),
                count(n),
                time(last)?,
            ))
        })
        .collect()
}

pub(crate) fn flapping(
    rows: Vec<FlappingRow>,
    query: &StatsQuery,
) -> Result<Vec<FlappingAlert>, StoreError> {
    rows.into_iter()
        .map(|(fp, n, labels, namespace)| {
            Ok(FlappingAlert::new(
                fp_from_key(fp),
                alertname(labels)?,
                namespace.unwrap_or_default(),
                count(n),
                query,
            ))
        })
        .collect()
}

/// The transitions `flapping` requires, as a bind value.
pub(crate) fn min_transitions(query: &StatsQuery, per_hour: f64) -> Result<i64, StoreError> {
    alertkit_core::traits::validate_per_hour(per_hour)?;
    Ok(i64::try_from(query.min_transitions(per_hour)).unwrap_or(i64::MAX))
}
