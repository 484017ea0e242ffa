//! Hourly counters behind the Postgres statistics (`alertkit_stats_hourly`,
//! migration `…07_stats_hourly.sql`).
//!
//! Each row counts, for one hour: the alerts of one namespace whose last
//! change falls in it, by status and severity (`dim` 0); or the hour's
//! firing, re-firing and resolving events, with the resolutions' total time
//! to resolve (`dim` 1, namespace `''`). `record` and
//! `attach_classifications` add their deltas in the statement that writes
//! the rows; deletes (retention) take theirs out by trigger. Every writer
//! adds deltas in one statement, sorted by the primary key, so writers lock
//! counter rows in one order and never deadlock.
//!
//! [`split`] cuts a statistics interval into the whole hours the counters
//! answer and at most two partial hours at its ends, which the shared
//! row-by-row queries of `sql::stats` count.

use std::collections::HashMap;

use alertkit_core::{AlertRecord, Severity, Status, StoreError};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::Query;

use crate::sql::codec::{db, nanos};
use crate::sql::stats::{Tally, namespace};

/// An hour in Unix nanoseconds.
const HOUR: i64 = 3_600_000_000_000;

/// The hour number (since the Unix epoch, rounded down) of time `t`: the
/// migration's `t / 3600000000000 - (t % 3600000000000 < 0)::int`.
fn hour(t: i64) -> i64 {
    t.div_euclid(HOUR)
}

/// Adds a statement's delta rows (`SELECT dim, hour, namespace, <the nine
/// counts>, ttr_sum`, in primary-key order) to the counters. Expands to a
/// string literal, for `concat!`.
macro_rules! add_to_counters {
    () => {
        "INSERT INTO alertkit_stats_hourly AS s (dim, hour, namespace, alerts, firing, \
           critical, warning, info, noise, firings, resolutions, ttr_count, ttr_sum) "
    };
}
pub(super) use add_to_counters;

/// The conflict clause of [`add_to_counters`]: the deltas add up.
macro_rules! counters_add_up {
    () => {
        " ON CONFLICT (dim, hour, namespace) DO UPDATE SET \
           alerts = s.alerts + excluded.alerts, firing = s.firing + excluded.firing, \
           critical = s.critical + excluded.critical, warning = s.warning + excluded.warning, \
           info = s.info + excluded.info, noise = s.noise + excluded.noise, \
           firings = s.firings + excluded.firings, \
           resolutions = s.resolutions + excluded.resolutions, \
           ttr_count = s.ttr_count + excluded.ttr_count, ttr_sum = s.ttr_sum + excluded.ttr_sum"
    };
}
pub(super) use counters_add_up;

/// One counter row's values (or deltas).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    alerts: i64,
    firing: i64,
    critical: i64,
    warning: i64,
    info: i64,
    noise: i64,
    firings: i64,
    resolutions: i64,
    ttr_count: i64,
    ttr_sum: i128,
}

/// The counter deltas of one `record`.
#[derive(Debug, Default)]
pub(super) struct Deltas(HashMap<(i16, i64, String), Counts>);

impl Deltas {
    /// Adds `sign` (1, or -1 for the row a write replaces) times the counts
    /// of alert row `r`.
    pub(super) fn alert(&mut self, r: &AlertRecord, sign: i64) -> Result<(), StoreError> {
        let t = nanos("last_changed", r.last_changed)?;
        let c = self
            .0
            .entry((0, hour(t), namespace(&r.labels)))
            .or_default();
        c.alerts += sign;
        if r.status == Status::Firing {
            c.firing += sign;
        }
        match r.severity() {
            Severity::Critical => c.critical += sign,
            Severity::Warning => c.warning += sign,
            Severity::Info => c.info += sign,
            Severity::Noise => c.noise += sign,
            Severity::Unknown => {}
        }
        Ok(())
    }

    /// Adds a timeline row of `kind` written `at` (nanoseconds) about an
    /// instance active from `starts_at` to `ends_at`.
    pub(super) fn event(&mut self, kind: &str, at: i64, starts_at: i64, ends_at: Option<i64>) {
        let counted = matches!(kind, "firing" | "refired" | "resolved");
        if !counted {
            return;
        }
        let c = self.0.entry((1, hour(at), String::new())).or_default();
        if kind != "resolved" {
            c.firings += 1;
            return;
        }
        c.resolutions += 1;
        if let Some(ends_at) = ends_at {
            c.ttr_count += 1;
            c.ttr_sum += (i128::from(ends_at) - i128::from(starts_at)).max(0);
        }
    }

