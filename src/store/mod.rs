//! Blob storage for originals and thumbnails. `Store` is the seam; one file per backend.

mod file;
mod local;
mod s3;
pub mod staging;

pub use file::FileBody;
pub use local::LocalStore;
pub use s3::{MediaUrls, S3Store};

use std::ops::Range;
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;

use crate::domain::BlobKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("object store path: {0}")]
    Path(#[from] object_store::path::Error),
    #[error("store configuration: {0}")]
    Config(String),
    /// The local staging directory (under `data_dir`) an upload is written to while read.
    #[error("staging an upload: {0}")]
    Staging(#[from] std::io::Error),
    /// Reading a blob's bytes after it was opened.
    #[error("reading a blob: {0}")]
    Read(std::io::Error),
}

/// A blob's bytes as pieces: a rewritten file keeps referring to the upload's buffer instead
/// of copying it, which keeps large uploads from doubling in memory.
#[derive(Debug, Clone, Default)]
pub struct BlobBody(Vec<Bytes>);

impl BlobBody {
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn into_pieces(self) -> Vec<Bytes> {
        self.0
    }

    /// One contiguous copy, for backends that need it.
    pub fn to_bytes(&self) -> Bytes {
        match self.0.as_slice() {
            [one] => one.clone(),
            pieces => Bytes::from(pieces.concat()),
        }
    }
}

impl From<Bytes> for BlobBody {
    fn from(bytes: Bytes) -> Self {
        Self(vec![bytes])
    }
}

impl FromIterator<Bytes> for BlobBody {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A backend's entity tag as a valid HTTP strong `ETag` (`"opaque"`): one pair of quotes
/// whether or not the backend sent them, and `None` for a tag HTTP cannot carry.
pub fn http_etag(raw: &str) -> Option<String> {
    let opaque = raw.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(raw);
    // RFC 9110 etagc: visible ASCII except DQUOTE.
    let valid = !opaque.is_empty() && opaque.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    valid.then(|| format!("\"{opaque}\""))
}

/// A stored blob and what a browser needs to cache it.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
    /// A validator for conditional GETs in HTTP syntax (see [`http_etag`]), when the backend
    /// provides one.
    pub etag: Option<String>,
}

/// What a blob is, without its bytes: enough to answer conditional and range requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub size: u64,
    pub content_type: String,
    /// A validator in HTTP syntax (see [`http_etag`]), when the backend provides one.
    pub etag: Option<String>,
    pub last_modified: SystemTime,
}

/// A blob's bytes (or a range of them) on their way out, never all in memory: a range of an
/// open file, or the backend's byte stream. Either yields exactly `len` bytes unless the
/// backend fails midway.
pub enum ByteStream {
    File { file: FileBody, len: u64 },
    Stream { stream: BoxStream<'static, Result<Bytes, StoreError>>, len: u64 },
}

impl ByteStream {
    /// No bytes: what an empty range reads (object_store has no empty range).
    pub fn empty() -> Self {
        Self::Stream { stream: Box::pin(futures::stream::empty()), len: 0 }
    }

    pub fn len(&self) -> u64 {
        match self {
            Self::File { len, .. } | Self::Stream { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes as a reader, whichever kind this is; it ends after `len` bytes.
    pub fn into_reader(self) -> Box<dyn tokio::io::AsyncRead + Send + Unpin> {
        use futures::TryStreamExt;
        use tokio::io::AsyncReadExt;
        match self {
            Self::File { file, .. } => Box::new(file),
            Self::Stream { stream, len } => {
                let stream = stream.map_err(std::io::Error::other);
                Box::new(tokio_util::io::StreamReader::new(stream).take(len))
            }
        }
    }

    /// Every byte in one buffer: for small blobs only (the media cache's, at most 1 MiB).
    pub async fn collect(self) -> Result<Bytes, StoreError> {
        use tokio::io::AsyncReadExt;
        let len = self.len();
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        self.into_reader().read_to_end(&mut out).await.map_err(StoreError::Read)?;
        if out.len() as u64 != len {
            return Err(StoreError::Config(format!("blob ended after {} of {len} bytes", out.len())));
        }
        Ok(Bytes::from(out))
    }
}

/// Photo blobs. Keys are server-generated `BlobKey`s and blobs are immutable once written.
#[rocket::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the blob, replacing any blob under the same key (idempotent). On `Err` nothing
    /// readable is left under the key.
    async fn put(&self, key: &BlobKey, body: BlobBody, content_type: &str) -> Result<(), StoreError>;

    /// The blob under `key`; `Ok(None)` when absent.
    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, StoreError>;

    /// The blob's size, type and validators without its bytes; `Ok(None)` when absent.
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, StoreError>;

    /// The bytes of `range` (which the caller keeps within the size [`Store::head`] reported),
    /// streamed: memory does not grow with the blob's size. `Ok(None)` when absent. An empty
    /// range yields an empty stream.
    async fn read(&self, key: &BlobKey, range: Range<u64>) -> Result<Option<ByteStream>, StoreError>;

    /// Removes the blob; `Ok(())` as well when it is already absent (idempotent).
    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError>;

    /// The URL a browser loads the blob from. Pure: it does not check that the blob exists.
    async fn url(&self, key: &BlobKey) -> Result<String, StoreError>;

    /// Every key in the store, in no particular order.
    async fn list(&self) -> Result<Vec<BlobKey>, StoreError>;

    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::http_etag;

    #[test]
    fn etags_get_exactly_one_pair_of_quotes() {
        assert_eq!(http_etag("abc-12").as_deref(), Some("\"abc-12\""));
        assert_eq!(http_etag("\"d41d8cd98f00b204\"").as_deref(), Some("\"d41d8cd98f00b204\""));
        for invalid in ["", "\"\"", "a\"b", "two words", "\"\"x\"\""] {
            assert_eq!(http_etag(invalid), None, "{invalid:?}");
        }
    }
}
