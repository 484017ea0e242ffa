//! What a store opened with `migrate = false` checks instead of migrating:
//! that the database holds exactly the migrations this build embeds.
//!
//! Without the check an unmigrated database failed later and obscurely
//! (SQLite at open with "no such table", Postgres on the first query).

use std::collections::BTreeMap;

use alertkit_core::StoreError;
use sqlx::migrate::Migrator;

use super::codec::db;

/// Why a store opened without migrating refuses its database. It reaches
/// callers as the source of [`StoreError::Backend`].
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # async fn demo() {
/// use alertkit_store::{SchemaError, SqliteHistoryStore, SqliteOptions};
///
/// let mut options = SqliteOptions::new("sqlite://alertkit.db");
/// options.migrate = false;
/// if let Err(e) = SqliteHistoryStore::open_with(options).await {
///     let schema = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<SchemaError>());
///     if let Some(SchemaError::Pending { version, .. }) = schema {
///         eprintln!("apply the migrations first (from {version} on)");
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A migration this build needs has not been applied (the first one
    /// missing, in order).
    #[error(
        "database schema is not migrated: migration {version} ({description}) is not applied; \
         apply the migrations or open the store with migrate = true"
    )]
    Pending {
        /// The migration's version.
        version: i64,
        /// What it does.
        description: String,
    },
    /// A migration was started and did not finish.
    #[error(
        "migration {version} failed when it was last applied; repair the database, then migrate"
    )]
    Failed {
        /// The migration's version.
        version: i64,
    },
    /// A migration was applied from a different script than this build's.
    #[error("migration {version} was applied from a different script than this build embeds")]
    Modified {
        /// The migration's version.
        version: i64,
    },
    /// The database holds a migration this build does not know: a newer
    /// alertkit migrated it.
    #[error(
        "migration {version} is applied but unknown to this build (a newer alertkit migrated the database)"
    )]
    Unknown {
        /// The migration's version.
        version: i64,
    },
}

/// One row of `_sqlx_migrations`: version, success, checksum.
pub(crate) type Applied = (i64, bool, Vec<u8>);

/// Whether the migration table exists, per backend: one boolean.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE_HAS_TABLE: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
     WHERE type = 'table' AND name = '_sqlx_migrations')";
/// [`SQLITE_HAS_TABLE`] for Postgres (the table on the pool's `search_path`).
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES_HAS_TABLE: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

/// What the database behind `pool` has applied, oldest first: nothing
/// when `has_table` (the backend's catalogue query) finds no migration table.
async fn applied<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    has_table: &'static str,
) -> Result<Vec<Applied>, StoreError>
where
    for<'a> &'a sqlx::Pool<DB>: sqlx::Executor<'a, Database = DB>,
    for<'a> DB::Arguments: sqlx::IntoArguments<DB>,
    (bool,): for<'r> sqlx::FromRow<'r, DB::Row>,
    Applied: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let (present,): (bool,) = sqlx::query_as(has_table)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    if !present {
        return Ok(Vec::new());
    }
    sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(db)
}

/// Checks that the database behind `pool` holds exactly the migrations
/// `migrator` embeds; `has_table` is the backend's catalogue query.
pub(crate) async fn verify<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    has_table: &'static str,
    migrator: &Migrator,
) -> Result<(), StoreError>
where
    for<'a> &'a sqlx::Pool<DB>: sqlx::Executor<'a, Database = DB>,
    for<'a> DB::Arguments: sqlx::IntoArguments<DB>,
    (bool,): for<'r> sqlx::FromRow<'r, DB::Row>,
    Applied: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    check(migrator, &applied(pool, has_table).await?)
}

/// Compares what the database holds with what `migrator` embeds.
fn check(migrator: &Migrator, applied: &[Applied]) -> Result<(), StoreError> {
    let held: BTreeMap<i64, (bool, &[u8])> = applied
        .iter()
        .map(|(v, ok, sum)| (*v, (*ok, sum.as_slice())))
        .collect();
    let known = || {
        migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
    };
    let err = |e: SchemaError| Err(StoreError::Backend(Box::new(e)));
    if let Some(&(version, _, _)) = applied
        .iter()
        .find(|(v, _, _)| !known().any(|m| m.version == *v))
    {
        return err(SchemaError::Unknown { version });
    }
    for m in known() {
        match held.get(&m.version) {
            None => {
                return err(SchemaError::Pending {
                    version: m.version,
                    description: m.description.to_string(),
                });
            }
            Some((false, _)) => return err(SchemaError::Failed { version: m.version }),
            Some((true, sum)) if *sum != &*m.checksum => {
                return err(SchemaError::Modified { version: m.version });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
