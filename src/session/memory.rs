//! `SessionStore` in-process: a map with per-record deadlines, swept as it grows, and each
//! user's session keys beside it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SessionData, SessionError, SessionStore};
use crate::clock::{Clock, SystemClock};
use crate::domain::UserId;

struct Record {
    data: SessionData,
    deadline: Instant,
}

#[derive(Default)]
struct Sessions {
    records: HashMap<String, Record>,
    by_user: HashMap<UserId, HashSet<String>>,
}

impl Sessions {
    fn remove(&mut self, key: &str) {
        let Some(record) = self.records.remove(key) else { return };
        if let Some(keys) = self.by_user.get_mut(&record.data.user_id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(&record.data.user_id);
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<String> =
            self.records.iter().filter(|(_, r)| r.deadline <= now).map(|(k, _)| k.clone()).collect();
        for key in expired {
            self.remove(&key);
        }
    }
}

pub struct MemorySessions {
    sessions: Mutex<Sessions>,
    clock: Arc<dyn Clock>,
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl MemorySessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions whose idle deadlines are read on `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { sessions: Mutex::default(), clock }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Sessions>, SessionError> {
        self.sessions.lock().map_err(|_| SessionError::Backend("session map poisoned".into()))
    }
}

#[rocket::async_trait]
impl SessionStore for MemorySessions {
    // In process the records themselves say whose they are: the index needs no lifetime.
    async fn create(
        &self,
        key: &str,
        data: &SessionData,
        idle_ttl: Duration,
        _lifetime: Duration,
    ) -> Result<(), SessionError> {
        let now = self.clock.now();
        let mut sessions = self.lock()?;
        // Amortised sweep: expired records go whenever the map doubles past a floor, so the
        // map's size tracks live sessions without a background task.
        if sessions.records.len() >= 1024 && sessions.records.len().is_power_of_two() {
            sessions.sweep(now);
        }
        sessions.remove(key);
        sessions.records.insert(key.to_owned(), Record { data: data.clone(), deadline: now + idle_ttl });
        sessions.by_user.entry(data.user_id).or_default().insert(key.to_owned());
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError> {
        let now = self.clock.now();
        let mut sessions = self.lock()?;
        match sessions.records.get(key) {
            Some(r) if r.deadline > now => Ok(Some(r.data.clone())),
            Some(_) => {
                sessions.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError> {
        let now = self.clock.now();
        let mut sessions = self.lock()?;
        match sessions.records.get_mut(key) {
            Some(r) if r.deadline > now => {
                r.deadline = now + idle_ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn destroy(&self, key: &str) -> Result<(), SessionError> {
        self.lock()?.remove(key);
        Ok(())
    }

    async fn destroy_all_of(&self, user: UserId) -> Result<(), SessionError> {
        let mut sessions = self.lock()?;
        for key in sessions.by_user.remove(&user).unwrap_or_default() {
            sessions.records.remove(&key);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), SessionError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
