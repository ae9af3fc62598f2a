use std::fmt;

use serde::{Deserialize, Serialize};

/// 1–32 characters of `[A-Za-z0-9_.-]`. Compared case-insensitively by the repositories.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub const RULE: &'static str = "A username is 1 to 32 characters: letters, digits, '_', '.' or '-'.";

    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=32).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| Self::RULE.to_owned())
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

/// A password of 8 to 1024 characters; the upper bound keeps hashing cost bounded.
/// Deliberately not `Debug`-printable, so it cannot reach a log.
pub struct Password(String);

impl Password {
    pub const RULE: &'static str = "A password is at least 8 characters (and at most 1024).";

    pub fn parse(raw: &str) -> Option<Self> {
        (8..=1024).contains(&raw.chars().count()).then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fixed valid password, checked in place of a malformed one so that every failed login
    /// costs one hash.
    pub fn decoy() -> Self {
        Self("decoy-password-never-matches".to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A photo caption: at most 200 characters, trimmed, control characters refused, and no
/// bidirectional-text controls: an unpaired override would reorder whatever the page prints
/// after the caption (the owner's name, the date) and can make text read as something else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Caption(String);

impl Caption {
    pub const RULE: &'static str = "A caption is at most 200 characters, on one line, without invisible \
         text-direction controls (U+202A to U+202E, U+2066 to U+2069): remove them and try again.";

    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let ok = trimmed.chars().count() <= 200 && !trimmed.chars().any(|c| c.is_control() || is_bidi_control(c));
        ok.then(|| Self(trimmed.to_owned()))
    }

    /// A caption read back from storage. Rows written before bidi controls were refused may
    /// hold some; they are removed rather than failing every page that lists the photo.
    pub fn from_stored(raw: &str) -> Option<Self> {
        let cleaned: String = raw.chars().filter(|c| !is_bidi_control(*c)).collect();
        Self::parse(&cleaned)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A photo's text alternative for people who cannot see it: at most 500 characters, with the
/// caption's rules otherwise. Empty means "none given" (pages then describe the photo by its
/// caption).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AltText(String);

impl AltText {
    pub const RULE: &'static str = "A text alternative is at most 500 characters, on one line, without invisible \
         text-direction controls (U+202A to U+202E, U+2066 to U+2069).";

    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        let ok = trimmed.chars().count() <= 500 && !trimmed.chars().any(|c| c.is_control() || is_bidi_control(c));
        ok.then(|| Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AltText {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| Self::RULE.to_owned())
    }
}

impl From<AltText> for String {
    fn from(alt: AltText) -> String {
        alt.0
    }
}

/// The embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

impl TryFrom<String> for Caption {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| Self::RULE.to_owned())
    }
}

impl From<Caption> for String {
    fn from(caption: Caption) -> String {
        caption.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(Username::parse("a").is_some());
        assert!(Username::parse("Alice_B.c-9").is_some());
        assert!(Username::parse(&"x".repeat(32)).is_some());
        for bad in ["", "has space", "émile", "<script>", &"x".repeat(33)] {
            assert!(Username::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn password_and_caption_rules() {
        assert!(Password::parse("1234567").is_none());
        assert!(Password::parse("12345678").is_some());
        assert_eq!(format!("{:?}", Password::parse("secret-pass")), "Some(Password(***))");
        assert!(Caption::parse(&"é".repeat(200)).is_some());
        assert!(Caption::parse(&"é".repeat(201)).is_none());
        assert!(Caption::parse("two\nlines").is_none());
        assert_eq!(Caption::parse("  padded ").map(|c| c.0), Some("padded".into()));
        assert!(AltText::parse(&"é".repeat(500)).is_some());
        assert!(AltText::parse(&"é".repeat(501)).is_none());
        assert!(AltText::parse("a\u{202E}b").is_none() && AltText::parse("two\nlines").is_none());
    }

    #[test]
    fn caption_refuses_every_bidi_control() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            assert!(Caption::parse(&format!("invoice{c}fdp.exe")).is_none(), "U+{:04X}", c as u32);
            assert_eq!(Caption::from_stored(&format!("old{c}row")).map(|c| c.0), Some("oldrow".into()));
        }
        // Neighbours of the ranges, and the marks that only hint a direction, stay allowed.
        for c in ['\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}', '\u{200E}', '\u{200F}'] {
            let ok = Caption::parse(&format!("a{c}b")).is_some();
            assert_eq!(ok, !c.is_control(), "U+{:04X}", c as u32);
        }
        assert!(Caption::parse("שלום and مرحبا").is_some(), "right-to-left text itself is fine");
    }
}
