//! The tutorial's Kinesis Analytics query: requests per client IP per tumbling window, by
//! event time (each line's `request_time`), windows aligned to multiples of their length since
//! the Unix epoch (the query's `FLOOR`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// One row of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowCount {
    /// RFC 3339, UTC.
    pub window_start: String,
    pub client_ip: String,
    pub request_count: u64,
}

/// Counts per window and client, emitting each window once it can no longer change.
pub struct Windows {
    length: i64,
    grace: i64,
    open: BTreeMap<i64, HashMap<String, u64>>,
    /// Every window starting before this has been emitted.
    emitted_before: i64,
    /// The latest event time seen.
    watermark: i64,
    /// Events that arrived after their window was emitted (they are not counted).
    pub late: u64,
}

/// `unix` in RFC 3339, UTC, with a `Z`.
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl Windows {
    /// Windows of `length` seconds; a window is final `grace` seconds after it ends.
    pub fn new(length: u64, grace: u64) -> Self {
        let length = i64::try_from(length.max(1)).unwrap_or(i64::MAX);
        let grace = i64::try_from(grace).unwrap_or(i64::MAX);
        Self { length, grace, open: BTreeMap::new(), emitted_before: i64::MIN, watermark: i64::MIN, late: 0 }
    }

    /// The start of the window holding `unix`: the largest multiple of the length not after it.
    pub fn start_of(&self, unix: i64) -> i64 {
        unix.div_euclid(self.length) * self.length
    }

    pub fn add(&mut self, unix: i64, client_ip: &str) {
        let start = self.start_of(unix);
        if start < self.emitted_before {
            self.late += 1;
            return;
        }
        self.watermark = self.watermark.max(unix);
        let counts = self.open.entry(start).or_default();
        match counts.get_mut(client_ip) {
            Some(count) => *count += 1,
            None => {
                counts.insert(client_ip.to_owned(), 1);
            }
        }
    }

    /// The windows that ended at least `grace` before `now` (or before the latest event, when
    /// that is later: a replayed log closes windows by its own clock), in window order.
    pub fn close_ready(&mut self, now: i64) -> Vec<WindowCount> {
        let horizon = now.max(self.watermark).saturating_sub(self.grace);
        // A window [start, start + length) is final when start + length <= horizon.
        let first_open = self.start_of(horizon.saturating_sub(self.length)) + self.length;
        let keep = self.open.split_off(&first_open);
        let ready = std::mem::replace(&mut self.open, keep);
        self.emitted_before = self.emitted_before.max(first_open);
        Self::rows(ready)
    }

    /// Every window still open, in window order (the end of a finite log).
    pub fn close_all(&mut self) -> Vec<WindowCount> {
        let ready = std::mem::take(&mut self.open);
        if let Some((&last, _)) = ready.last_key_value() {
            self.emitted_before = last + self.length;
        }
        Self::rows(ready)
    }

    fn rows(windows: BTreeMap<i64, HashMap<String, u64>>) -> Vec<WindowCount> {
        let mut rows = Vec::new();
        for (start, counts) in windows {
            let mut counts: Vec<_> = counts.into_iter().collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let window_start = rfc3339(start);
            rows.extend(counts.into_iter().map(|(client_ip, request_count)| WindowCount {
                window_start: window_start.clone(),
                client_ip,
                request_count,
            }));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_831_200; // 2026-11-28T02:00:00Z, a multiple of 10

    fn row(start: &str, ip: &str, n: u64) -> WindowCount {
        WindowCount { window_start: start.into(), client_ip: ip.into(), request_count: n }
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_edges_belong_to_the_next_window() {
        let mut w = Windows::new(10, 0);
        for (t, ip) in [(T0, "a"), (T0 + 9, "a"), (T0 + 9, "b"), (T0 + 10, "a"), (T0 + 19, "a"), (T0 + 25, "c")] {
            w.add(t, ip);
        }
        assert_eq!(
            w.close_all(),
            vec![
                row("2026-11-28T02:00:00Z", "a", 2),
                row("2026-11-28T02:00:00Z", "b", 1),
                row("2026-11-28T02:00:10Z", "a", 2),
                row("2026-11-28T02:00:20Z", "c", 1),
            ]
        );
        assert_eq!(w.start_of(T0 + 7), T0);
        assert_eq!(Windows::new(60, 0).start_of(T0 + 59), T0);
        assert_eq!(Windows::new(10, 0).start_of(-1), -10, "before the epoch too");
    }

    #[test]
    fn a_window_closes_after_its_grace_by_the_injected_clock() {
        let mut w = Windows::new(10, 2);
        w.add(T0 + 3, "a");
        w.add(T0 + 8, "b");
        assert!(w.close_ready(T0 + 11).is_empty(), "ended at +10, grace until +12");
        w.add(T0 + 9, "a"); // late but within grace: counted
        assert_eq!(
            w.close_ready(T0 + 12),
            vec![row("2026-11-28T02:00:00Z", "a", 2), row("2026-11-28T02:00:00Z", "b", 1)]
        );
        w.add(T0 + 5, "a"); // after its window was emitted: not counted
        assert_eq!(w.late, 1);
        w.add(T0 + 14, "c");
        assert!(w.close_ready(T0 + 13).is_empty());
        assert_eq!(w.close_ready(T0 + 40), vec![row("2026-11-28T02:00:10Z", "c", 1)]);
        assert!(w.close_all().is_empty());
    }

    #[test]
    fn the_latest_event_closes_windows_when_a_log_is_replayed() {
        let mut w = Windows::new(10, 2);
        w.add(T0 + 1, "a");
        w.add(T0 + 30, "b");
        // The clock (here: the epoch) is far behind the events; their own time closes the first window.
        assert_eq!(w.close_ready(0), vec![row("2026-11-28T02:00:00Z", "a", 1)]);
    }
}