    /// The non-zero deltas as `UNNEST` arrays.
    pub(super) fn rows(self) -> DeltaRows {
        let mut rows = DeltaRows::default();
        for ((dim, hour, namespace), c) in self.0 {
            if c == Counts::default() {
                continue;
            }
            rows.dim.push(dim);
            rows.hour.push(hour);
            rows.namespace.push(namespace);
            rows.counts[0].push(c.alerts);
            rows.counts[1].push(c.firing);
            rows.counts[2].push(c.critical);
            rows.counts[3].push(c.warning);
            rows.counts[4].push(c.info);
            rows.counts[5].push(c.noise);
            rows.counts[6].push(c.firings);
            rows.counts[7].push(c.resolutions);
            rows.counts[8].push(c.ttr_count);
            // NUMERIC travels as text (no decimal type is linked in).
            rows.ttr_sum.push(c.ttr_sum.to_string());
        }
        rows
    }
}

/// Delta rows as arrays, bound as 13 consecutive parameters: `dim`
/// (`smallint[]`), `hour` (`bigint[]`), `namespace` (`text[]`), the nine
/// counts (`bigint[]`), `ttr_sum` (`text[]`, cast to `numeric`). See
/// [`UNNEST_DELTAS`].
#[derive(Debug, Default)]
pub(super) struct DeltaRows {
    dim: Vec<i16>,
    hour: Vec<i64>,
    namespace: Vec<String>,
    counts: [Vec<i64>; 9],
    ttr_sum: Vec<String>,
}

impl DeltaRows {
    /// Binds the arrays, in [`UNNEST_DELTAS`] order.
    pub(super) fn bind(
        self,
        mut q: Query<'_, Postgres, PgArguments>,
    ) -> Query<'_, Postgres, PgArguments> {
        q = q.bind(self.dim).bind(self.hour).bind(self.namespace);
        for counts in self.counts {
            q = q.bind(counts);
        }
        q.bind(self.ttr_sum)
    }
}

/// `SELECT`s [`DeltaRows`] bound at `$46`…`$58`, in primary-key order (the
/// lock order), for [`add_to_counters`].
macro_rules! unnest_deltas {
    () => {
        "SELECT d, h, ns, a, f, c, w, i, n, fi, r, tc, ts::numeric \
         FROM UNNEST($46::smallint[], $47::bigint[], $48::text[], $49::bigint[], \
           $50::bigint[], $51::bigint[], $52::bigint[], $53::bigint[], $54::bigint[], \
           $55::bigint[], $56::bigint[], $57::bigint[], $58::text[]) \
           AS x(d, h, ns, a, f, c, w, i, n, fi, r, tc, ts) \
         ORDER BY d, h, ns"
    };
}
pub(super) use unnest_deltas;

/// The counters over whole hours `[first, end)` (hour numbers): one row
/// per `dim` and namespace.
pub(super) const READ: &str = "SELECT dim, namespace, \
       CAST(sum(alerts) AS BIGINT), CAST(sum(firing) AS BIGINT), \
       CAST(sum(critical) AS BIGINT), CAST(sum(warning) AS BIGINT), \
       CAST(sum(info) AS BIGINT), CAST(sum(noise) AS BIGINT), \
       CAST(sum(firings) AS BIGINT), CAST(sum(resolutions) AS BIGINT), \
       CAST(sum(ttr_count) AS BIGINT), CAST(sum(ttr_sum) AS DOUBLE PRECISION) \
     FROM alertkit_stats_hourly WHERE dim IN (0, 1) AND hour >= $1 AND hour < $2 \
     GROUP BY dim, namespace";

/// A [`READ`] row.
pub(super) type ReadRow = (
    i16,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    f64,
);

/// The counts of [`READ`]'s rows.
pub(super) fn tally(rows: Vec<ReadRow>) -> Tally {
    let mut t = Tally::default();
    for (dim, ns, alerts, firing, critical, warning, info, noise, firings, resolutions, tc, ts) in
        rows
    {
        if dim == 0 {
            t.add_alerts((alerts, firing, critical, warning, info, noise));
            t.add_namespace(ns, alerts);
        } else {
            t.add_events(firings, resolutions, tc, ts);
        }
    }
    t
}

/// A counter row that counts nothing.
macro_rules! counts_nothing {
    () => {
        "(alerts, firing, critical, warning, info, noise, firings, resolutions, ttr_count, \
          ttr_sum) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
    };
}

