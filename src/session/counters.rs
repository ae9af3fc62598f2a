//! Windowed counters with a ceiling: the login throttle's slots. They live where sessions
//! live, so in the fleet profile every instance counts against the same number.
//!
//! governor (GCRA) was considered for the in-process case: it cannot give a slot back, and
//! this rule returns the slot of a successful login. A counter per key does both, and the
//! same three operations map onto one Redis script and memcached's atomic `incr`/`decr`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SessionError;
use crate::clock::{Clock, SystemClock};
use crate::remote::memcached::Memcached;
use crate::remote::redis::Redis;

/// Counters under string keys, each living for a fixed window that starts with its first slot.
#[rocket::async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Takes one slot under `key` when fewer than `limit` are taken: `Ok(true)` when taken,
    /// `Ok(false)` (and nothing changes) when all `limit` are. Atomic across every instance
    /// sharing the backend: however many callers race, at most `limit` get `true` within one
    /// window. An absent or expired key starts a new window of `window` at zero.
    async fn acquire(&self, key: &str, limit: u32, window: Duration) -> Result<bool, SessionError>;

    /// Gives one slot back under `key` (never below zero) without moving the window's end.
    /// Idempotent on an absent or expired key: `Ok(())` and nothing is created.
    async fn release(&self, key: &str) -> Result<(), SessionError>;

    /// The slots taken under `key` in its current window; 0 when absent or expired.
    async fn taken(&self, key: &str) -> Result<u32, SessionError>;

    /// A short name for status pages: `memory`, `redis`, `memcached`.
    fn kind(&self) -> &'static str;
}

struct Window {
    taken: u32,
    ends: Instant,
}

/// In-process counters for the single profile, holding at most `max_keys` windows.
///
/// Memory bound: at most `max_keys` entries of one key (≤ 80 bytes: a prefix and an address or
/// a username) plus 24 bytes each, about 10 MiB for the default 65 536 keys, however many
/// addresses a flood rotates through. When the map is full, expired windows are swept (at most
/// once a second); if it is still full, a key it does not hold is refused (`Ok(false)`), so a
/// flood of fresh addresses fails closed for new keys instead of growing memory or forgetting
/// the counts it holds.
pub struct MemoryCounters {
    max_keys: usize,
    state: Mutex<MemoryState>,
    clock: Arc<dyn Clock>,
}

struct MemoryState {
    windows: HashMap<String, Window>,
    swept: Option<Instant>,
}

impl MemoryCounters {
    pub const DEFAULT_MAX_KEYS: usize = 65_536;

    pub fn new(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Arc::new(SystemClock))
    }

    /// Counters whose windows are timed on `clock`.
    pub fn with_clock(max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        let state = Mutex::new(MemoryState { windows: HashMap::new(), swept: None });
        Self { max_keys: max_keys.max(1), state, clock }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, SessionError> {
        self.state.lock().map_err(|_| SessionError::Backend("counter map poisoned".into()))
    }

    /// How many windows are held now (live or not yet swept), for the memory bound's test.
    pub fn len(&self) -> usize {
        self.lock().map(|s| s.windows.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_KEYS)
    }
}

#[rocket::async_trait]
impl Counters for MemoryCounters {
    async fn acquire(&self, key: &str, limit: u32, window: Duration) -> Result<bool, SessionError> {
        let now = self.clock.now();
        let mut state = self.lock()?;
        if let Some(w) = state.windows.get_mut(key) {
            if w.ends <= now {
                *w = Window { taken: 0, ends: now + window };
            }
            if w.taken >= limit {
                return Ok(false);
            }
            w.taken += 1;
            return Ok(true);
        }
        if limit == 0 {
            return Ok(false);
        }
        if state.windows.len() >= self.max_keys {
            // A sweep walks the whole map: once a second at most, so a flood cannot make every
            // request pay for it.
            if state.swept.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
                state.windows.retain(|_, w| w.ends > now);
                state.swept = Some(now);
            }
            if state.windows.len() >= self.max_keys {
                return Ok(false);
            }
        }
        state.windows.insert(key.to_owned(), Window { taken: 1, ends: now + window });
        Ok(true)
    }

    async fn release(&self, key: &str) -> Result<(), SessionError> {
        let now = self.clock.now();
        let mut state = self.lock()?;
        if let Some(w) = state.windows.get_mut(key)
            && w.ends > now
        {
            w.taken = w.taken.saturating_sub(1);
        }
        Ok(())
    }

    async fn taken(&self, key: &str) -> Result<u32, SessionError> {
        let now = self.clock.now();
        let state = self.lock()?;
        Ok(state.windows.get(key).filter(|w| w.ends > now).map_or(0, |w| w.taken))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Counters on Redis (a server or a cluster): each operation is one script on one key, so it
/// runs atomically on the node that owns the key.
pub struct RedisCounters {
    redis: Redis,
    prefix: String,
}

impl RedisCounters {
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self { redis, prefix: format!("{prefix}count:") }
    }
}

