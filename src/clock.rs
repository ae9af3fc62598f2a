//! The time that decides expiry in process: session idle and absolute timeouts, the login
//! throttle's windows, cache entries' time to live, the roster's heartbeats. Held as
//! `Arc<dyn Clock>` by whatever decides (built once per `App`, never global): the system clock
//! in production, a `ManualClock` in tests, which then advance it instead of sleeping.
//!
//! Expiry that a shared server decides (Redis and memcached time to live) runs on that server's
//! clock and is not covered by this one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What time it is, for deciding whether something has expired.
pub trait Clock: Send + Sync + 'static {
    /// A monotonic instant: on one clock, never earlier than one it returned before.
    fn now(&self) -> Instant;

    /// Wall time in Unix seconds, for instants that outlive the process (a session's creation,
    /// shared between instances). Moves together with `now` on a `ManualClock`.
    fn unix_now(&self) -> i64;
}

/// The operating system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_now(&self) -> i64 {
        crate::domain::now_unix()
    }
}

/// A clock that stands still until `advance` moves it: it starts at the system's time when
/// made, so instants and Unix times it gives mix with real ones.
#[derive(Debug)]
pub struct ManualClock {
    started: Instant,
    started_unix: i64,
    advanced_nanos: AtomicU64,
}

impl ManualClock {
    /// How far the clock goes at most: a century, far past any time to live.
    pub const MAX_ADVANCE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

    pub fn new() -> Self {
        Self { started: Instant::now(), started_unix: crate::domain::now_unix(), advanced_nanos: AtomicU64::new(0) }
    }

    /// Moves the clock `by` forward; it stops at `MAX_ADVANCE` past its start, so an instant it
    /// gives can always be represented.
    pub fn advance(&self, by: Duration) {
        let (by, max) = (u64::try_from(by.as_nanos()).unwrap_or(u64::MAX), Self::MAX_ADVANCE.as_nanos() as u64);
        let _ = self
            .advanced_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(by).min(max)));
    }

    fn advanced(&self) -> Duration {
        Duration::from_nanos(self.advanced_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.started + self.advanced()
    }

    fn unix_now(&self) -> i64 {
        self.started_unix.saturating_add(i64::try_from(self.advanced().as_secs()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_both_readings_move_together() {
        let clock = ManualClock::new();
        let (at, unix) = (clock.now(), clock.unix_now());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(clock.now(), at, "stands still");
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - at, Duration::from_millis(1500));
        assert_eq!(clock.unix_now() - unix, 1);
    }
}
