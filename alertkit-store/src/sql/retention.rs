//! Retention for the SQL stores: prune by age in bounded batches, each its
//! own short transaction, so ingest never waits behind a long delete.

use std::future::Future;
use std::time::Duration;

use alertkit_core::StoreError;
use time::OffsetDateTime;

use super::codec::nanos;

/// How long each kind of data is kept; `None` keeps it forever.
///
/// ```
/// use std::time::Duration;
/// use alertkit_store::RetentionPolicy;
///
/// let day = Duration::from_secs(86_400);
/// let policy = RetentionPolicy::keep_days(30).with_dead_letters(Some(90 * day));
/// assert_eq!(policy.history, Some(30 * day));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Timeline events, and resolved alerts unchanged for this long (a
    /// pruned alert's timeline goes with it, even its recent events).
    pub history: Option<Duration>,
    /// Finished outbox rows and the delivery log.
    pub deliveries: Option<Duration>,
    /// Dead letters (by when they died).
    pub dead_letters: Option<Duration>,
    /// Rows deleted per transaction (default 5000).
    pub batch: usize,
}

impl RetentionPolicy {
    /// Keeps everything for `days` days.
    pub fn keep_days(days: u64) -> Self {
        let d = Some(Duration::from_secs(days.saturating_mul(86_400)));
        Self {
            history: d,
            deliveries: d,
            dead_letters: d,
            batch: 5000,
        }
    }

    /// With `keep` as the dead-letter retention.
    #[must_use]
    pub fn with_dead_letters(mut self, keep: Option<Duration>) -> Self {
        self.dead_letters = keep;
        self
    }

    /// With `keep` as the delivery retention (finished rows and the log).
    #[must_use]
    pub fn with_deliveries(mut self, keep: Option<Duration>) -> Self {
        self.deliveries = keep;
        self
    }
}

/// What one [`prune`](crate::SqliteHistoryStore::prune) deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Timeline rows deleted by age (a change recorded with its verdict is
    /// one row; the timelines of pruned alerts go with them, uncounted).
    pub events: u64,
    /// Resolved alerts (current-state rows).
    pub alerts: u64,
    /// Finished outbox rows.
    pub outbox: u64,
    /// Delivery log entries.
    pub delivery_log: u64,
    /// Dead letters.
    pub dead_letters: u64,
}

/// One table's prune: a statement deleting up to `?2` rows older than `?1`.
pub(crate) struct Prune {
    pub(crate) sql: &'static str,
    which: fn(&mut PruneReport) -> &mut u64,
    keep: fn(&RetentionPolicy) -> Option<Duration>,
    /// Deletes alert rows (and, by trigger, their timelines): it must not
    /// land between a writer's read of an alert and its write (Postgres
    /// takes every writer lock for it; SQLite has a single writer).
    #[cfg(feature = "postgres")]
    pub(crate) deletes_alerts: bool,
}

/// The statements, in `?N` placeholder form (Postgres swaps `?` for `$`).
pub(crate) const PRUNES: [Prune; 5] = [
    Prune {
        // Every kind, so the `(kind, at, …)` stats index serves the scan
        // (one range per kind; there is no index on `at` alone).
        sql: "DELETE FROM alertkit_events WHERE id IN \
              (SELECT id FROM alertkit_events WHERE kind IN \
                 ('firing', 'resolved', 'refired', 'annotations_changed', 'classified') \
               AND at < ?1 LIMIT ?2)",
        which: |r| &mut r.events,
        keep: |p| p.history,
        #[cfg(feature = "postgres")]
        deletes_alerts: false,
    },
    Prune {
        // The outer condition again: a row a writer re-fired after the
        // subquery picked it is kept (Postgres re-checks only the outer
        // `WHERE` of a row it waited for).
        sql: "DELETE FROM alertkit_alerts WHERE id IN (SELECT id FROM alertkit_alerts \
              WHERE status = 1 AND last_changed < ?1 LIMIT ?2) \
              AND status = 1 AND last_changed < ?1",
        which: |r| &mut r.alerts,
        keep: |p| p.history,
        #[cfg(feature = "postgres")]
        deletes_alerts: true,
    },
    Prune {
        sql: "DELETE FROM alertkit_outbox WHERE id IN (SELECT id FROM alertkit_outbox \
              WHERE state = 2 AND done_at < ?1 LIMIT ?2)",
        which: |r| &mut r.outbox,
        keep: |p| p.deliveries,
        #[cfg(feature = "postgres")]
        deletes_alerts: false,
    },
    Prune {
        sql: "DELETE FROM alertkit_delivery_log WHERE id IN \
              (SELECT id FROM alertkit_delivery_log WHERE at < ?1 LIMIT ?2)",
        which: |r| &mut r.delivery_log,
        keep: |p| p.deliveries,
        #[cfg(feature = "postgres")]
        deletes_alerts: false,
    },
    Prune {
        sql: "DELETE FROM alertkit_dead_letters WHERE id IN \
              (SELECT id FROM alertkit_dead_letters WHERE died_at < ?1 LIMIT ?2)",
        which: |r| &mut r.dead_letters,
        keep: |p| p.dead_letters,
        #[cfg(feature = "postgres")]
        deletes_alerts: false,
    },
];

/// The cutoff of keeping `keep` at `now`, in stored nanoseconds; `None`
/// when it falls before any storable time (nothing is that old).
pub(crate) fn cutoff(now: OffsetDateTime, keep: Duration) -> Option<i64> {
    let keep = time::Duration::try_from(keep).ok()?;
    nanos("cutoff", now.checked_sub(keep)?).ok()
}

/// Runs every prune the policy asks for: `delete(index, cutoff, limit)`
/// runs `PRUNES[index]` once and returns the rows it deleted.
pub(crate) async fn run<F, Fut>(
    policy: &RetentionPolicy,
    now: OffsetDateTime,
    mut delete: F,
) -> Result<PruneReport, StoreError>
where
    F: FnMut(usize, i64, i64) -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let batch = policy.batch.clamp(1, 100_000);
    let limit = i64::try_from(batch).unwrap_or(5000);
    let mut report = PruneReport::default();
    for (i, p) in PRUNES.iter().enumerate() {
        let Some(keep) = (p.keep)(policy) else {
            continue;
        };
        let Some(cutoff) = cutoff(now, keep) else {
            continue;
        };
        loop {
            let n = delete(i, cutoff, limit).await?;
            *(p.which)(&mut report) += n;
            if n < batch as u64 {
                break;
            }
            // Let writers in between batches.
            tokio::task::yield_now().await;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cutoffs_beyond_the_storable_range_keep_everything() {
        use std::time::Duration;

        let now = time::OffsetDateTime::now_utc();
        let day = Duration::from_secs(86_400);
        assert!(super::cutoff(now, 30 * day).is_some());
        // Before 1677, the first storable time; and beyond any date.
        assert_eq!(super::cutoff(now, 400 * 366 * day), None);
        assert_eq!(super::cutoff(now, Duration::MAX), None);
        let policy = super::RetentionPolicy::keep_days(u64::MAX);
        assert_eq!(
            policy.history.and_then(|keep| super::cutoff(now, keep)),
            None
        );
    }

    #[test]
    fn the_event_prune_names_every_kind() {
        for kind in alertkit_core::EventKind::ALL {
            let quoted = format!("'{}'", kind.as_str());
            assert!(super::PRUNES[0].sql.contains(&quoted), "{quoted} missing");
        }
    }
}
