//! `cache_url = "none"`: every read misses, so every front page comes from the database
//! (the tutorial's levels before the cache).

use std::time::Duration;

use bytes::Bytes;

use super::{Cache, CacheError};

pub struct NoCache;

#[rocket::async_trait]
impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Result<Option<Bytes>, CacheError> {
        Ok(None)
    }

    async fn set(&self, _key: &str, _value: Bytes, _ttl: Duration) -> Result<(), CacheError> {
        Ok(())
    }

    async fn delete(&self, _key: &str) -> Result<(), CacheError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "none"
    }
}
