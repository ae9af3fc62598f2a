//! Upload, delete and look-up of photos. Writes go blobs → row → cache invalidation, and a
//! failed step undoes the ones before it, so a refused or failed upload leaves nothing behind.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ulid::Ulid;

use super::media::{MediaBlob, MediaBody, MediaCache};
use super::{FeedService, Neighbours, PhotoView, ServiceError};
use crate::auth::PasswordHasher;
use crate::db::Repo;
use crate::domain::{AltText, BlobKey, Caption, Password, Photo, PhotoId, User, UserId, Username, now_unix};
use crate::metrics::Metrics;
use crate::photos::{Pipeline, Processed, Rejection, UploadData};
use crate::store::Store;

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteRejected {
    NotFound,
    NotOwner,
}

#[derive(Debug, PartialEq, Eq)]
pub enum EditRejected {
    NotFound,
    NotOwner,
}

/// What the owner writes about a photo.
pub struct Words {
    pub caption: Caption,
    pub alt: AltText,
}

pub struct PhotoService {
    repo: Arc<dyn Repo>,
    store: Arc<dyn Store>,
    feed: Arc<FeedService>,
    pipeline: Pipeline,
    media: MediaCache,
    /// Monotonic within this process, so photos uploaded in the same millisecond still sort
    /// in upload order.
    ids: Mutex<ulid::Generator>,
    metrics: Arc<Metrics>,
}

impl PhotoService {
    pub fn new(
        repo: Arc<dyn Repo>,
        store: Arc<dyn Store>,
        feed: Arc<FeedService>,
        pipeline: Pipeline,
        media: MediaCache,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { repo, store, feed, pipeline, media, ids: Mutex::new(ulid::Generator::new()), metrics }
    }

    fn next_id(&self) -> PhotoId {
        let generated = self.ids.lock().ok().and_then(|mut g| g.generate().ok());
        // `Ulid::default()` is the nil id, so the fallback is spelled out.
        PhotoId::from_ulid(match generated {
            Some(ulid) => ulid,
            None => Ulid::new(),
        })
    }

