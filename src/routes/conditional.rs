//! Conditional and range requests for `/media` (RFC 9110 §13 and §14), evaluated in the
//! RFC's order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since, then Range
//! with If-Range. Only single ranges are served as 206; a multi-range request gets the whole
//! blob (200), which the RFC allows and a browser or download manager copes with.

use std::borrow::Cow;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use rocket::request::{FromRequest, Outcome, Request};

/// The headers that decide a `/media` response's status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'r> {
    pub if_match: Option<&'r str>,
    pub if_unmodified_since: Option<&'r str>,
    pub if_none_match: Option<&'r str>,
    pub if_modified_since: Option<&'r str>,
    pub range: Option<&'r str>,
    pub if_range: Option<&'r str>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Conditions<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        // One pass over the request's few headers: each `get_one` hashes its name (SipHash,
        // byte by byte, case-folded), and six of them cost a thumbnail more than its lookup.
        let mut conditions = Conditions::default();
        for header in request.headers().iter() {
            // `iter` lends each value out of the map, so this always matches: a `&'r str`.
            let Cow::Borrowed(value) = header.value else { continue };
            let name = header.name.as_str();
            let slot = if name.eq_ignore_ascii_case("If-Match") {
                &mut conditions.if_match
            } else if name.eq_ignore_ascii_case("If-Unmodified-Since") {
                &mut conditions.if_unmodified_since
            } else if name.eq_ignore_ascii_case("If-None-Match") {
                &mut conditions.if_none_match
            } else if name.eq_ignore_ascii_case("If-Modified-Since") {
                &mut conditions.if_modified_since
            } else if name.eq_ignore_ascii_case("Range") {
                &mut conditions.range
            } else if name.eq_ignore_ascii_case("If-Range") {
                &mut conditions.if_range
            } else {
                continue;
            };
            // The first value, as `get_one` would give.
            slot.get_or_insert(value);
        }
        Outcome::Success(conditions)
    }
}

/// What the validators of the stored blob make of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// 412: an If-Match or If-Unmodified-Since the blob does not meet.
    PreconditionFailed,
    /// 304: the client's copy is current.
    NotModified,
    /// 200 with the whole blob.
    Full,
    /// 206 with these bytes.
    Partial(Range<u64>),
    /// 416: a range that starts past the end.
    Unsatisfiable,
}

/// The blob's validators, as [`decide`] compares them.
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: SystemTime,
    pub size: u64,
}

pub fn decide(c: &Conditions<'_>, v: &Validators<'_>) -> Decision {
    let modified = seconds(v.last_modified);
    if let Some(list) = c.if_match {
        if !tag_list_matches(list, v.etag, Comparison::Strong) {
            return Decision::PreconditionFailed;
        }
    } else if let Some(since) = c.if_unmodified_since.and_then(http_date)
        && modified > since
    {
        return Decision::PreconditionFailed;
    }
    if let Some(list) = c.if_none_match {
        if tag_list_matches(list, v.etag, Comparison::Weak) {
            return Decision::NotModified;
        }
    } else if let Some(since) = c.if_modified_since.and_then(http_date)
        && modified <= since
    {
        return Decision::NotModified;
    }
    let Some(range) = c.range else { return Decision::Full };
    if let Some(validator) = c.if_range
        && !if_range_holds(validator, v.etag, modified)
    {
        return Decision::Full;
    }
    match parse_range(range) {
        Some(spec) => match spec.resolve(v.size) {
            Some(bytes) => Decision::Partial(bytes),
            None => Decision::Unsatisfiable,
        },
        // Malformed, another unit, or several ranges: the Range header is ignored.
        None => Decision::Full,
    }
}

/// `Last-Modified`'s value for `time`.
pub fn format_http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

/// HTTP dates have whole seconds: a validator is compared at that precision.
fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn http_date(raw: &str) -> Option<u64> {
    httpdate::parse_http_date(raw.trim()).ok().map(seconds)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether `list` (`*`, or entity tags, weak or strong) matches `etag`. Strong comparison
/// (If-Match) matches no weak tag on either side; weak comparison (If-None-Match) ignores `W/`.
/// A list that does not parse matches nothing.
fn tag_list_matches(list: &str, etag: Option<&str>, comparison: Comparison) -> bool {
    let list = list.trim();
    if list == "*" {
        // The blob exists: `*` matches its current representation.
        return true;
    }
    let Some(etag) = etag else { return false };
    let (ours_weak, ours) = split_weak(etag);
    if ours_weak && comparison == Comparison::Strong {
        return false;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let (weak, tag) = split_weak(rest);
        // A tag's opaque part may hold commas, so the list is split by quotes, not commas.
        let Some(end) = tag.strip_prefix('"').and_then(|t| t.find('"')) else {
            return false;
        };
        if tag[..end + 2] == *ours && !(weak && comparison == Comparison::Strong) {
            return true;
        }
        rest = &tag[end + 2..];
    }
}

fn split_weak(tag: &str) -> (bool, &str) {
    match tag.strip_prefix("W/") {
        Some(strong) => (true, strong),
        None => (false, tag),
    }
}

/// If-Range: an entity tag compared strongly, or a date equal to Last-Modified.
fn if_range_holds(validator: &str, etag: Option<&str>, modified: u64) -> bool {
    let validator = validator.trim();
    if validator.starts_with('"') || validator.starts_with("W/") {
        let (weak, tag) = split_weak(validator);
        return !weak && etag.is_some_and(|ours| !ours.starts_with("W/") && ours == tag);
    }
    http_date(validator) == Some(modified)
}

/// One byte range as sent: `a-b`, `a-` or `-n`.
#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    FromTo(u64, u64),
    From(u64),
    Last(u64),
}

