//! `Cache` on Redis (a single server or a cluster), shared by every instance.

use std::time::Duration;

use bytes::Bytes;

use super::{Cache, CacheError};
use crate::remote::redis::Redis;

pub struct RedisCache {
    redis: Redis,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

#[rocket::async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let value: Option<Vec<u8>> = self.redis.query(redis::cmd("GET").arg(key)).await?;
        Ok(value.map(Bytes::from))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let values: Vec<Option<Vec<u8>>> = self.redis.query(redis::cmd("MGET").arg(keys)).await?;
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.redis.query::<()>(redis::cmd("SET").arg(key).arg(value.as_ref()).arg("PX").arg(millis)).await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.redis.query::<i64>(redis::cmd("DEL").arg(key)).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.redis.query::<String>(&redis::cmd("PING")).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
