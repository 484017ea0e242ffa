//! The [`HistoryStats`] trait: aggregate questions about stored history.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::{Fingerprint, Severity, Status, StoreError};

/// Default number of rows in top lists ([`StatsQuery::limit`] of 0).
pub const DEFAULT_STATS_LIMIT: usize = 10;

/// Largest number of rows a top list returns.
pub const MAX_STATS_LIMIT: usize = 1000;

/// The interval (and list size) of a statistics question.
///
/// The interval is half-open, `[since, until)`, on the application clock
/// (the `received_at` of receipts), like [`HistoryQuery`](crate::HistoryQuery)'s.
///
/// ```
/// use alertkit_core::traits::StatsQuery;
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::now_utc();
/// let query = StatsQuery::new(now - Duration::hours(24), now).with_limit(5);
/// assert_eq!(query.hours(), 24.0);
/// assert_eq!(query.min_transitions(2.0), 48);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsQuery {
    /// Start of the interval (inclusive).
    pub since: OffsetDateTime,
    /// End of the interval (exclusive).
    pub until: OffsetDateTime,
    /// Rows in top lists (namespaces, top firing, flapping); 0 means
    /// [`DEFAULT_STATS_LIMIT`], larger than [`MAX_STATS_LIMIT`] is capped.
    pub limit: usize,
}

impl StatsQuery {
    /// The interval `[since, until)`, default limit.
    pub fn new(since: OffsetDateTime, until: OffsetDateTime) -> Self {
        Self {
            since,
            until,
            limit: 0,
        }
    }

