//! A shared byte cache for the front page (level 4's cache-aside). `Cache` is the seam.

mod memcached;
mod memory;
mod none;
mod redis;

pub use memcached::MemcachedCache;
pub use memory::MemoryCache;
pub use none::NoCache;
pub use redis::RedisCache;

use std::time::Duration;

use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache backend: {0}")]
    Backend(String),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

/// Bytes under string keys with a time to live. A cache may forget anything at any time;
/// callers treat every read as "maybe".
#[rocket::async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value stored under `key`, or `Ok(None)` when absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError>;

    /// The values under `keys`, in the same order, each `None` when absent. One round trip
    /// where the backend allows it (Redis `MGET`; on a cluster the keys must share a hash tag).
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Stores `value` under `key` for at most `ttl`, replacing any previous value (idempotent).
    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError>;

    /// Removes `key`; `Ok(())` as well when it was absent (idempotent). After it returns, no
    /// `get` on any instance sharing the cache sees the old value.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;

    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), CacheError>;

    /// A short name for status pages: `memory`, `none`, `redis`...
    fn kind(&self) -> &'static str;
}
