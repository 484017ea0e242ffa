//! [`RedisLocks`]: "seen before" markers and short leases on Redis.

use std::sync::Arc;
use std::time::Duration;

use alertkit_core::CacheError;
use redis::Script;
use redis::aio::ConnectionManager;

use super::error;

/// Deletes the key only if it still holds our token (a fenced release).
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Extends the key's TTL only if it still holds our token.
const EXTEND: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Cross-replica intake dedup and short leases, on Redis.
///
/// These save duplicate *work* between replicas; they are not a correctness
/// mechanism. A single Redis is not safe mutual exclusion across failover,
/// and a marker can expire while work is in progress, so correctness always
/// comes from the database (idempotent history writes, unique keys, fenced
/// acknowledgements).
///
/// - [`first_seen`](RedisLocks::first_seen): `SET key 1 NX PX ttl`: `true`
///   for exactly one caller per key within the TTL.
/// - [`acquire`](RedisLocks::acquire) / [`release`](RedisLocks::release) /
///   [`extend`](RedisLocks::extend): a lease held by an owner token; release
///   and extend only act while the caller still holds it (Lua, atomic).
#[derive(Clone)]
pub struct RedisLocks {
    conn: ConnectionManager,
    prefix: Arc<str>,
    release: Arc<Script>,
    extend: Arc<Script>,
}

impl std::fmt::Debug for RedisLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLocks")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisLocks {
    pub(super) fn new(conn: ConnectionManager, prefix: Arc<str>) -> Self {
        Self {
            conn,
            prefix,
            release: Arc::new(Script::new(RELEASE)),
            extend: Arc::new(Script::new(EXTEND)),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(reply.is_some())
    }

    /// Marks `key` as seen for `ttl`; `true` if nobody had marked it yet.
    pub async fn first_seen(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        self.set_nx(key, "1", ttl).await
    }

    /// Takes the lease `key` for `owner` (a token unique to the caller) for
    /// `ttl`; `false` if someone else holds it.
    pub async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, CacheError> {
        self.set_nx(key, owner, ttl).await
    }

    /// Gives the lease back if `owner` still holds it; `false` if it had
    /// expired or passed to someone else (then nothing is touched).
    pub async fn release(&self, key: &str, owner: &str) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = self
            .release
            .key(self.key(key))
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(deleted == 1)
    }

    /// Extends the lease to `ttl` from now if `owner` still holds it.
    pub async fn extend(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let extended: i64 = self
            .extend
            .key(self.key(key))
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(error)?;
        Ok(extended == 1)
    }
}
