//! [`HistoryStats`] for [`PostgresHistoryStore`]: the hourly counters (see
//! [`hourly`]) for the whole hours of an interval, the shared aggregate
//! queries of `sql::stats` (with `$N` placeholders) for the rest.

use alertkit_core::StoreError;
use alertkit_core::traits::{
    FlappingAlert, HistoryStats, HistoryStatsReport, StatsQuery, TopAlert,
};
use async_trait::async_trait;

use super::{PostgresHistoryStore, hourly};
use crate::sql::codec::db;
use crate::sql::stats::{self, Bounds, Tally};

/// The shared SQL with Postgres placeholders (`?N` → `$N`).
fn pg(sql: &str) -> String {
    sql.replace('?', "$")
}

impl PostgresHistoryStore {
    /// The counts of `[since, until)`, row by row: the three shared queries
    /// at once.
    async fn scan(&self, since: i64, until: i64) -> Result<Tally, StoreError> {
        let alerts =
            sqlx::query_as::<_, stats::AlertCounts>(sqlx::AssertSqlSafe(pg(stats::ALERT_COUNTS)))
                .bind(since)
                .bind(until)
                .fetch_one(&self.pool);
        let namespaces =
            sqlx::query_as::<_, stats::NamespaceRow>(sqlx::AssertSqlSafe(pg(stats::NAMESPACES)))
                .bind(since)
                .bind(until)
                .fetch_all(&self.pool);
        let events =
            sqlx::query_as::<_, stats::EventCounts>(sqlx::AssertSqlSafe(pg(stats::EVENT_COUNTS)))
                .bind(since)
                .bind(until)
                .fetch_one(&self.pool);
        let (alerts, namespaces, events) =
            tokio::try_join!(alerts, namespaces, events).map_err(db)?;
        Ok(Tally::from_rows(alerts, namespaces, events))
    }

    /// The counts of `[since, until)` if it is one, else none.
    async fn scan_if(&self, range: Option<(i64, i64)>) -> Result<Tally, StoreError> {
        match range {
            Some((since, until)) => self.scan(since, until).await,
            None => Ok(Tally::default()),
        }
    }

    /// The hourly counters of hours `[first, end)`, if any.
    async fn hours(&self, hours: Option<(i64, i64)>) -> Result<Tally, StoreError> {
        let Some((first, end)) = hours else {
            return Ok(Tally::default());
        };
        let rows = sqlx::query_as::<_, hourly::ReadRow>(hourly::READ)
            .bind(first)
            .bind(end)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(hourly::tally(rows))
    }
}

#[async_trait]
impl HistoryStats for PostgresHistoryStore {
    /// Whole hours from the hourly counters, the partial hours at the ends
    /// row by row, all at once.
    async fn stats(&self, query: &StatsQuery) -> Result<HistoryStatsReport, StoreError> {
        let b = Bounds::new(query)?;
        let split = hourly::split(b.since, b.until);
        let (mut tally, head, tail) = tokio::try_join!(
            self.hours(split.hours),
            self.scan_if(split.scans[0]),
            self.scan_if(split.scans[1]),
        )?;
        tally.add(head);
        tally.add(tail);
        Ok(tally.report(b.rows))
    }

    async fn top_firing(&self, query: &StatsQuery) -> Result<Vec<TopAlert>, StoreError> {
        let b = Bounds::new(query)?;
        let rows = sqlx::query_as::<_, stats::TopRow>(sqlx::AssertSqlSafe(pg(stats::TOP_FIRING)))
            .bind(b.since)
            .bind(b.until)
            .bind(b.limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        stats::top(rows)
    }

    async fn flapping(
        &self,
        query: &StatsQuery,
        min_transitions_per_hour: f64,
    ) -> Result<Vec<FlappingAlert>, StoreError> {
        let b = Bounds::new(query)?;
        let min = stats::min_transitions(query, min_transitions_per_hour)?;
        let rows =
            sqlx::query_as::<_, stats::FlappingRow>(sqlx::AssertSqlSafe(pg(stats::FLAPPING)))
                .bind(b.since)
                .bind(b.until)
                .bind(b.limit)
                .bind(min)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        stats::flapping(rows, query)
    }
}