/// KEYS[1]: the counter; ARGV[1]: the limit; ARGV[2]: the window in milliseconds.
const ACQUIRE: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
     if n >= tonumber(ARGV[1]) then return 0 end \
     if n == 0 then redis.call('SET', KEYS[1], 1, 'PX', ARGV[2]) else redis.call('INCR', KEYS[1]) end \
     return 1";

/// DECR keeps the key's time to live; a key already at zero or gone is left alone.
const RELEASE: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
     if n > 0 then redis.call('DECR', KEYS[1]) end \
     return 0";

#[rocket::async_trait]
impl Counters for RedisCounters {
    async fn acquire(&self, key: &str, limit: u32, window: Duration) -> Result<bool, SessionError> {
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = format!("{}{key}", self.prefix);
        let taken: i64 =
            self.redis.query(redis::cmd("EVAL").arg(ACQUIRE).arg(1).arg(key).arg(limit).arg(millis)).await?;
        Ok(taken == 1)
    }

    async fn release(&self, key: &str) -> Result<(), SessionError> {
        let key = format!("{}{key}", self.prefix);
        self.redis.query::<i64>(redis::cmd("EVAL").arg(RELEASE).arg(1).arg(key)).await?;
        Ok(())
    }

    async fn taken(&self, key: &str) -> Result<u32, SessionError> {
        let value: Option<i64> = self.redis.query(redis::cmd("GET").arg(format!("{}{key}", self.prefix))).await?;
        Ok(value.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// Counters on memcached: `incr` is atomic on the server that owns the key. A caller whose
/// increment passed the limit takes it back at once, so the count may overshoot for a moment
/// but no more than `limit` callers ever hold a slot together.
pub struct MemcachedCounters {
    memcached: Arc<Memcached>,
    prefix: String,
}

impl MemcachedCounters {
    pub fn new(memcached: Arc<Memcached>, prefix: &str) -> Self {
        Self { memcached, prefix: format!("{prefix}count:") }
    }
}

#[rocket::async_trait]
impl Counters for MemcachedCounters {
    async fn acquire(&self, key: &str, limit: u32, window: Duration) -> Result<bool, SessionError> {
        if limit == 0 {
            return Ok(false);
        }
        let key = format!("{}{key}", self.prefix);
        // memcached counts whole seconds; rounding up never shortens a window.
        let secs = window.as_secs() + u64::from(window.subsec_nanos() > 0);
        let count = self.memcached.increment_or_start(&key, secs).await?;
        if count > u64::from(limit) {
            self.memcached.decrement(&key).await?;
            return Ok(false);
        }
        Ok(true)
    }

    async fn release(&self, key: &str) -> Result<(), SessionError> {
        Ok(self.memcached.decrement(&format!("{}{key}", self.prefix)).await?)
    }

    async fn taken(&self, key: &str) -> Result<u32, SessionError> {
        let value = self.memcached.get(&format!("{}{key}", self.prefix)).await?;
        let count =
            value.and_then(|v| String::from_utf8(v).ok()).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
        Ok(count.min(u64::from(u32::MAX)) as u32)
    }

    fn kind(&self) -> &'static str {
        "memcached"
    }
}
