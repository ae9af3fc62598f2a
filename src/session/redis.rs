//! `SessionStore` on Redis: one JSON record per session, expiring server-side after the idle
//! time to live, so every instance sees a logout at once; and per user a set of their session
//! keys, living as long as their newest session may.
//!
//! A record and its user's set hash to different slots of a Redis Cluster, so they are written
//! by separate commands, never one transaction: a set may name records already gone (deleting
//! those is harmless), never miss one that was written.

use std::time::Duration;

use super::{SessionData, SessionError, SessionStore};
use crate::domain::UserId;
use crate::remote::redis::Redis;

pub struct RedisSessions {
    redis: Redis,
    prefix: String,
    user_prefix: String,
}

impl RedisSessions {
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self { redis, prefix: format!("{prefix}session:"), user_prefix: format!("{prefix}sessions-of:") }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn user_key(&self, user: UserId) -> String {
        format!("{}{user}", self.user_prefix)
    }
}

fn seconds(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

#[rocket::async_trait]
impl SessionStore for RedisSessions {
    async fn create(
        &self,
        key: &str,
        data: &SessionData,
        idle_ttl: Duration,
        lifetime: Duration,
    ) -> Result<(), SessionError> {
        // The set first: a record that exists is always listed.
        let user_key = self.user_key(data.user_id);
        let mut listed = redis::pipe();
        listed.cmd("SADD").arg(&user_key).arg(key).ignore();
        // The newest session lives longest, so its lifetime covers every older one.
        listed.cmd("EXPIRE").arg(&user_key).arg(seconds(lifetime)).ignore();
        self.redis.pipeline::<()>(&listed).await?;
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

    async fn destroy_all_of(&self, user: UserId) -> Result<(), SessionError> {
        let user_key = self.user_key(user);
        let keys: Vec<String> = self.redis.query(redis::cmd("SMEMBERS").arg(&user_key)).await?;
        // One DEL per record: in a cluster the records live in different slots.
        for key in &keys {
            self.redis.query::<i64>(redis::cmd("DEL").arg(self.key(key))).await?;
        }
        if !keys.is_empty() {
            // SREM, not DEL: a session listed since SMEMBERS keeps its entry.
            self.redis.query::<i64>(redis::cmd("SREM").arg(&user_key).arg(&keys)).await?;
        }
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
