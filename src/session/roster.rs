//! The fleet's roster: every instance announces itself where sessions live (the server every
//! instance shares) with a heartbeat, and drops off by itself when its beats stop.
//!
//! memcached cannot list keys, so its roster is a fixed set of slots: an instance claims a
//! free slot with memcached's atomic `incr`-or-`add` (the first claimer sees 1), keeps its
//! record and claim alive by beating, and a reader fetches every slot. Redis keeps one key per
//! instance plus a set of their ids under one hash tag, so a cluster answers from one node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::SessionError;
use crate::clock::{Clock, SystemClock};
use crate::remote::memcached::Memcached;
use crate::remote::redis::Redis;

/// One instance's heartbeat: who it is and how busy it was over its last minute or so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceBeat {
    /// `instance_id` when configured, else `host:port`: unique within one site.
    pub id: String,
    /// `host:port` it serves on.
    pub address: String,
    /// Unix seconds when the process started.
    pub started_at: i64,
    /// Unix seconds of this beat.
    pub beat_at: i64,
    pub requests_per_sec: f64,
    pub in_flight: i64,
    /// The tutorial level it runs, if any.
    pub level: Option<String>,
}

/// The live instances of one site (one key prefix).
#[rocket::async_trait]
pub trait Roster: Send + Sync + 'static {
    /// Announces `beat` under `beat.id`, replacing that id's earlier beat (never listed twice).
    /// The instance stays listed until `ttl` passes without another beat from it; a beat
    /// after that announces it anew. Every handle sharing the backend sees it.
    async fn beat(&self, beat: &InstanceBeat, ttl: Duration) -> Result<(), SessionError>;

    /// Every instance whose latest beat is younger than its `ttl`, each once, sorted by id;
    /// `Ok(vec![])` when there are none. A corrupt record is skipped, not an error.
    async fn list(&self) -> Result<Vec<InstanceBeat>, SessionError>;

    /// Removes `id` at once (a clean shutdown); `Ok(())` as well when it is not listed
    /// (idempotent).
    async fn leave(&self, id: &str) -> Result<(), SessionError>;

    /// A short name for status pages: `memory`, `redis`, `memcached`.
    fn kind(&self) -> &'static str;
}

fn sorted(mut beats: Vec<InstanceBeat>) -> Vec<InstanceBeat> {
    beats.sort_by(|a, b| a.id.cmp(&b.id));
    beats.dedup_by(|later, earlier| later.id == earlier.id);
    beats
}

/// The single profile's roster: this process alone, in a map.
pub struct MemoryRoster {
    beats: Mutex<Beats>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryRoster {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

/// Each id's latest beat and when it expires.
type Beats = HashMap<String, (InstanceBeat, Instant)>;

impl MemoryRoster {
    /// A roster whose beats expire on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { beats: Mutex::default(), clock }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Beats>, SessionError> {
        self.beats.lock().map_err(|_| SessionError::Backend("roster map poisoned".into()))
    }
}

#[rocket::async_trait]
impl Roster for MemoryRoster {
    async fn beat(&self, beat: &InstanceBeat, ttl: Duration) -> Result<(), SessionError> {
        let now = self.clock.now();
        let mut beats = self.lock()?;
        // Swept here, so the map holds no more than the instances beating within one ttl.
        beats.retain(|_, (_, until)| *until > now);
        beats.insert(beat.id.clone(), (beat.clone(), now + ttl));
        Ok(())
    }

    async fn list(&self) -> Result<Vec<InstanceBeat>, SessionError> {
        let now = self.clock.now();
        let beats = self.lock()?;
        Ok(sorted(beats.values().filter(|(_, until)| *until > now).map(|(beat, _)| beat.clone()).collect()))
    }

