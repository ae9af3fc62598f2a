//! `Cache` in-process with moka: per-entry time to live, bounded by total bytes.
//!
//! Whether an entry is still live is decided on the cache's `Clock`; moka's own expiry (on the
//! system's clock, the same deadline in production) frees the memory of entries nobody reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache as Moka;

use super::{Cache, CacheError};
use crate::clock::{Clock, SystemClock};

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    /// On the cache's clock; `None` past what an `Instant` holds (never, in practice).
    expires: Option<Instant>,
}

struct EntryTtl;

impl Expiry<String, Entry> for EntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub struct MemoryCache {
    entries: Moka<String, Entry>,
    clock: Arc<dyn Clock>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of values.
    pub fn new(max_bytes: u64) -> Self {
        Self::with_clock(max_bytes, Arc::new(SystemClock))
    }

    /// A cache holding at most `max_bytes` of values, whose entries expire on `clock`.
    pub fn with_clock(max_bytes: u64, clock: Arc<dyn Clock>) -> Self {
        let entries = Moka::builder()
            .weigher(|key: &String, entry: &Entry| u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX))
            .max_capacity(max_bytes)
            .expire_after(EntryTtl)
            .build();
        Self { entries, clock }
    }
}

#[rocket::async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        match self.entries.get(key).await {
            Some(entry) if entry.expires.is_none_or(|at| at > self.clock.now()) => Ok(Some(entry.value)),
            Some(_) => {
                self.entries.invalidate(key).await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let expires = self.clock.now().checked_add(ttl);
        self.entries.insert(key.to_owned(), Entry { value, ttl, expires }).await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.invalidate(key).await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
