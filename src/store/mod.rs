//! Blob storage for originals and thumbnails. `Store` is the seam; one file per backend.

mod local;

pub use local::LocalStore;

use bytes::Bytes;

use crate::domain::BlobKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("object store path: {0}")]
    Path(#[from] object_store::path::Error),
    #[error("store configuration: {0}")]
    Config(String),
}

/// A stored blob and what a browser needs to cache it.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
    /// A validator for conditional GETs, when the backend provides one.
    pub etag: Option<String>,
}

/// Photo blobs. Keys are server-generated `BlobKey`s and blobs are immutable once written.
#[rocket::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Writes the blob, replacing any blob under the same key (idempotent). On `Err` nothing
    /// readable is left under the key.
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> Result<(), StoreError>;

    /// The blob under `key`; `Ok(None)` when absent.
    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, StoreError>;

    /// Removes the blob; `Ok(())` as well when it is already absent (idempotent).
    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError>;

    /// The URL a browser loads the blob from. Pure: it does not check that the blob exists.
    async fn url(&self, key: &BlobKey) -> Result<String, StoreError>;

    /// Every key in the store, in no particular order.
    async fn list(&self) -> Result<Vec<BlobKey>, StoreError>;

    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
