//! `SessionStore` on memcached: one JSON record per session with the idle time to live as its
//! expiry, restarted by `touch`.

use std::sync::Arc;
use std::time::Duration;

use super::{SessionData, SessionError, SessionStore};
use crate::remote::memcached::Memcached;

pub struct MemcachedSessions {
    memcached: Arc<Memcached>,
    prefix: String,
}

impl MemcachedSessions {
    pub fn new(memcached: Arc<Memcached>, prefix: &str) -> Self {
        Self { memcached, prefix: format!("{prefix}session:") }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[rocket::async_trait]
impl SessionStore for MemcachedSessions {
    async fn create(&self, key: &str, data: &SessionData, idle_ttl: Duration) -> Result<(), SessionError> {
        let json = serde_json::to_vec(data)?;
        Ok(self.memcached.set(&self.key(key), &json, idle_ttl.as_secs()).await?)
    }

    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError> {
        let json = self.memcached.get(&self.key(key)).await?;
        Ok(json.map(|j| serde_json::from_slice(&j)).transpose()?)
    }

    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError> {
        Ok(self.memcached.touch(&self.key(key), idle_ttl.as_secs()).await?)
    }

    async fn destroy(&self, key: &str) -> Result<(), SessionError> {
        Ok(self.memcached.delete(&self.key(key)).await?)
    }

    async fn ping(&self) -> Result<(), SessionError> {
        Ok(self.memcached.ping().await?)
    }

    fn kind(&self) -> &'static str {
        "memcached"
    }
}
