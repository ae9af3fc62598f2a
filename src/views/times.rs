//! Times on pages. The page says how long ago in the words app.js would write (English
//! `Intl.RelativeTimeFormat`, `numeric: "auto"`, the unit app.js picks), so a page reads the
//! same before and after the script runs and nothing below a time moves when it does; on a
//! phone a longer date wrapped a line that the script then took away. The exact time goes in
//! the tooltip.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, PrimitiveDateTime, Time};

/// app.js's `UNITS`: the first one the time is at least one of is the one said.
const UNITS: [(&str, i64); 6] = [
    ("year", 365 * 24 * 3600),
    ("month", 30 * 24 * 3600),
    ("week", 7 * 24 * 3600),
    ("day", 24 * 3600),
    ("hour", 3600),
    ("minute", 60),
];

/// `2026-11-28T18:10:41Z`, the form pages are given, as its parts.
fn parse(rfc3339: &str) -> Option<PrimitiveDateTime> {
    let (date, clock) = rfc3339.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i32>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut clock = clock.get(..8)?.splitn(3, ':').map(str::parse::<u8>);
    let (hour, minute, second) = (clock.next()?.ok()?, clock.next()?.ok()?, clock.next()?.ok()?);
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, Time::from_hms(hour, minute, second).ok()?))
}

/// `2026-11-28T18:10:41Z` → `28 Nov 2026, 18:10 UTC`. Anything unreadable is shown as it came.
pub fn when(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Some(at) = parse(rfc3339) else { return rfc3339.to_owned() };
    let month = MONTHS[usize::from(u8::from(at.month())) - 1];
    format!("{} {month} {}, {:02}:{:02} UTC", at.day(), at.year(), at.hour(), at.minute())
}

/// `2026-11-28T18:10:41Z` → `3 hours ago`, counted from now. Anything unreadable is shown as it
/// came.
pub fn ago(rfc3339: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    match parse(rfc3339) {
        Some(at) => ago_from(at.assume_utc().unix_timestamp().saturating_mul(1000), now),
        None => rfc3339.to_owned(),
    }
}

/// The words for a time `then` seen at `now`, both in milliseconds since the epoch, as the
/// script counts them.
fn ago_from(then: i64, now: i64) -> String {
    let millis = then.saturating_sub(now);
    let Some(&(unit, seconds)) = UNITS.iter().find(|(_, size)| millis.unsigned_abs() >= size.unsigned_abs() * 1000)
    else {
        return "now".to_owned();
    };
    let size = i128::from(seconds) * 1000;
    // JavaScript's Math.round: halves go up, toward the future.
    let count = (2 * i128::from(millis) + size).div_euclid(2 * size);
    let plural = if count.unsigned_abs() == 1 { "" } else { "s" };
    match (count, unit) {
        (-1, "day") => "yesterday".to_owned(),
        (1, "day") => "tomorrow".to_owned(),
        (-1, "week" | "month" | "year") => format!("last {unit}"),
        (1, "week" | "month" | "year") => format!("next {unit}"),
        (count, _) if count < 0 => format!("{} {unit}{plural} ago", count.unsigned_abs()),
        _ => format!("in {count} {unit}{plural}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ago, ago_from, when};

    #[test]
    fn exact_times_read_as_words_and_odd_ones_pass_through() {
        assert_eq!(when("2026-11-28T18:10:41Z"), "28 Nov 2026, 18:10 UTC");
        assert_eq!(when("2026-01-02T03:04:05Z"), "2 Jan 2026, 03:04 UTC");
        for odd in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "yesterday",
            "2026-11-28 18:10Z",
        ] {
            assert_eq!(when(odd), odd);
            assert_eq!(ago(odd), odd);
        }
    }

    /// Each expectation is what app.js writes in an English browser for the same two times.
    #[test]
    fn how_long_ago_in_the_scripts_words() {
        let now = 1_800_000_000;
        let minute = 60;
        let hour = 60 * minute;
        let day = 24 * hour;
        for (before, words) in [
            (0, "now"),
            (59, "now"),
            (minute, "1 minute ago"),
            (90, "1 minute ago"),
            (91, "2 minutes ago"),
            (59 * minute, "59 minutes ago"),
            (hour, "1 hour ago"),
            (23 * hour, "23 hours ago"),
            (day, "yesterday"),
            (day + 12 * hour, "yesterday"),
            (day + 12 * hour + 1, "2 days ago"),
            (6 * day, "6 days ago"),
            (7 * day, "last week"),
            (11 * day, "2 weeks ago"),
            (29 * day, "4 weeks ago"),
            (30 * day, "last month"),
            (364 * day, "12 months ago"),
            (365 * day, "last year"),
            (3 * 365 * day, "3 years ago"),
        ] {
            assert_eq!(ago_from((now - before) * 1000, now * 1000), words, "{before} s before");
        }
        for (after, words) in [
            (30, "now"),
            (2 * minute, "in 2 minutes"),
            (day, "tomorrow"),
            (8 * day, "next week"),
            (800 * day, "in 2 years"),
        ] {
            assert_eq!(ago_from((now + after) * 1000, now * 1000), words, "{after} s after");
        }
    }
}
