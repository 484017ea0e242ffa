//! [`HistoryStats`] for [`SqliteHistoryStore`]: the shared aggregate queries
//! of `sql::stats`, run on the read pool (the three `stats` queries at once).

use alertkit_core::StoreError;
use alertkit_core::traits::{
    FlappingAlert, HistoryStats, HistoryStatsReport, StatsQuery, TopAlert,
};
use async_trait::async_trait;

use super::SqliteHistoryStore;
use crate::sql::codec::db;
use crate::sql::stats::{self, Bounds};

#[async_trait]
impl HistoryStats for SqliteHistoryStore {
    async fn stats(&self, query: &StatsQuery) -> Result<HistoryStatsReport, StoreError> {
        let b = Bounds::new(query)?;
        let alerts = sqlx::query_as::<_, stats::AlertCounts>(stats::ALERT_COUNTS)
            .bind(b.since)
            .bind(b.until)
            .fetch_one(&self.read);
        let namespaces = sqlx::query_as::<_, stats::NamespaceRow>(stats::NAMESPACES)
            .bind(b.since)
            .bind(b.until)
            .fetch_all(&self.read);
        let events = sqlx::query_as::<_, stats::EventCounts>(stats::EVENT_COUNTS)
            .bind(b.since)
            .bind(b.until)
            .fetch_one(&self.read);
        let (alerts, namespaces, events) =
            tokio::try_join!(alerts, namespaces, events).map_err(db)?;
        Ok(stats::Tally::from_rows(alerts, namespaces, events).report(b.rows))
    }

    async fn top_firing(&self, query: &StatsQuery) -> Result<Vec<TopAlert>, StoreError> {
        let b = Bounds::new(query)?;
        let rows = sqlx::query_as::<_, stats::TopRow>(stats::TOP_FIRING_SQLITE)
            .bind(b.since)
            .bind(b.until)
            .bind(b.limit)
            .fetch_all(&self.read)
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
        let rows = sqlx::query_as::<_, stats::FlappingRow>(stats::FLAPPING_SQLITE)
            .bind(b.since)
            .bind(b.until)
            .bind(b.limit)
            .bind(min)
            .fetch_all(&self.read)
            .await
            .map_err(db)?;
        stats::flapping(rows, query)
    }
}