    /// Processes the upload and publishes it. `Ok(Err(_))`: the file was refused and
    /// nothing was stored.
    pub async fn upload(
        &self,
        owner: UserId,
        owner_name: &Username,
        data: UploadData<'_>,
        words: Words,
    ) -> Result<Result<PhotoId, Rejection>, ServiceError> {
        let processed = match self.pipeline.process_upload(data).await? {
            Ok(processed) => processed,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let id = self.publish(owner, owner_name, processed, words, now_unix()).await?;
        Ok(Ok(id))
    }

    async fn publish(
        &self,
        owner: UserId,
        owner_name: &Username,
        processed: Processed,
        words: Words,
        created_at: i64,
    ) -> Result<PhotoId, ServiceError> {
        // Held until the blobs and row are written: it bounds how many uploads' bytes are in
        // memory at once.
        let _slot = processed.slot;
        let id = self.next_id();
        let key = BlobKey::original(id, processed.kind.extension());
        let thumb_key = BlobKey::thumbnail(id);
        let small_key = BlobKey::small_thumbnail_of(&thumb_key);
        let photo = Photo {
            id,
            owner_id: owner,
            owner: owner_name.clone(),
            caption: words.caption,
            alt: words.alt,
            kind: processed.kind,
            width: processed.width,
            height: processed.height,
            bytes: processed.original.len() as u64,
            key: key.clone(),
            thumb_key: thumb_key.clone(),
            created_at,
        };
        self.store.put(&key, processed.original, processed.kind.content_type()).await?;
        if let Err(e) = self.store.put(&thumb_key, processed.thumbnail.into(), "image/jpeg").await {
            self.discard(&[&key]).await;
            return Err(e.into());
        }
        if let Err(e) = self.store.put(&small_key, processed.small_thumbnail.into(), "image/jpeg").await {
            self.discard(&[&key, &thumb_key]).await;
            return Err(e.into());
        }
        if let Err(e) = self.repo.insert_photo(&photo).await {
            self.discard(&[&key, &thumb_key, &small_key]).await;
            return Err(e.into());
        }
        self.invalidate_feed().await;
        self.metrics.upload_bytes.inc_by(photo.bytes);
        Ok(id)
    }

    /// Best-effort removal of blobs whose row is gone or was never written, from the store
    /// and then from the media cache (so a read racing the delete cannot keep them cached). A
    /// failure is logged (an orphan blob is harmless to readers); the caller's outcome stands.
    async fn discard(&self, keys: &[&BlobKey]) {
        for key in keys {
            if let Err(e) = self.media.delete(key).await {
                tracing::error!(key = %key, error = %e, "could not remove the blob of a failed upload");
            }
        }
    }

    async fn invalidate_feed(&self) {
        self.feed.invalidate().await;
    }

    /// The photo and how to show it; `Ok(None)` when there is no such photo.
    pub async fn get(&self, id: PhotoId) -> Result<Option<(Photo, PhotoView)>, ServiceError> {
        let Some(photo) = self.repo.photo(id).await? else {
            return Ok(None);
        };
        let view = self.feed.view(&photo).await?;
        Ok(Some((photo, view)))
    }

    /// The photo, how to show it, and the photos next to it; `Ok(None)` when there is none.
    pub async fn page(&self, id: PhotoId) -> Result<Option<(Photo, PhotoView, Neighbours)>, ServiceError> {
        let Some((photo, view)) = self.get(id).await? else {
            return Ok(None);
        };
        let neighbours = self.feed.neighbours(id).await?;
        Ok(Some((photo, view, neighbours)))
    }

    /// A stored blob (original or thumbnail) for `/media`; `Ok(None)` when absent. A photo
    /// uploaded before thumbnails came in two sizes gets its small one made now, from the
    /// large one, and stored (once; later requests find it).
    pub async fn media(&self, key: &BlobKey) -> Result<Option<MediaBlob>, ServiceError> {
        if let Some(found) = self.media.lookup(key).await? {
            return Ok(Some(found));
        }
        let Some(large_key) = key.large_thumbnail_of() else { return Ok(None) };
        let Some(large) = self.store.get(&large_key).await? else { return Ok(None) };
        match self.pipeline.small_thumbnail_from(large.bytes).await? {
            Ok(small) => self.store.put(key, small.into(), "image/jpeg").await?,
            Err(rejection) => {
                tracing::error!(key = %large_key, %rejection, "a stored thumbnail does not decode");
                return Ok(None);
            }
        }
        Ok(self.media.lookup(key).await?)
    }

    /// The bytes of `range` of a blob [`PhotoService::media`] found; `Ok(None)` when it has
    /// been deleted since.
    pub async fn media_body(
        &self,
        key: &BlobKey,
        blob: &MediaBlob,
        range: std::ops::Range<u64>,
    ) -> Result<Option<MediaBody>, ServiceError> {
        Ok(self.media.body(key, blob, range).await?)
    }

    /// Bytes the media cache holds.
    pub async fn media_cache_bytes(&self) -> u64 {
        self.media.weighed_bytes().await
    }

    /// Deletes the photo if `by` owns it: row first (no page can link a missing blob), then its
    /// blobs, then the cached front page.
    pub async fn delete(&self, by: UserId, id: PhotoId) -> Result<Result<(), DeleteRejected>, ServiceError> {
        let Some(photo) = self.repo.photo(id).await? else {
            return Ok(Err(DeleteRejected::NotFound));
        };
        if photo.owner_id != by {
            return Ok(Err(DeleteRejected::NotOwner));
        }
        self.repo.delete_photo(id).await?;
        self.invalidate_feed().await;
        let small_key = BlobKey::small_thumbnail_of(&photo.thumb_key);
        self.discard(&[&photo.key, &photo.thumb_key, &small_key]).await;
        Ok(Ok(()))
    }

    /// Replaces the caption and text alternative if `by` owns the photo, and drops the cached
    /// front page that shows the old caption.
    pub async fn edit(&self, by: UserId, id: PhotoId, words: Words) -> Result<Result<(), EditRejected>, ServiceError> {
        let Some(photo) = self.repo.photo(id).await? else {
            return Ok(Err(EditRejected::NotFound));
        };
        if photo.owner_id != by {
            return Ok(Err(EditRejected::NotOwner));
        }
        if !self.repo.update_caption(id, &words.caption, &words.alt).await? {
            return Ok(Err(EditRejected::NotFound));
        }
        self.invalidate_feed().await;
        Ok(Ok(()))
    }

    /// Seeds the demo user and photos on an empty site. Several instances starting at once
    /// race on the `demo` user's unique name; only the winner seeds.
    pub async fn seed_demo(
        &self,
        hasher: &PasswordHasher,
        photos: Vec<(String, Bytes)>,
    ) -> Result<usize, ServiceError> {
        let name = Username::parse("demo").unwrap_or_else(|| unreachable!("valid literal"));
        if self.repo.count_photos().await? > 0 || self.repo.user_by_name(&name).await?.is_some() {
            return Ok(0);
        }
        // Nobody can log in as demo: its password is random and thrown away.
        let secret = Password::parse(&format!("{}{}", Ulid::new(), Ulid::new())).unwrap_or_else(|| unreachable!());
        let demo = User {
            id: UserId::from_ulid(Ulid::new()),
            username: name.clone(),
            password_hash: hasher.hash(&secret).await?,
            created_at: now_unix(),
        };
        if self.repo.insert_user(&demo).await?.is_err() {
            return Ok(0);
        }
        let count = photos.len();
        let start = now_unix() - count as i64;
        for (i, (caption, bytes)) in photos.into_iter().enumerate() {
            let processed = match self.pipeline.process_bytes(bytes).await? {
                Ok(processed) => processed,
                Err(rejection) => {
                    tracing::error!(%caption, %rejection, "embedded demo photo refused");
                    continue;
                }
            };
            let words = Words { caption: Caption::parse(&caption).unwrap_or_default(), alt: AltText::default() };
            self.publish(demo.id, &name, processed, words, start + i as i64).await?;
        }
        Ok(count)
    }

    /// Adds `count` rows that reuse the newest photo's blobs (benchmarks only: deleting one of
    /// them deletes the shared blobs).
    pub async fn bulk_fill(&self, count: usize) -> Result<usize, ServiceError> {
        let Some(template) = self.repo.latest_photos(1, None).await?.pop() else {
            return Ok(0);
        };
        let mut done = 0;
        while done < count {
            let batch = (count - done).min(50_000);
            let rows = (0..batch)
                .map(|i| Photo {
                    id: self.next_id(),
                    caption: Caption::parse(&format!("bulk row {}", done + i)).unwrap_or_default(),
                    ..template.clone()
                })
                .collect();
            self.repo.insert_photos_bulk(rows).await?;
            done += batch;
        }
        self.invalidate_feed().await;
        Ok(done)
    }
}
