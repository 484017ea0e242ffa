//! The [`Cache`] trait.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use tower::Service;

use super::BoxFuture;
use crate::CacheError;

/// Counters every cache reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a value.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries removed to respect the capacity bound (not expiries).
    pub evictions: u64,
    /// Operations that failed (counted, then treated as misses by callers).
    pub errors: u64,
    /// Entries currently held, when known.
    pub entries: u64,
}

/// A byte-valued key/value cache where every entry has a time to live.
///
/// Values are opaque bytes so one implementation (memory, Redis, tiered)
/// serves every use; callers encode their own values. A cache is an
/// optimisation: callers treat any [`CacheError`] as a miss.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;

    /// Stores `value` under `key` for `ttl` (replacing any previous value).
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;

    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;

    /// Counters since creation.
    fn stats(&self) -> CacheStats;
}

#[async_trait]
impl<T: Cache + ?Sized> Cache for Arc<T> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        (**self).get(key).await
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        (**self).set(key, value, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        (**self).delete(key).await
    }

    fn stats(&self) -> CacheStats {
        (**self).stats()
    }
}

/// A cache operation, for driving a [`Cache`] as a tower service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRequest {
    /// Look a key up.
    Get(String),
    /// Store a value with a TTL.
    Set(String, Bytes, Duration),
    /// Remove a key.
    Delete(String),
}

/// Drives a [`Cache`] as a `tower::Service<CacheRequest>`; the response is
/// the value for `Get` and `None` otherwise.
#[derive(Debug)]
pub struct CacheService<C: ?Sized> {
    inner: Arc<C>,
}

impl<C: ?Sized> CacheService<C> {
    /// Wraps a shared cache.
    pub fn new(inner: Arc<C>) -> Self {
        Self { inner }
    }
}

impl<C: ?Sized> Clone for CacheService<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Cache + ?Sized> Service<CacheRequest> for CacheService<C> {
    type Response = Option<Bytes>;
    type Error = CacheError;
    type Future = BoxFuture<Result<Option<Bytes>, CacheError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: CacheRequest) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            match req {
                CacheRequest::Get(key) => inner.get(&key).await,
                CacheRequest::Set(key, value, ttl) => {
                    inner.set(&key, value, ttl).await.map(|()| None)
                }
                CacheRequest::Delete(key) => inner.delete(&key).await.map(|()| None),
            }
        })
    }
}
