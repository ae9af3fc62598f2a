//! The line: one request as the tutorial's Apache `LogFormat` lays it out, as JSON with every
//! value a string, and how a line read back becomes an event of the traffic query.
//!
//! Bounded fields: a client writes its own User-Agent, Referer and path, so each is cut to a
//! fixed size (escapes counted) with a visible mark, and a whole line has a known maximum.

use serde::{Deserialize, Serialize};

/// One request, exactly as the tutorial's Apache `LogFormat` lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLine {
    /// Apache `%t`: `[28/Nov/2026:02:00:00 +0000]`.
    pub request_time: String,
    pub client_ip: String,
    /// Apache `%h` without reverse DNS lookups: the client's address again.
    pub client_hostname: String,
    pub server_ip: String,
    /// The path, without the query string (Apache `%U`).
    pub request: String,
    pub http_method: String,
    pub status: String,
    /// Response body bytes (Apache `%B`).
    pub size: String,
    #[serde(rename = "userAgent")]
    pub user_agent: String,
    pub referer: String,
}

/// The Redis Stream field each entry's JSON line is stored under.
pub const STREAM_FIELD: &str = "line";

const APACHE_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[[[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]]"
);

/// `unix` seconds in Apache's `%t` format, in UTC.
pub fn apache_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(APACHE_TIME).ok()).unwrap_or_default()
}

/// The Unix time of an Apache `%t` timestamp, any offset; `None` when it is not one.
pub fn parse_apache_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, APACHE_TIME).ok().map(|t| t.unix_timestamp())
}

/// Lines dated further ahead of this machine's clock are skipped: clocks of a fleet differ by
/// seconds, and a line from next year (a forged one) would otherwise hold `--follow`'s windows
/// open until then.
pub const FUTURE_HORIZON_SECS: i64 = 5 * 60;

/// Lines dated more than ten years back are skipped as well (a forged line dated 1970 would
/// otherwise open a window of its own); older archives are not what this reads.
pub const PAST_HORIZON_SECS: i64 = 10 * 366 * 24 * 3600;

/// What one line read back is to the traffic query.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// An access log line: its Unix time and client.
    Request(i64, String),
    /// Not valid UTF-8, not JSON, or not the ten string fields of an access log line.
    Unreadable,
    /// An access log line dated beyond the horizons around `now`.
    OutOfRange,
}

impl Event {
    /// The event of one line (without its line break), judged against the clock `now`.
    pub fn parse(line: &[u8], now: i64) -> Self {
        let Ok(text) = std::str::from_utf8(line) else {
            return Event::Unreadable;
        };
        let Ok(line) = serde_json::from_str::<AccessLine>(text) else {
            return Event::Unreadable;
        };
        match parse_apache_time(&line.request_time) {
            None => Event::Unreadable,
            Some(time) if time > now + FUTURE_HORIZON_SECS || time < now - PAST_HORIZON_SECS => Event::OutOfRange,
            Some(time) => Event::Request(time, line.client_ip),
        }
    }
}

/// The most a client-written field takes in the JSON line, escapes and mark included.
pub const FIELD_CAP: usize = 1024;

/// Ends a field that was cut.
pub const TRUNCATION_MARK: &str = "…[truncated]";

/// The longest JSON line: three capped fields (path, User-Agent, Referer), the seven short
/// ones (a time, addresses of at most 45 characters, method, status, size) and the keys.
pub const MAX_LINE_BYTES: usize = 3 * FIELD_CAP + 512;