impl RangeSpec {
    /// The bytes within a blob of `size`; `None` when none of them exist (416).
    fn resolve(&self, size: u64) -> Option<Range<u64>> {
        match *self {
            Self::FromTo(first, last) if first < size => Some(first..last.saturating_add(1).min(size)),
            Self::From(first) if first < size => Some(first..size),
            Self::Last(n) if n > 0 && size > 0 => Some(size.saturating_sub(n)..size),
            _ => None,
        }
    }
}

/// A `bytes=` header with exactly one range; `None` for anything else.
fn parse_range(header: &str) -> Option<RangeSpec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, false) => Some(RangeSpec::Last(digits(last)?)),
        (false, true) => Some(RangeSpec::From(digits(first)?)),
        (false, false) => {
            let (first, last) = (digits(first)?, digits(last)?);
            (first <= last).then_some(RangeSpec::FromTo(first, last))
        }
        (true, true) => None,
    }
}

/// ASCII digits as a number, saturating: a position past any blob is still a position.
fn digits(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(raw.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ETAG: &str = "\"a1-b2\"";

    fn validators() -> Validators<'static> {
        Validators {
            etag: Some(ETAG),
            last_modified: UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
            size: 1000,
        }
    }

    fn decide_with(c: Conditions<'_>) -> Decision {
        decide(&c, &validators())
    }

    const MODIFIED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    #[test]
    fn single_ranges_resolve_against_the_size() {
        let range = |r: &'static str| decide_with(Conditions { range: Some(r), ..Conditions::default() });
        assert_eq!(range("bytes=0-99"), Decision::Partial(0..100));
        assert_eq!(range("bytes=990-5000"), Decision::Partial(990..1000));
        assert_eq!(range("bytes=500-"), Decision::Partial(500..1000));
        assert_eq!(range("bytes=-100"), Decision::Partial(900..1000));
        assert_eq!(range("bytes=-5000"), Decision::Partial(0..1000));
        assert_eq!(range("BYTES = 999-999"), Decision::Partial(999..1000));
        assert_eq!(range("bytes=99999999999999999999999-"), Decision::Unsatisfiable);
        for unsatisfiable in ["bytes=1000-", "bytes=1000-2000", "bytes=-0"] {
            assert_eq!(range(unsatisfiable), Decision::Unsatisfiable, "{unsatisfiable}");
        }
        for ignored in ["bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=-", "bytes=a-b", "bytes=+1-2", "0-1", ""] {
            assert_eq!(range(ignored), Decision::Full, "{ignored}");
        }
    }

    #[test]
    fn empty_blobs_satisfy_no_range() {
        let v = Validators { size: 0, ..validators() };
        for r in ["bytes=0-", "bytes=-1", "bytes=0-0"] {
            assert_eq!(decide(&Conditions { range: Some(r), ..Conditions::default() }, &v), Decision::Unsatisfiable);
        }
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let inm = |h: &'static str| decide_with(Conditions { if_none_match: Some(h), ..Conditions::default() });
        for hit in ["\"a1-b2\"", "W/\"a1-b2\"", "\"x\", \"a1-b2\"", "\"x,y\" ,W/\"a1-b2\"", " * "] {
            assert_eq!(inm(hit), Decision::NotModified, "{hit}");
        }
        for miss in ["\"a1-b\"", "a1-b2", "\"\"a1-b2\"\"", "\"x\", junk, \"a1-b2\"", "\"a1-b2", "", "**"] {
            assert_eq!(inm(miss), Decision::Full, "{miss}");
        }
    }

    #[test]
    fn if_modified_since_is_ignored_beside_if_none_match() {
        let c = |inm, ims| Conditions { if_none_match: inm, if_modified_since: ims, ..Conditions::default() };
        assert_eq!(decide_with(c(None, Some(MODIFIED))), Decision::NotModified, "same second");
        assert_eq!(decide_with(c(None, Some(BEFORE))), Decision::Full);
        assert_eq!(decide_with(c(None, Some("not a date"))), Decision::Full);
        assert_eq!(decide_with(c(Some("\"other\""), Some(MODIFIED))), Decision::Full);
    }

    #[test]
    fn if_match_and_if_unmodified_since_guard_the_response() {
        let im = |h| decide_with(Conditions { if_match: Some(h), ..Conditions::default() });
        assert_eq!(im("\"a1-b2\""), Decision::Full);
        assert_eq!(im("*"), Decision::Full);
        assert_eq!(im("W/\"a1-b2\""), Decision::PreconditionFailed, "strong comparison");
        assert_eq!(im("\"zz\""), Decision::PreconditionFailed);
        let ius = |h| decide_with(Conditions { if_unmodified_since: Some(h), ..Conditions::default() });
        assert_eq!(ius(MODIFIED), Decision::Full);
        assert_eq!(ius(BEFORE), Decision::PreconditionFailed);
    }

    #[test]
    fn if_range_serves_the_whole_blob_when_it_changed() {
        let ir = |h| decide_with(Conditions { range: Some("bytes=0-9"), if_range: Some(h), ..Conditions::default() });
        assert_eq!(ir(ETAG), Decision::Partial(0..10));
        assert_eq!(ir(MODIFIED), Decision::Partial(0..10));
        assert_eq!(ir("W/\"a1-b2\""), Decision::Full, "weak tags never match If-Range");
        assert_eq!(ir("\"old\""), Decision::Full);
        assert_eq!(ir(BEFORE), Decision::Full);
        assert_eq!(ir("garbage"), Decision::Full);
    }
}
