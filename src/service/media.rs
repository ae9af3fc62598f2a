//! What `/media` serves: blobs up to 1 MiB (thumbnails) from an in-process cache weighed by
//! bytes and handed out as shared `Bytes`, larger ones streamed from the store (a file body
//! from disk, a byte stream from S3) so memory does not grow with their size.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::domain::BlobKey;
use crate::store::{BlobMeta, ByteStream, Store, StoreError};

/// The largest blob the cache keeps: a thumbnail fits many times over, an original rarely.
pub const CACHEABLE_MAX_BYTES: u64 = 1024 * 1024;

/// A small blob held in memory with what its responses need.
pub struct CachedBlob {
    pub meta: BlobMeta,
    /// `Last-Modified`'s value, formatted once rather than on every hit.
    pub last_modified: String,
    pub bytes: Bytes,
}

/// A blob found for `/media`: already in memory, or to be streamed from the store.
pub enum MediaBlob {
    Memory(Arc<CachedBlob>),
    Store(BlobMeta),
}

impl MediaBlob {
    pub fn meta(&self) -> &BlobMeta {
        match self {
            Self::Memory(cached) => &cached.meta,
            Self::Store(meta) => meta,
        }
    }
}

/// The bytes of a response: a slice of a cached blob (no copy), or a stream.
pub enum MediaBody {
    Memory(Bytes),
    Stream(ByteStream),
}

/// Cheap to clone: clones share one cache.
#[derive(Clone)]
pub struct MediaCache {
    store: Arc<dyn Store>,
    /// `None` when `media_cache_mb` is 0.
    cache: Option<moka::future::Cache<BlobKey, Arc<CachedBlob>>>,
}

impl MediaCache {
    /// A cache of at most `max_bytes` of blobs. An entry lives at most `ttl`: in the fleet
    /// profile a photo deleted through another instance is evicted only there, so this bounds
    /// how long this instance can still serve it.
    pub fn new(store: Arc<dyn Store>, max_bytes: u64, ttl: Duration) -> Self {
        let cache = (max_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(max_bytes)
                // The entry's bookkeeping (key, meta, map slot) counts too, roughly.
                .weigher(|key: &BlobKey, blob: &Arc<CachedBlob>| {
                    u32::try_from(blob.bytes.len() + key.as_str().len() + 256).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        Self { store, cache }
    }

    /// The blob under `key`; `Ok(None)` when absent. A small blob is read whole and kept.
    pub async fn lookup(&self, key: &BlobKey) -> Result<Option<MediaBlob>, StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(self.store.head(key).await?.map(MediaBlob::Store));
        };
        if let Some(hit) = cache.get(key).await {
            return Ok(Some(MediaBlob::Memory(hit)));
        }
        let Some(meta) = self.store.head(key).await? else { return Ok(None) };
        if meta.size > CACHEABLE_MAX_BYTES {
            return Ok(Some(MediaBlob::Store(meta)));
        }
        let Some(body) = self.store.read(key, 0..meta.size).await? else { return Ok(None) };
        let last_modified = httpdate::fmt_http_date(meta.last_modified);
        let cached = Arc::new(CachedBlob { bytes: body.collect().await?, last_modified, meta });
        cache.insert(key.clone(), cached.clone()).await;
        Ok(Some(MediaBlob::Memory(cached)))
    }

    /// The bytes of `range` (within the blob's size) of a blob [`MediaCache::lookup`] found;
    /// `Ok(None)` when it was deleted since.
    pub async fn body(
        &self,
        key: &BlobKey,
        blob: &MediaBlob,
        range: Range<u64>,
    ) -> Result<Option<MediaBody>, StoreError> {
        match blob {
            MediaBlob::Memory(cached) => {
                let len = cached.bytes.len();
                let end = usize::try_from(range.end).map_or(len, |end| end.min(len));
                let start = usize::try_from(range.start).map_or(end, |start| start.min(end));
                Ok(Some(MediaBody::Memory(cached.bytes.slice(start..end))))
            }
            MediaBlob::Store(_) => Ok(self.store.read(key, range).await?.map(MediaBody::Stream)),
        }
    }

    /// Deletes the blob from the store, then forgets it here, in that order, so a read racing
    /// the delete cannot keep it cached. Idempotent, as `Store::delete`; the entry is forgotten
    /// even when the store fails.
    pub async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        let deleted = self.store.delete(key).await;
        self.evict(key).await;
        deleted
    }

    /// Forgets `key` (its blob was deleted).
    pub async fn evict(&self, key: &BlobKey) {
        if let Some(cache) = &self.cache {
            cache.invalidate(key).await;
        }
    }

    /// Bytes held, for tests and metrics.
    pub async fn weighed_bytes(&self) -> u64 {
        match &self.cache {
            Some(cache) => {
                cache.run_pending_tasks().await;
                cache.weighted_size()
            }
            None => 0,
        }
    }
}