/// How many bytes `c` takes inside a JSON string as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `value`, cut on a character boundary so that its JSON form takes at most [`FIELD_CAP`]
/// bytes, the mark included.
pub fn capped(value: &str) -> String {
    let mut used = 0;
    for (i, c) in value.char_indices() {
        used += escaped_len(c);
        if used > FIELD_CAP {
            let mut keep = 0;
            let mut kept_len = 0;
            for (j, c) in value[..i].char_indices() {
                if kept_len + escaped_len(c) + TRUNCATION_MARK.len() > FIELD_CAP {
                    break;
                }
                kept_len += escaped_len(c);
                keep = j + c.len_utf8();
            }
            return format!("{}{TRUNCATION_MARK}", &value[..keep]);
        }
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_831_200; // 2026-11-28T02:00:00Z

    #[test]
    fn request_time_is_apache_percent_t_in_utc() {
        assert_eq!(apache_time(T0), "[28/Nov/2026:02:00:00 +0000]");
        assert_eq!(parse_apache_time("[28/Nov/2026:02:00:00 +0000]"), Some(T0));
        assert_eq!(parse_apache_time("[28/Nov/2026:03:00:00 +0100]"), Some(T0));
        assert_eq!(parse_apache_time("28/Nov/2026"), None);
    }

    fn line(time: &str, ip: &str) -> String {
        format!(
            r#"{{"request_time":"{time}","client_ip":"{ip}","client_hostname":"{ip}","server_ip":"10.0.0.1","request":"/","http_method":"GET","status":"200","size":"5","userAgent":"-","referer":"-"}}"#
        )
    }

    #[test]
    fn access_log_lines_parse_and_other_lines_do_not() {
        let good = line("[28/Nov/2026:02:00:07 +0000]", "203.0.113.7");
        assert_eq!(Event::parse(good.as_bytes(), T0), Event::Request(T0 + 7, "203.0.113.7".into()));
        assert_eq!(Event::parse(b"GET / HTTP/1.1", T0), Event::Unreadable);
        assert_eq!(Event::parse(line("yesterday", "x").as_bytes(), T0), Event::Unreadable);
        let two_fields = r#"{"request_time":"[28/Nov/2026:02:00:07 +0000]","client_ip":"203.0.113.7"}"#;
        assert_eq!(Event::parse(two_fields.as_bytes(), T0), Event::Unreadable, "not the ten fields");
        let mut invalid_utf8 = good.clone().into_bytes();
        invalid_utf8[40] = 0xff;
        assert_eq!(Event::parse(&invalid_utf8, T0), Event::Unreadable);
        let cut = &good.as_bytes()[..good.len() / 2];
        assert_eq!(Event::parse(cut, T0), Event::Unreadable);
    }

    #[test]
    fn lines_far_from_the_clock_are_out_of_range() {
        let future = line("[28/Nov/9999:02:00:07 +0000]", "6.6.6.6");
        assert_eq!(Event::parse(future.as_bytes(), T0), Event::OutOfRange);
        let skewed = line("[28/Nov/2026:02:04:00 +0000]", "a");
        assert_eq!(Event::parse(skewed.as_bytes(), T0), Event::Request(T0 + 240, "a".into()), "within 5 minutes");
        let ancient = line("[01/Jan/1971:00:00:00 +0000]", "a");
        assert_eq!(Event::parse(ancient.as_bytes(), T0), Event::OutOfRange);
    }

    fn json_len(value: &str) -> usize {
        serde_json::to_string(value).expect("json").len() - 2
    }

    #[test]
    fn short_values_are_kept_whole() {
        assert_eq!(capped("ab/2.3"), "ab/2.3");
        let exact = "x".repeat(FIELD_CAP);
        assert_eq!(capped(&exact), exact);
    }

    #[test]
    fn long_values_are_cut_with_a_mark_within_the_cap_escapes_counted() {
        for hostile in ["a".repeat(400_000), "\"".repeat(5000), "\u{1}".repeat(5000), "é€😀".repeat(3000)] {
            let cut = capped(&hostile);
            assert!(cut.ends_with(TRUNCATION_MARK), "{}", &cut[cut.len() - 20..]);
            assert!(json_len(&cut) <= FIELD_CAP, "{} > {FIELD_CAP}", json_len(&cut));
            assert!(json_len(&cut) > FIELD_CAP - 16, "not cut far below the cap: {}", json_len(&cut));
            assert!(hostile.starts_with(cut.trim_end_matches(TRUNCATION_MARK)));
        }
    }

    #[test]
    fn a_line_of_the_longest_fields_stays_within_max_line_bytes() {
        let long = capped(&"\"".repeat(100_000));
        let address = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".to_owned();
        let line = AccessLine {
            request_time: "[28/Nov/2026:02:00:00 +0000]".into(),
            client_ip: address.clone(),
            client_hostname: address.clone(),
            server_ip: address,
            request: long.clone(),
            http_method: "OPTIONS".into(),
            status: "431".into(),
            size: u64::MAX.to_string(),
            user_agent: long.clone(),
            referer: long,
        };
        let json = serde_json::to_string(&line).expect("json");
        assert!(json.len() <= MAX_LINE_BYTES, "{} > {MAX_LINE_BYTES}", json.len());
    }
}
