//! [`PoolStatus`]: how busy a store's connection pool is.

/// A snapshot of a history store's database connections, for the
/// `…_db_connections_{active,max}` gauges and alerts on pool exhaustion.
///
/// Taken without waiting (no connection is acquired); the counts are read
/// one after the other, so under load they may be a moment apart.
/// `in_use + idle` is the number of open connections, never above `max`.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # async fn demo() -> Result<(), alertkit_core::StoreError> {
/// let store = alertkit_store::SqliteHistoryStore::open("sqlite://alertkit.db").await?;
/// let pool = store.pool_status();
/// if pool.utilization() > 0.9 {
///     eprintln!("{} of {} connections in use", pool.in_use, pool.max);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Connections checked out of the pool (running a query or holding a
    /// transaction).
    pub in_use: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

impl PoolStatus {
    /// A status of `in_use`, `idle` and `max` connections (for stores
    /// outside this crate and tests).
    pub fn new(in_use: u32, idle: u32, max: u32) -> Self {
        Self { in_use, idle, max }
    }

    /// `in_use / max`, from 0.0 to 1.0 (0.0 for a pool of no connections).
    pub fn utilization(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            f64::from(self.in_use) / f64::from(self.max)
        }
    }

    /// The counts of one sqlx pool.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        let open = pool.size();
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
        Self {
            in_use: open - idle,
            idle,
            max: pool.options().get_max_connections(),
        }
    }

    /// The sum of two pools (a store with a writer and readers).
    #[cfg(feature = "sqlite")]
    #[must_use]
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            in_use: self.in_use.saturating_add(other.in_use),
            idle: self.idle.saturating_add(other.idle),
            max: self.max.saturating_add(other.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PoolStatus;

    #[test]
    fn utilization() {
        assert!((PoolStatus::new(3, 2, 5).utilization() - 0.6).abs() < 1e-9);
        assert!(PoolStatus::default().utilization().abs() < f64::EPSILON);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sums() {
        let s = PoolStatus::new(1, 0, 1).plus(PoolStatus::new(2, 2, 4));
        assert_eq!(s, PoolStatus::new(3, 2, 5));
    }
}