    async fn leave(&self, id: &str) -> Result<(), SessionError> {
        self.lock()?.remove(id);
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// The roster on Redis (a server or a cluster): `<prefix>{instances}:<id>` holds each beat
/// with the ttl as its expiry, `<prefix>{instances}` the set of ids; ids whose record expired
/// are removed from the set when a reader finds them gone.
pub struct RedisRoster {
    redis: Redis,
    prefix: String,
}

impl RedisRoster {
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self { redis, prefix: format!("{prefix}{{instances}}") }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }
}

#[rocket::async_trait]
impl Roster for RedisRoster {
    async fn beat(&self, beat: &InstanceBeat, ttl: Duration) -> Result<(), SessionError> {
        let json = serde_json::to_vec(beat)?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("SET")
            .arg(self.key(&beat.id))
            .arg(json)
            .arg("PX")
            .arg(millis)
            .ignore()
            .cmd("SADD")
            .arg(&self.prefix)
            .arg(&beat.id)
            .ignore()
            // The set outlives its last instance briefly, then goes too.
            .cmd("PEXPIRE")
            .arg(&self.prefix)
            .arg(millis.saturating_mul(10))
            .ignore();
        self.redis.pipeline::<()>(&pipeline).await?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<InstanceBeat>, SessionError> {
        let ids: Vec<String> = self.redis.query(redis::cmd("SMEMBERS").arg(&self.prefix)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let values: Vec<Option<Vec<u8>>> = self.redis.query(redis::cmd("MGET").arg(&keys)).await?;
        let mut beats = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for (id, value) in ids.iter().zip(values) {
            match value {
                Some(json) => beats.extend(serde_json::from_slice::<InstanceBeat>(&json).ok()),
                None => gone.push(id),
            }
        }
        if !gone.is_empty() {
            self.redis.query::<i64>(redis::cmd("SREM").arg(&self.prefix).arg(&gone)).await?;
        }
        Ok(sorted(beats))
    }

    async fn leave(&self, id: &str) -> Result<(), SessionError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("DEL").arg(self.key(id)).ignore().cmd("SREM").arg(&self.prefix).arg(id).ignore();
        self.redis.pipeline::<()>(&pipeline).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// The roster on memcached: [`MemcachedRoster::SLOTS`] slots, each a claim counter and a record.
///
/// Claiming is atomic (only one `incr`-or-`add` sees 1). An instance stalled past its ttl may
/// find its slot taken when it wakes: it sees another id in the record at its next beat and
/// claims another slot, so two instances share a slot for at most one beat.
pub struct MemcachedRoster {
    memcached: Arc<Memcached>,
    prefix: String,
    /// The slot each id beating through this handle holds.
    held: Mutex<HashMap<String, usize>>,
}

impl MemcachedRoster {
    /// How many instances one site can list: a reader fetches every slot.
    pub const SLOTS: usize = 32;

    pub fn new(memcached: Arc<Memcached>, prefix: &str) -> Self {
        Self { memcached, prefix: format!("{prefix}instance-"), held: Mutex::new(HashMap::new()) }
    }

    fn claim_key(&self, slot: usize) -> String {
        format!("{}claim:{slot}", self.prefix)
    }

    fn record_key(&self, slot: usize) -> String {
        format!("{}slot:{slot}", self.prefix)
    }

    fn held(&self, id: &str) -> Result<Option<usize>, SessionError> {
        let held = self.held.lock().map_err(|_| SessionError::Backend("roster slots poisoned".into()))?;
        Ok(held.get(id).copied())
    }

    fn hold(&self, id: &str, slot: Option<usize>) -> Result<(), SessionError> {
        let mut held = self.held.lock().map_err(|_| SessionError::Backend("roster slots poisoned".into()))?;
        match slot {
            Some(slot) => held.insert(id.to_owned(), slot),
            None => held.remove(id),
        };
        Ok(())
    }

    async fn record(&self, slot: usize) -> Result<Option<InstanceBeat>, SessionError> {
        let value = self.memcached.get(&self.record_key(slot)).await?;
        Ok(value.and_then(|json| serde_json::from_slice(&json).ok()))
    }

    /// Keeps `slot` for `beat.id` when it still holds it; `false` when another took it.
    async fn keep(&self, slot: usize, beat: &InstanceBeat, secs: u64) -> Result<bool, SessionError> {
        if self.record(slot).await?.is_some_and(|other| other.id != beat.id) {
            return Ok(false);
        }
        if !self.memcached.touch(&self.claim_key(slot), secs).await?
            && self.memcached.increment_or_start(&self.claim_key(slot), secs).await? != 1
        {
            return Ok(false);
        }
        Ok(true)
    }
}

#[rocket::async_trait]
impl Roster for MemcachedRoster {
    async fn beat(&self, beat: &InstanceBeat, ttl: Duration) -> Result<(), SessionError> {
        // memcached counts whole seconds; rounding up never drops a live instance early.
        let secs = (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).max(1);
        let json = serde_json::to_vec(beat)?;
        let mut slot = match self.held(&beat.id)? {
            Some(slot) if self.keep(slot, beat, secs).await? => Some(slot),
            _ => None,
        };
        if slot.is_none() {
            for candidate in 0..Self::SLOTS {
                if self.memcached.increment_or_start(&self.claim_key(candidate), secs).await? == 1 {
                    slot = Some(candidate);
                    break;
                }
            }
        }
        let Some(slot) = slot else {
            self.hold(&beat.id, None)?;
            return Err(SessionError::Backend(format!("all {} roster slots are taken", Self::SLOTS)));
        };
        self.memcached.set(&self.record_key(slot), &json, secs).await?;
        self.hold(&beat.id, Some(slot))
    }

    async fn list(&self) -> Result<Vec<InstanceBeat>, SessionError> {
        let mut beats = Vec::new();
        for slot in 0..Self::SLOTS {
            beats.extend(self.record(slot).await?);
        }
        // Two slots may name one id for a beat (see the type's note): the newer beat wins.
        beats.sort_by_key(|beat| std::cmp::Reverse(beat.beat_at));
        let mut seen = std::collections::HashSet::new();
        beats.retain(|beat| seen.insert(beat.id.clone()));
        Ok(sorted(beats))
    }

    async fn leave(&self, id: &str) -> Result<(), SessionError> {
        // Any handle may say an instance left, so every slot is checked, not only ours.
        for slot in 0..Self::SLOTS {
            if self.record(slot).await?.is_some_and(|beat| beat.id == id) {
                self.memcached.delete(&self.record_key(slot)).await?;
                self.memcached.delete(&self.claim_key(slot)).await?;
            }
        }
        self.hold(id, None)
    }

    fn kind(&self) -> &'static str {
        "memcached"
    }
}
