//! `SessionStore` on Redis: one JSON record per session, expiring server-side after the idle
//! time to live, so every instance sees a logout at once.

use std::time::Duration;

use super::{SessionData, SessionError, SessionStore};
use crate::remote::redis::Redis;

pub struct RedisSessions {
    redis: Redis,
    prefix: String,
}

impl RedisSessions {
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self { redis, prefix: format!("{prefix}session:") }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn seconds(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[rocket::async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, key: &str, data: &SessionData, idle_ttl: Duration) -> Result<(), SessionError> {
        let json = serde_json::to_vec(data)?;
        let cmd = redis::cmd("SET").arg(self.key(key)).arg(json).arg("EX").arg(seconds(idle_ttl)).clone();
        self.redis.query::<()>(&cmd).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError> {
        let json: Option<Vec<u8>> = self.redis.query(redis::cmd("GET").arg(self.key(key))).await?;
        Ok(json.map(|j| serde_json::from_slice(&j)).transpose()?)
    }

    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError> {
        let touched: i64 = self.redis.query(redis::cmd("EXPIRE").arg(self.key(key)).arg(seconds(idle_ttl))).await?;
        Ok(touched == 1)
    }

    async fn destroy(&self, key: &str) -> Result<(), SessionError> {
        self.redis.query::<i64>(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), SessionError> {
        self.redis.query::<String>(&redis::cmd("PING")).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
