use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A photo id: a ULID, so ids sort by creation time and keyset pagination needs no timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhotoId(Ulid);

/// A user id, also a ULID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Ulid);

macro_rules! ulid_newtype {
    ($name:ident) => {
        impl $name {
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            pub fn parse(raw: &str) -> Option<Self> {
                // Ulid::from_string accepts lower case too; a canonical form keeps URLs unique.
                if raw.len() != 26 || raw.bytes().any(|b| b.is_ascii_lowercase()) {
                    return None;
                }
                Ulid::from_str(raw).ok().map(Self)
            }

            pub fn ulid(self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw).ok_or_else(|| format!("not a valid id: {raw:?}"))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }
    };
}

ulid_newtype!(PhotoId);
ulid_newtype!(UserId);

/// A blob's key inside a `Store`: server-generated, a relative path of safe characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// Accepts `seg/seg.ext` made of `[A-Za-z0-9._-]` segments, none empty or dot-only.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 256
            && raw.split('/').all(|seg| {
                !seg.is_empty()
                    && !seg.starts_with('.')
                    && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn original(id: PhotoId, extension: &str) -> Self {
        Self(format!("photos/{id}.{extension}"))
    }

    pub fn thumbnail(id: PhotoId) -> Self {
        Self(format!("thumbs/{id}.jpg"))
    }

    /// The small thumbnail beside a (large) thumbnail: `thumbs/ID.jpg` → `thumbs/ID-320.jpg`.
    /// Derived from the key, not the photo id, so rows sharing blobs share this one too.
    pub fn small_thumbnail_of(thumb: &BlobKey) -> Self {
        match thumb.0.rsplit_once('.') {
            Some((stem, ext)) => Self(format!("{stem}{SMALL_SUFFIX}.{ext}")),
            None => Self(format!("{}{SMALL_SUFFIX}", thumb.0)),
        }
    }

    /// For a small thumbnail's key, the large thumbnail it is made from.
    pub fn large_thumbnail_of(&self) -> Option<BlobKey> {
        let rest = self.0.strip_prefix("thumbs/")?;
        let (stem, ext) = rest.rsplit_once('.')?;
        let stem = stem.strip_suffix(SMALL_SUFFIX)?;
        Self::parse(&format!("thumbs/{stem}.{ext}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const SMALL_SUFFIX: &str = "-320";

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BlobKey {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("not a valid blob key: {raw:?}"))
    }
}

impl From<BlobKey> for String {
    fn from(key: BlobKey) -> String {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_id_round_trips_and_rejects_junk() {
        let id = PhotoId::from_ulid(Ulid::new());
        assert_eq!(PhotoId::parse(&id.to_string()), Some(id));
        assert_eq!(PhotoId::parse("not-an-id"), None);
        assert_eq!(PhotoId::parse(&id.to_string().to_lowercase()), None);
    }

    #[test]
    fn small_thumbnail_keys_round_trip() {
        let large = BlobKey::thumbnail(PhotoId::from_ulid(Ulid::new()));
        let small = BlobKey::small_thumbnail_of(&large);
        assert_eq!(small.as_str(), large.as_str().replace(".jpg", "-320.jpg"));
        assert_eq!(small.large_thumbnail_of(), Some(large.clone()));
        assert_eq!(large.large_thumbnail_of(), None);
        assert_eq!(BlobKey::parse("photos/X-320.jpg").and_then(|k| k.large_thumbnail_of()), None);
    }

    #[test]
    fn blob_key_refuses_traversal() {
        assert!(BlobKey::parse("photos/01ABC.jpg").is_some());
        for bad in ["", "../etc/passwd", "photos/../x", "/abs", "a//b", "a/.hidden", "a b", "a\\b"] {
            assert!(BlobKey::parse(bad).is_none(), "{bad:?} should be refused");
        }
    }
}