/// Deletes up to `$2` counter rows of hours before `$1` (an hour number)
/// that count nothing: what retention emptied.
///
/// The rows are locked first, in primary-key order (`ORDER BY … FOR
/// UPDATE`), the order every writer's upsert takes them in: a delete that
/// locked them in physical order deadlocked with a concurrent `record`
/// (Postgres 40P01, seen in `concurrent_writers_keep_the_hourly_counters_exact`).
/// The outer condition repeats the inner one: Postgres re-checks only the
/// outer `WHERE` of a row a concurrent writer changed meanwhile.
const DROP_EMPTY: &str = concat!(
    "WITH doomed AS (SELECT ctid FROM alertkit_stats_hourly \
       WHERE dim IN (0, 1) AND hour < $1 AND ",
    counts_nothing!(),
    " ORDER BY dim, hour, namespace LIMIT $2 FOR UPDATE) \
     DELETE FROM alertkit_stats_hourly WHERE ctid IN (SELECT ctid FROM doomed) AND ",
    counts_nothing!()
);

/// Deletes the counter rows that count nothing in the hours wholly before
/// `cutoff` (nanoseconds), in batches of `batch`, so pruned hours leave no
/// rows behind. A writer adding to such a row meanwhile is safe: the delete
/// re-checks a row it waited for, and an upsert after it inserts afresh.
pub(super) async fn drop_empty(
    pool: &PgPool,
    cutoff: i64,
    batch: usize,
) -> Result<u64, StoreError> {
    let limit = i64::try_from(batch.clamp(1, 100_000)).unwrap_or(5000);
    let mut dropped = 0;
    loop {
        let n = sqlx::query(DROP_EMPTY)
            .bind(hour(cutoff))
            .bind(limit)
            .execute(pool)
            .await
            .map_err(db)?
            .rows_affected();
        dropped += n;
        if n < limit as u64 {
            return Ok(dropped);
        }
    }
}

/// A statistics interval `[since, until)` (nanoseconds) cut into whole
/// hours and the partial hours at its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Split {
    /// Hour numbers `[first, end)` the counters answer.
    pub(super) hours: Option<(i64, i64)>,
    /// Nanosecond intervals to count row by row.
    pub(super) scans: [Option<(i64, i64)>; 2],
}

/// Cuts `[since, until)`; an interval holding no whole hour is one scan.
pub(super) fn split(since: i64, until: i64) -> Split {
    let first = since.div_euclid(HOUR) + i64::from(since.rem_euclid(HOUR) != 0);
    let end = hour(until);
    if first >= end {
        return Split {
            hours: None,
            scans: [Some((since, until)), None],
        };
    }
    // Both lie within [since, until], so they fit.
    let (a, b) = (first * HOUR, end * HOUR);
    Split {
        hours: Some((first, end)),
        scans: [
            (since < a).then_some((since, a)),
            (b < until).then_some((b, until)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_down_before_and_after_the_epoch() {
        assert_eq!(hour(0), 0);
        assert_eq!(hour(HOUR - 1), 0);
        assert_eq!(hour(-1), -1);
        assert_eq!(hour(-HOUR), -1);
        assert_eq!(hour(i64::MIN), -2_562_048);
    }

    #[test]
    fn intervals_split_into_whole_hours_and_their_ends() {
        let h = HOUR;
        assert_eq!(
            split(0, 3 * h),
            Split {
                hours: Some((0, 3)),
                scans: [None, None]
            }
        );
        assert_eq!(
            split(h / 2, 3 * h + 5),
            Split {
                hours: Some((1, 3)),
                scans: [Some((h / 2, h)), Some((3 * h, 3 * h + 5))]
            }
        );
        // No whole hour inside: one scan.
        assert_eq!(
            split(h / 2, h + h / 2),
            Split {
                hours: None,
                scans: [Some((h / 2, h + h / 2)), None]
            }
        );
        assert_eq!(
            split(-h - 1, -1),
            Split {
                hours: None,
                scans: [Some((-h - 1, -1)), None]
            }
        );
        // The widest interval the stores take: the ends fit.
        let s = split(i64::MIN, i64::MAX);
        let (first, end) = s.hours.unwrap_or_default();
        assert_eq!((first, end), (-2_562_047, 2_562_047));
        assert_eq!(s.scans[0], Some((i64::MIN, first * h)));
        assert_eq!(s.scans[1], Some((end * h, i64::MAX)));
    }
}
