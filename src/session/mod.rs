//! Server-side sessions. `SessionStore` is the seam; one file per backend.

mod counters;
mod memcached;
mod memory;
mod redis;
mod roster;

pub use counters::{Counters, MemcachedCounters, MemoryCounters, RedisCounters};
pub use memcached::MemcachedSessions;
pub use memory::MemorySessions;
pub use redis::RedisSessions;
pub use roster::{InstanceBeat, MemcachedRoster, MemoryRoster, RedisRoster, Roster};

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::{UserId, Username};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session backend: {0}")]
    Backend(String),
    #[error("session record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

/// What a session remembers. The key it is stored under is a hash of the cookie's token, so
/// whoever reads the store cannot replay a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    pub user_id: UserId,
    pub username: Username,
    /// Unix seconds; the absolute timeout counts from here.
    pub created_at: i64,
}

/// Session records keyed by an opaque string, each expiring after an idle time to live.
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `data` under `key` expiring after `idle_ttl`, replacing any record there, and
    /// lists `key` among `data.user_id`'s sessions for at least `lifetime` (the absolute
    /// timeout: no session outlives it, so neither need its entry in that list).
    async fn create(
        &self,
        key: &str,
        data: &SessionData,
        idle_ttl: Duration,
        lifetime: Duration,
    ) -> Result<(), SessionError>;

    /// The record under `key`; `Ok(None)` when absent or expired. Does not extend its life.
    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError>;

    /// Restarts the idle time to live of a live record; `Ok(false)` when it is absent or
    /// expired (and then nothing is created).
    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError>;

    /// Removes the record; `Ok(())` as well when absent (idempotent). After it returns no
    /// instance sharing the store finds it.
    async fn destroy(&self, key: &str) -> Result<(), SessionError>;

    /// Removes every session of `user` created before this call, on every instance sharing
    /// the store; `Ok(())` when there are none (idempotent). A session created while it runs
    /// may survive it.
    async fn destroy_all_of(&self, user: UserId) -> Result<(), SessionError>;

    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), SessionError>;

    /// A short name for status pages: `memory`, `redis`...
    fn kind(&self) -> &'static str;
}
