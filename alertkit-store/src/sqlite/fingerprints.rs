//! Fingerprint lookups in two levels: a small table of recent fingerprints
//! and a large settled one (migration `…08_fingerprint_levels.sql`).
//!
//! A WAL commit writes every page it dirtied in full. Random fingerprints
//! in one large index dirty up to one page per new alert, so a batch of
//! 4,096 new alerts rewrote most of that index once the database held a
//! few hundred thousand alerts, and every new alert cost a whole page once
//! it held a few million. New alerts' fingerprints now go into the recent
//! table (the writer maps them with [`Levels::map`], in the batch's
//! transaction), whose few pages a batch rewrites anyway. When it holds enough, the writer moves it into
//! the settled table a sixteenth of the fingerprint range per batch: each
//! settled page is then rewritten once per merge, not once per batch.
//!
//! The merge threshold grows with the settled table, as √(2 · 4096 ·
//! settled), which balances the two costs per new alert: the recent pages
//! each batch rewrites (growing with the threshold) and the settled pages a
//! merge rewrites (shrinking with it).

use std::sync::Mutex;

use alertkit_core::{Fingerprint, StoreError};
use rusqlite::Connection;
use sqlx::SqlitePool;

use super::writer::sqlite;
use crate::sql::codec::{db, fp_key};

/// Fingerprint ranges a merge moves one at a time (one per batch).
const SLICES: u8 = 16;

/// The batch size the threshold is balanced for: the pipeline's default
/// `max_record_batch`, the size of batches under sustained load.
const BATCH_HINT: u64 = 4096;

/// Merge pacing. The counts steer when to merge, nothing else: they start
/// from the tables and follow the writes; alerts that retention deletes
/// are taken from the settled count (where old alerts are).
#[derive(Debug)]
pub(super) struct Levels {
    min_threshold: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    recent: u64,
    settled: u64,
    /// The next slice to move while a merge is under way.
    merging: Option<u8>,
}

/// One batch's share of the merge, planned before its transaction.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(super) struct Step {
    slice: Option<u8>,
    moved: u64,
}

impl Levels {
    /// Counts both tables of the database behind `pool`.
    pub(super) async fn open(pool: &SqlitePool, min_threshold: u64) -> Result<Self, StoreError> {
        let (recent, settled): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM alertkit_fingerprints_recent), \
                    (SELECT count(*) FROM alertkit_fingerprints_settled)",
        )
        .fetch_one(pool)
        .await
        .map_err(db)?;
        Ok(Self {
            min_threshold: min_threshold.max(1),
            state: Mutex::new(State {
                recent: u64::try_from(recent).unwrap_or(0),
                settled: u64::try_from(settled).unwrap_or(0),
                merging: None,
            }),
        })
    }

    /// Recent fingerprints that start a merge, given `settled` ones.
    fn threshold(&self, settled: u64) -> u64 {
        (2 * BATCH_HINT)
            .saturating_mul(settled)
            .isqrt()
            .max(self.min_threshold)
    }

    /// Which slice, if any, the next batch moves.
    pub(super) fn plan(&self) -> Step {
        let state = *self.state.lock().unwrap_or_else(|p| p.into_inner());
        let slice = match state.merging {
            Some(k) => Some(k),
            None if state.recent >= self.threshold(state.settled) => Some(0),
            None => None,
        };
        Step { slice, moved: 0 }
    }

    /// Maps new alerts' fingerprint keys to their ids, `(key, id)`, in the
    /// recent table. A trigger refuses a key that is already settled and
    /// the table's key one already recent: one alert per fingerprint.
    pub(super) fn map(conn: &Connection, keys: &[(i64, i64)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut insert = conn
            .prepare(
                "INSERT OR FAIL INTO alertkit_fingerprints_recent (fingerprint, alert_id) \
                 VALUES (?1, ?2)",
            )
            .map_err(sqlite)?;
        for &(key, id) in keys {
            insert.execute([key, id]).map_err(sqlite)?;
        }
        Ok(())
    }

    /// Moves `step`'s slice from the recent table into the settled one,
    /// inside the batch's transaction.
    pub(super) fn run(step: &mut Step, conn: &Connection) -> Result<(), StoreError> {
        let Some(k) = step.slice else {
            return Ok(());
        };
        let (lo, hi) = slice_keys(k);
        let moved = conn
            .execute(
                "INSERT OR FAIL INTO alertkit_fingerprints_settled (fingerprint, alert_id) \
                 SELECT fingerprint, alert_id FROM alertkit_fingerprints_recent \
                 WHERE fingerprint BETWEEN ?1 AND ?2 ORDER BY fingerprint",
                [lo, hi],
            )
            .map_err(sqlite)?;
        step.moved = u64::try_from(moved).unwrap_or(u64::MAX);
        conn.execute(
            "DELETE FROM alertkit_fingerprints_recent WHERE fingerprint BETWEEN ?1 AND ?2",
            [lo, hi],
        )
        .map_err(sqlite)?;
        Ok(())
    }

    /// After the batch committed `inserted` new alerts and `step`.
    pub(super) fn committed(&self, step: Step, inserted: usize) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let inserted = u64::try_from(inserted).unwrap_or(u64::MAX);
        state.recent = state
            .recent
            .saturating_add(inserted)
            .saturating_sub(step.moved);
        state.settled = state.settled.saturating_add(step.moved);
        if let Some(k) = step.slice {
            state.merging = (k + 1 < SLICES).then_some(k + 1);
        }
    }

    /// After retention deleted `alerts` alerts (and their mappings).
    pub(super) fn pruned(&self, alerts: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.settled = state.settled.saturating_sub(alerts);
    }
}

/// The first and last fingerprint key of slice `k` (of [`SLICES`], in
/// fingerprint order).
fn slice_keys(k: u8) -> (i64, i64) {
    let width = u64::MAX / u64::from(SLICES) + 1;
    let lo = u64::from(k) * width;
    let hi = lo.saturating_add(width - 1);
    (
        fp_key(Fingerprint::from_u64(lo)),
        fp_key(Fingerprint::from_u64(hi)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_key_once_in_order() {
        let slices: Vec<_> = (0..SLICES).map(slice_keys).collect();
        assert_eq!(slices[0].0, i64::MIN);
        assert_eq!(slices[usize::from(SLICES) - 1].1, i64::MAX);
        for pair in slices.windows(2) {
            assert!(pair[0].0 < pair[0].1);
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
    }

    #[test]
    fn the_threshold_grows_with_the_settled_table() {
        let levels = Levels {
            min_threshold: 16_384,
            state: Mutex::default(),
        };
        assert_eq!(levels.threshold(0), 16_384);
        assert_eq!(levels.threshold(2_000_000), 128_000);
        assert_eq!(levels.threshold(u64::MAX), u64::from(u32::MAX));
    }

    #[test]
    fn a_merge_walks_every_slice_then_waits_for_the_threshold() {
        let levels = Levels {
            min_threshold: 10,
            state: Mutex::default(),
        };
        assert!(levels.plan().slice.is_none());
        levels.committed(levels.plan(), 10);
        for k in 0..SLICES {
            let mut step = levels.plan();
            assert_eq!(step.slice, Some(k));
            step.moved = if k == 0 { 10 } else { 0 };
            levels.committed(step, 0);
        }
        assert!(levels.plan().slice.is_none());
        let state = *levels.state.lock().unwrap();
        assert_eq!((state.recent, state.settled), (0, 10));
        levels.pruned(4);
        assert_eq!(levels.state.lock().unwrap().settled, 6);
        levels.pruned(100);
        assert_eq!(levels.state.lock().unwrap().settled, 0);
    }
}
