//! Failed-login throttling per client IP over a sliding minute.
//!
//! governor's GCRA limiter was considered: it can only test a key by consuming from it, while
//! this rule needs "is this IP blocked?" before a check and "count a failure" only after one,
//! so that successful logins never count. A map of recent failure instants states it exactly.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

pub struct LoginThrottle {
    max_failures: usize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(max_failures_per_minute: u32) -> Self {
        Self { max_failures: max_failures_per_minute as usize, failures: Mutex::new(HashMap::new()) }
    }

    /// True while `ip` has `max_failures` or more failures within the last minute.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        self.is_blocked_at(ip, Instant::now())
    }

    pub fn record_failure(&self, ip: IpAddr) {
        self.record_failure_at(ip, Instant::now());
    }

    fn is_blocked_at(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return false;
        };
        match map.get_mut(&ip) {
            Some(times) => {
                prune(times, now);
                times.len() >= self.max_failures
            }
            None => false,
        }
    }

    fn record_failure_at(&self, ip: IpAddr, now: Instant) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() > 10_000 {
            map.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        let times = map.entry(ip).or_default();
        prune(times, now);
        times.push_back(now);
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_and_forgets_after_a_minute() {
        let throttle = LoginThrottle::new(3);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!throttle.is_blocked_at(ip, t0), "not blocked after {i}");
            throttle.record_failure_at(ip, t0);
        }
        assert!(throttle.is_blocked_at(ip, t0 + Duration::from_secs(59)));
        assert!(!throttle.is_blocked_at(other, t0));
        assert!(!throttle.is_blocked_at(ip, t0 + Duration::from_secs(60)));
    }
}
