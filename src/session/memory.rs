//! `SessionStore` in-process: a map with per-record deadlines, swept as it grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{SessionData, SessionError, SessionStore};

struct Record {
    data: SessionData,
    deadline: Instant,
}

#[derive(Default)]
pub struct MemorySessions {
    records: Mutex<HashMap<String, Record>>,
}

impl MemorySessions {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Record>>, SessionError> {
        self.records.lock().map_err(|_| SessionError::Backend("session map poisoned".into()))
    }
}

#[rocket::async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, key: &str, data: &SessionData, idle_ttl: Duration) -> Result<(), SessionError> {
        let now = Instant::now();
        let mut records = self.lock()?;
        // Amortised sweep: expired records go whenever the map doubles past a floor, so the
        // map's size tracks live sessions without a background task.
        if records.len() >= 1024 && records.len().is_power_of_two() {
            records.retain(|_, r| r.deadline > now);
        }
        records.insert(key.to_owned(), Record { data: data.clone(), deadline: now + idle_ttl });
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError> {
        let now = Instant::now();
        let mut records = self.lock()?;
        match records.get(key) {
            Some(r) if r.deadline > now => Ok(Some(r.data.clone())),
            Some(_) => {
                records.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError> {
        let now = Instant::now();
        let mut records = self.lock()?;
        match records.get_mut(key) {
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

    async fn ping(&self) -> Result<(), SessionError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
