//! Bounded fields: a client writes its own User-Agent, Referer and path, so each is cut to a
//! fixed size (escapes counted) with a visible mark, and a whole line has a known maximum.

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
    use crate::access_log::AccessLine;

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
