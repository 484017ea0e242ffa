//! [`RedisCache`]: a [`Cache`] in Redis, shared by every replica, and
//! [`RedisLocks`]: "seen before" markers and leases on the same connection.

mod lock;

pub use lock::RedisLocks;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alertkit_core::{Cache, CacheError, CacheStats};
use async_trait::async_trait;
use bytes::Bytes;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How to connect a [`RedisCache`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// `redis://host:port/db`, or `rediss://host:port/db` for TLS (rustls;
    /// the server's certificate and host name are verified against the
    /// system trust store, or against [`ca_cert`](Self::ca_cert)).
    pub url: String,
    /// A PEM file of the CA that signed the server's certificate, used
    /// instead of the system trust store (a private CA); `rediss://` only.
    pub ca_cert: Option<PathBuf>,
    /// Prepended to every key (`alertkit:` by default), so several
    /// applications or tenants can share one Redis.
    pub prefix: String,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Timeout for each command's response. A cache that answers slowly is
    /// worse than a miss, so this is short.
    pub response_timeout: Duration,
}

impl RedisOptions {
    /// Defaults for the Redis at `url`: prefix `alertkit:`, 1 s to connect,
    /// 250 ms per response.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_cert: None,
            prefix: "alertkit:".to_owned(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(250),
        }
    }

    /// Trusting the CA certificate(s) in the PEM file at `path` (see
    /// [`ca_cert`](Self::ca_cert)).
    #[must_use]
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// With key prefix `prefix`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

/// A [`Cache`] in Redis over one multiplexed, self-reconnecting connection
/// (`ConnectionManager`): every key prefixed, every value written with a
/// millisecond TTL (`SET … PX`), timeouts set deliberately. Failures are
/// [`CacheError::Unavailable`] or [`CacheError::Timeout`] (transient) and
/// are counted; callers treat them as misses.
///
/// ```no_run
/// # async fn demo() -> Result<(), alertkit_core::CacheError> {
/// use std::time::Duration;
/// use alertkit_core::Cache;
/// use alertkit_store::{RedisCache, RedisOptions};
///
/// let cache = RedisCache::connect(RedisOptions::new("redis://127.0.0.1:6379").prefix("alertkit:prod:")).await?;
/// cache.set("classification:abc", "…".into(), Duration::from_secs(3600)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: Arc<str>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never shown.
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn error(e: redis::RedisError) -> CacheError {
    if e.is_timeout() {
        CacheError::Timeout
    } else {
        CacheError::Unavailable(Box::new(e))
    }
}

impl RedisCache {
    /// Connects (failing fast if Redis is unreachable).
    pub async fn connect(options: RedisOptions) -> Result<Self, CacheError> {
        let client = match &options.ca_cert {
            None => redis::Client::open(options.url.as_str()).map_err(error)?,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    CacheError::Unavailable(
                        format!("redis CA certificate {}: {e}", path.display()).into(),
                    )
                })?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(options.url.as_str(), certificates).map_err(error)?
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(error)?;
        Ok(Self {
            conn,
            prefix: Arc::from(options.prefix),
            counters: Arc::default(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Markers and leases sharing this cache's connection, under
    /// `{prefix}lock:`.
    pub fn locks(&self) -> RedisLocks {
        RedisLocks::new(
            self.conn.clone(),
            Arc::from(format!("{}lock:", self.prefix)),
        )
    }

    fn count<T>(&self, r: Result<T, CacheError>) -> Result<T, CacheError> {
        if r.is_err() {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn hit_or_miss(&self, found: bool) {
        let counter = if found {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Looks up many keys in one round trip (`MGET`), in order.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<Vec<u8>>> = self.count(
            redis::cmd("MGET")
                .arg(&full)
                .query_async(&mut conn)
                .await
                .map_err(error),
        )?;
        Ok(values
            .into_iter()
            .map(|v| {
                self.hit_or_miss(v.is_some());
                v.map(Bytes::from)
            })
            .collect())
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let mut conn = self.conn.clone();
        let value: Option<Vec<u8>> = self.count(conn.get(self.key(key)).await.map_err(error))?;
        self.hit_or_miss(value.is_some());
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let key = self.key(key);
        if millis == 0 {
            return self.count(conn.del::<_, ()>(key).await.map_err(error));
        }
        self.count(
            redis::cmd("SET")
                .arg(key)
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis)
                .query_async::<()>(&mut conn)
                .await
                .map_err(error),
        )
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        self.count(conn.del::<_, ()>(self.key(key)).await.map_err(error))
    }

    fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        stats.hits = self.counters.hits.load(Ordering::Relaxed);
        stats.misses = self.counters.misses.load(Ordering::Relaxed);
        stats.errors = self.counters.errors.load(Ordering::Relaxed);
        stats
    }
}
