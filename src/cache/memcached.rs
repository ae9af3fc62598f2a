//! `Cache` on memcached (one or many servers), shared by every instance.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Cache, CacheError};
use crate::remote::memcached::Memcached;

pub struct MemcachedCache {
    memcached: Arc<Memcached>,
}

impl MemcachedCache {
    pub fn new(memcached: Arc<Memcached>) -> Self {
        Self { memcached }
    }
}

#[rocket::async_trait]
impl Cache for MemcachedCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(self.memcached.get(key).await?.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        // memcached counts whole seconds; round up so a value never expires early.
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        Ok(self.memcached.set(key, &value, secs).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        Ok(self.memcached.delete(key).await?)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(self.memcached.ping().await?)
    }

    fn kind(&self) -> &'static str {
        "memcached"
    }
}
