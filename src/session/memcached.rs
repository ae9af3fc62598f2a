//! `SessionStore` on memcached: one JSON record per session with the idle time to live as its
//! expiry, restarted by `touch`; and per user a list of their session keys (one per line,
//! appended atomically), living as long as their newest session may.

use std::sync::Arc;
use std::time::Duration;

use super::{SessionData, SessionError, SessionStore};
use crate::domain::UserId;
use crate::remote::memcached::Memcached;

/// A user's list is pruned of ended sessions when a login finds it this long: each login
/// appends a line, and a value may not grow past memcached's item size (1 MiB by default).
const PRUNE_AT: usize = 64;

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

    fn user_key(&self, user: UserId) -> String {
        format!("{}sessions-of:{user}", self.prefix)
    }

    /// Rewrites a long list with only the sessions still alive; skipped when another login
    /// appended meanwhile (the next one prunes).
    async fn prune(&self, user_key: &str, lifetime: Duration) -> Result<(), SessionError> {
        let Some((listed, cas)) = self.memcached.get_with_cas(user_key).await? else {
            return Ok(());
        };
        let listed = String::from_utf8_lossy(&listed).into_owned();
        let keys: Vec<&str> = listed.lines().filter(|k| !k.is_empty()).collect();
        if keys.len() < PRUNE_AT {
            return Ok(());
        }
        let mut live = String::new();
        for key in keys {
            if self.memcached.get(&self.key(key)).await?.is_some() {
                live.push_str(key);
                live.push('\n');
            }
        }
        self.memcached.replace_if_unchanged(user_key, live.as_bytes(), cas, lifetime.as_secs()).await?;
        Ok(())
    }
}

#[rocket::async_trait]
impl SessionStore for MemcachedSessions {
    async fn create(
        &self,
        key: &str,
        data: &SessionData,
        idle_ttl: Duration,
        lifetime: Duration,
    ) -> Result<(), SessionError> {
        // The list first: a record that exists is always listed. The newest session lives
        // longest, so its lifetime covers every older one.
        let user_key = self.user_key(data.user_id);
        self.prune(&user_key, lifetime).await?;
        self.memcached.append_line(&user_key, key, lifetime.as_secs()).await?;
        self.memcached.touch(&user_key, lifetime.as_secs()).await?;
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

    async fn destroy_all_of(&self, user: UserId) -> Result<(), SessionError> {
        let user_key = self.user_key(user);
        let Some(listed) = self.memcached.get(&user_key).await? else {
            return Ok(());
        };
        for key in String::from_utf8_lossy(&listed).lines().filter(|k| !k.is_empty()) {
            self.memcached.delete(&self.key(key)).await?;
        }
        // memcached has no "remove these lines": a session listed since the read loses its
        // entry (and then outlives a later call), the race the contract allows.
        Ok(self.memcached.delete(&user_key).await?)
    }

    async fn ping(&self) -> Result<(), SessionError> {
        Ok(self.memcached.ping().await?)
    }

    fn kind(&self) -> &'static str {
        "memcached"
    }
}