    /// With `limit` rows in top lists.
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The effective list size: the default for 0, capped at [`MAX_STATS_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_STATS_LIMIT,
            n => n.min(MAX_STATS_LIMIT),
        }
    }

    /// Rejects an empty or inverted interval.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.until <= self.since {
            return Err(StoreError::InvalidQuery(format!(
                "until: {} is not after since ({})",
                self.until, self.since
            )));
        }
        Ok(())
    }

    /// Length of the interval in hours.
    pub fn hours(&self) -> f64 {
        (self.until - self.since).as_seconds_f64() / 3600.0
    }

    /// The fewest transitions inside the interval that reach
    /// `per_hour` transitions per hour: what [`HistoryStats::flapping`]
    /// requires, the same for every store.
    pub fn min_transitions(&self, per_hour: f64) -> u64 {
        let needed = (per_hour * self.hours()).max(0.0);
        // Tolerate float noise (2.0 * 24h must be 48, not 49).
        let rounded = needed.round();
        let n = if (needed - rounded).abs() < 1e-9 {
            rounded
        } else {
            needed.ceil()
        };
        // A saturating float-to-int conversion; at least one transition.
        (n as u64).max(1)
    }
}

/// Checks a flapping threshold.
pub fn validate_per_hour(per_hour: f64) -> Result<(), StoreError> {
    if per_hour.is_finite() && per_hour >= 0.0 {
        Ok(())
    } else {
        Err(StoreError::InvalidQuery(format!(
            "min_transitions_per_hour: {per_hour} is not a finite, non-negative number"
        )))
    }
}

/// Aggregates over one interval (see [`HistoryStats::stats`]).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct HistoryStatsReport {
    /// Distinct alerts (fingerprints) changed in the interval: the alerts
    /// [`HistoryStore::list`](crate::HistoryStore::list) returns for the
    /// same `since`/`until`. `by_status` and `by_severity` sum to it.
    pub unique_fingerprints: u64,
    /// Those alerts by current status, every status listed (firing, resolved).
    pub by_status: Vec<(Status, u64)>,
    /// Those alerts by severity ([`AlertRecord::severity`](crate::AlertRecord::severity):
    /// the classification's, else the `severity` label's), every severity
    /// listed in [`Severity::ALL`] order.
    pub by_severity: Vec<(Severity, u64)>,
    /// Those alerts by `namespace` label (`""` for none): the
    /// [`StatsQuery::limit`] largest, by count then name.
    pub by_namespace: Vec<(String, u64)>,
    /// Distinct namespaces among those alerts (including `""`).
    pub namespaces: u64,
    /// Instances that started firing in the interval (`Firing` and
    /// `Refired` events).
    pub firings: u64,
    /// Resolutions in the interval (`Resolved` events).
    pub resolved_count: u64,
    /// Mean of `endsAt - startsAt` over those resolutions (negative spans
    /// count as zero); `None` without resolutions.
    pub mean_time_to_resolve: Option<Duration>,
}

impl HistoryStatsReport {
    /// The count for `status`.
    pub fn status(&self, status: Status) -> u64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// The count for `severity`.
    pub fn severity(&self, severity: Severity) -> u64 {
        self.by_severity
            .iter()
            .find(|(s, _)| *s == severity)
            .map_or(0, |(_, n)| *n)
    }
}

/// One of the alerts that fired most often in an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopAlert {
    /// The alert.
    pub fingerprint: Fingerprint,
    /// Its `alertname` label (`""` if none, or if the alert is no longer stored).
    pub alertname: String,
    /// Its `namespace` label (`""` if none, or if the alert is no longer stored).
    pub namespace: String,
    /// `Firing` and `Refired` events in the interval.
    pub fire_count: u64,
    /// The latest of those events.
    pub last_fired: OffsetDateTime,
}

impl TopAlert {
    /// A row (stores fill them from their aggregates).
    pub fn new(
        fingerprint: Fingerprint,
        alertname: String,
        namespace: String,
        fire_count: u64,
        last_fired: OffsetDateTime,
    ) -> Self {
        Self {
            fingerprint,
            alertname,
            namespace,
            fire_count,
            last_fired,
        }
    }
}

/// An alert changing state often in an interval.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FlappingAlert {
    /// The alert.
    pub fingerprint: Fingerprint,
    /// Its `alertname` label (`""` if none, or if the alert is no longer stored).
    pub alertname: String,
    /// Its `namespace` label (`""` if none, or if the alert is no longer stored).
    pub namespace: String,
    /// State changes in the interval: `Firing`, `Resolved` and `Refired` events.
    pub transitions: u64,
    /// `transitions` divided by the interval's length in hours.
    pub per_hour: f64,
}

impl FlappingAlert {
    /// A row (stores fill them from their aggregates); `per_hour` is
    /// computed from `query`.
    pub fn new(
        fingerprint: Fingerprint,
        alertname: String,
        namespace: String,
        transitions: u64,
        query: &StatsQuery,
    ) -> Self {
        Self {
            fingerprint,
            alertname,
            namespace,
            transitions,
            per_hour: transitions as f64 / query.hours(),
        }
    }
}

/// Statistics over stored history, computed by the store (SQL stores
/// aggregate in the database).
///
/// Semantics, checked by the conformance suite
/// (`alertkit_core::testing::conformance::history_stats`):
///
/// - alert counts (`unique_fingerprints`, `by_status`, `by_severity`, `by_namespace`)
///   cover the alerts whose `last_changed` is in `[since, until)`, in their
///   current state: the set `list` returns for the same bounds;
/// - event counts (`firings`, `resolved_count`, MTTR, top firing,
///   flapping) cover the timeline events recorded in
///   `[since, until)`;
/// - top lists are ordered by count (descending), then fingerprint, and
///   hold at most [`StatsQuery::effective_limit`] rows;
/// - an empty or inverted interval is [`StoreError::InvalidQuery`].
#[async_trait]
pub trait HistoryStats: Send + Sync + 'static {
    /// Counts over `query`'s interval.
    async fn stats(&self, query: &StatsQuery) -> Result<HistoryStatsReport, StoreError>;

    /// The alerts with the most `Firing`/`Refired` events in the interval.
    async fn top_firing(&self, query: &StatsQuery) -> Result<Vec<TopAlert>, StoreError>;

    /// The alerts with at least `min_transitions_per_hour` state changes per
    /// hour of the interval ([`StatsQuery::min_transitions`] in total), most first.
    async fn flapping(
        &self,
        query: &StatsQuery,
        min_transitions_per_hour: f64,
    ) -> Result<Vec<FlappingAlert>, StoreError>;
}

#[async_trait]
impl<T: HistoryStats + ?Sized> HistoryStats for Arc<T> {
    async fn stats(&self, query: &StatsQuery) -> Result<HistoryStatsReport, StoreError> {
        (**self).stats(query).await
    }

    async fn top_firing(&self, query: &StatsQuery) -> Result<Vec<TopAlert>, StoreError> {
        (**self).top_firing(query).await
    }

    async fn flapping(
        &self,
        query: &StatsQuery,
        min_transitions_per_hour: f64,
    ) -> Result<Vec<FlappingAlert>, StoreError> {
        (**self).flapping(query, min_transitions_per_hour).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(hours: i64) -> StatsQuery {
        let t = OffsetDateTime::UNIX_EPOCH;
        StatsQuery::new(t, t + time::Duration::hours(hours))
    }

    #[test]
    fn min_transitions_rounds_up_but_tolerates_float_noise() {
        assert_eq!(query(24).min_transitions(2.0), 48);
        assert_eq!(query(24).min_transitions(0.1), 3); // 2.4 → 3
        assert_eq!(query(3).min_transitions(1.0 / 3.0), 1);
        assert_eq!(query(1).min_transitions(0.0), 1);
        assert_eq!(query(1).min_transitions(1e300), u64::MAX);
    }

    #[test]
    fn invalid_intervals_and_thresholds_are_rejected() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(StatsQuery::new(t, t).validate().is_err());
        assert!(query(1).validate().is_ok());
        assert!(validate_per_hour(f64::NAN).is_err());
        assert!(validate_per_hour(-1.0).is_err());
        assert!(validate_per_hour(0.5).is_ok());
    }

    #[test]
    fn limits_default_and_cap() {
        assert_eq!(query(1).effective_limit(), DEFAULT_STATS_LIMIT);
        assert_eq!(
            query(1).with_limit(5_000).effective_limit(),
            MAX_STATS_LIMIT
        );
        assert_eq!(query(1).with_limit(3).effective_limit(), 3);
    }
}
