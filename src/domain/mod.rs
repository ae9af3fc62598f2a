//! Newtypes and rules with no I/O: every raw input becomes one of these at the edge.

mod ids;
mod text;

pub use ids::{BlobKey, PhotoId, UserId};
pub use text::{AltText, Caption, Password, Username};

use serde::{Deserialize, Serialize};

/// The accepted image formats, decided from the file's bytes, never from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<Self> {
        [Self::Jpeg, Self::Png, Self::Gif, Self::Webp].into_iter().find(|kind| kind.content_type() == content_type)
    }

    /// The content type a stored blob is served with, judged from the extension the server gave
    /// its key (keys are never client-chosen).
    pub fn from_key(key: &BlobKey) -> Option<Self> {
        let ext = key.as_str().rsplit_once('.')?.1;
        [Self::Jpeg, Self::Png, Self::Gif, Self::Webp].into_iter().find(|kind| kind.extension() == ext)
    }
}

/// A user as the repository stores it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub password_hash: String,
    pub created_at: i64,
}

/// A photo's metadata; the bytes live in the `Store` under `key` and `thumb_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Photo {
    pub id: PhotoId,
    pub owner_id: UserId,
    pub owner: Username,
    pub caption: Caption,
    /// Empty when the owner gave none; rows cached or backed up before it existed read empty.
    #[serde(default)]
    pub alt: AltText,
    pub kind: ImageKind,
    /// Displayed size, after EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// Size of the stored original in bytes.
    pub bytes: u64,
    pub key: BlobKey,
    pub thumb_key: BlobKey,
    /// Unix seconds, UTC.
    pub created_at: i64,
}

/// Marker for a domain conflict (e.g. a taken username), returned as `Ok(Err(Conflict))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
