//! The front page list, cache-aside (level 4): read the cache; on a miss one database query
//! per instance fills it however many requests miss together (single flight); uploads and
//! deletes invalidate it.
//!
//! An invalidation is never lost for long: when the cache cannot be told, this instance
//! retries in the background and stops trusting cached pages until it succeeds, and the
//! shared version every cached page is checked against lapses after [`STALE_BOUND`], so no
//! instance serves a page older than that even if the uploading instance died before it
//! could retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Serialize;

use super::ServiceError;
use crate::cache::Cache;
use crate::db::Repo;
use crate::domain::{BlobKey, Photo, PhotoId, UserId, Username};
use crate::metrics::Metrics;
use crate::photos::{SMALL_THUMBNAIL_EDGE, THUMBNAIL_EDGE, fit};
use crate::store::Store;

/// The largest page the JSON API serves.
pub const API_MAX_LIMIT: u32 = 100;

/// The longest any instance serves a cached front page written before an upload or delete
/// whose invalidation was lost (cache unreachable from the uploading instance): the shared
/// version lapses this long after it was written, and a lapsed version is never current.
/// The price is one front-page miss per fleet per this period.
pub const STALE_BOUND: Duration = Duration::from_secs(10);

/// The first and the longest wait between retries of a lost invalidation.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Where a list came from: the teaching signal in the footer and the `X-Cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedSource {
    /// Served from the shared cache.
    Cache,
    /// Missed the cache, read from the database (and the cache was filled).
    Database,
    /// The cache was unreachable; read from the database without it.
    Bypass,
}

impl FeedSource {
    pub fn header_value(self) -> &'static str {
        match self {
            FeedSource::Cache => "HIT",
            FeedSource::Database => "MISS",
            FeedSource::Bypass => "BYPASS",
        }
    }

    pub fn metric_label(self) -> &'static str {
        match self {
            FeedSource::Cache => "hit",
            FeedSource::Database => "miss",
            FeedSource::Bypass => "bypass",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            FeedSource::Cache => "from cache",
            FeedSource::Database => "from database",
            FeedSource::Bypass => "from database (cache unavailable)",
        }
    }
}

/// A photo as pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoView {
    pub id: String,
    pub owner: String,
    pub caption: String,
    /// The owner's text alternative; empty when none was given.
    pub alt: String,
    pub url: String,
    pub thumbnail_url: String,
    /// The small thumbnail (long edge `SMALL_THUMBNAIL_EDGE`).
    pub small_thumbnail_url: String,
    /// Both thumbnails with their widths, for `<img srcset>`.
    pub srcset: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: &'static str,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct FeedPage {
    pub photos: Arc<Vec<PhotoView>>,
    pub source: FeedSource,
    /// The id to pass as `before` for the next (older) page, when there is one.
    pub older: Option<PhotoId>,
    /// On an older page (`before` given): the way back to newer photos.
    pub newer: Option<Newer>,
    pub timings: Timings,
}

/// The way back from an older page to the newer photos before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newer {
    /// The newer photos are the first page.
    First,
    /// The newer photos are the page before this id.
    Before(PhotoId),
}

/// One person's photos, a page of them, with the links either way.
#[derive(Debug, Clone)]
pub struct OwnerPage {
    pub owner: Username,
    pub photos: Vec<PhotoView>,
    pub older: Option<PhotoId>,
    pub newer: Option<Newer>,
}

/// The photos next to one in the front page's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Neighbours {
    pub newer: Option<PhotoId>,
    pub older: Option<PhotoId>,
}

/// Where the time of a list went, for the `Server-Timing` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub cache: Option<Duration>,
    pub db: Option<Duration>,
    /// Making the image URLs (presigning them, for S3); absent when a memoised list was reused.
    pub store: Option<Duration>,
}

type Fill = Shared<BoxFuture<'static, Option<Bytes>>>;

struct Decoded {
    source: Bytes,
    photos: Arc<Vec<PhotoView>>,
    older: Option<PhotoId>,
    /// When the image URLs were made: presigned ones expire, so they are made anew in time.
    made: Instant,
}

/// A lost invalidation being retried in the background.
#[derive(Default)]
struct Retry {
    /// The retry task is running; while it does, cached pages are not trusted here.
    running: bool,
    /// An invalidation failed since the retry task's last attempt began.
    dirty: bool,
}

/// The cached list is stored as `<version>\n<json>`, and the current version lives under its
/// own key: an upload on any instance writes a new version, so a fill that read the database
/// before that upload, on whichever instance, writes a value no reader accepts.
const VERSION_SEPARATOR: u8 = b'\n';

pub struct FeedService {
    repo: Arc<dyn Repo>,
    cache: Arc<dyn Cache>,
    store: Arc<dyn Store>,
    page_size: u32,
    ttl: Duration,
    latency: Duration,
    page_key: String,
    version_key: String,
    /// How long a version lives: [`STALE_BOUND`], or the page TTL when shorter.
    version_ttl: Duration,
    /// A memoised list's image URLs are made anew once they are this old, so that every URL
    /// on a served page stays valid for at least half its presigned lifetime.
    url_refresh: Duration,
    retry: Arc<Mutex<Retry>>,
    /// The fill in flight, with the version it will be stored under.
    inflight: Mutex<Option<(Bytes, Fill)>>,
    /// The last cached value decoded, so a hit costs a comparison, not a parse.
    last: Mutex<Option<Arc<Decoded>>>,
    /// `stratus_front_page_cache_total` for hit, miss and bypass, resolved once: the hot path
    /// pays an atomic add, not a label lookup.
    lookups: [prometheus::IntCounter; 3],
}

pub fn format_time(unix: i64) -> String {
    rocket::time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&rocket::time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// How the front page is cached, from the settings.
pub struct FeedOptions<'a> {
    pub page_size: u32,
    pub ttl: Duration,
    /// Level 3's simulated slow backend, added to every front page.
    pub latency: Duration,
    pub key_prefix: &'a str,
    /// How long the store's image URLs stay valid (presigned S3 URLs expire).
    pub url_lifetime: Duration,
}

impl FeedService {
    pub fn new(
        repo: Arc<dyn Repo>,
        cache: Arc<dyn Cache>,
        store: Arc<dyn Store>,
        options: FeedOptions<'_>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let FeedOptions { page_size, ttl, latency, key_prefix, url_lifetime } = options;
        Self {
            repo,
            cache,
            store,
            page_size,
            ttl,
            latency,
            // One hash tag for both keys, so that a Redis Cluster can MGET them together.
            page_key: format!("{key_prefix}{{front}}:page:v2:{page_size}"),
            version_key: format!("{key_prefix}{{front}}:version"),
            version_ttl: STALE_BOUND.min(ttl),
            url_refresh: url_lifetime / 2,
            retry: Arc::new(Mutex::new(Retry::default())),
            inflight: Mutex::new(None),
            last: Mutex::new(None),
            lookups: [FeedSource::Cache, FeedSource::Database, FeedSource::Bypass]
                .map(|source| metrics.front_page.with_label_values(&[source.metric_label()])),
        }
    }

    /// The cache key of the front page (tests write stale values under it).
    pub fn page_key(&self) -> &str {
        &self.page_key
    }

    /// The cache key of the current version (tests put an old one back, as a lost
    /// invalidation leaves it).
    pub fn version_key(&self) -> &str {
        &self.version_key
    }

    pub async fn view(&self, photo: &Photo) -> Result<PhotoView, ServiceError> {
        let thumbnail_url = self.store.url(&photo.thumb_key).await?;
        let small_thumbnail_url = self.store.url(&BlobKey::small_thumbnail_of(&photo.thumb_key)).await?;
        let (large_w, _) = fit(photo.width, photo.height, THUMBNAIL_EDGE);
        let (small_w, _) = fit(photo.width, photo.height, SMALL_THUMBNAIL_EDGE);
        Ok(PhotoView {
            id: photo.id.to_string(),
            owner: photo.owner.to_string(),
            caption: photo.caption.as_str().to_owned(),
            alt: photo.alt.as_str().to_owned(),
            url: self.store.url(&photo.key).await?,
            srcset: format!("{small_thumbnail_url} {small_w}w, {thumbnail_url} {large_w}w"),
            thumbnail_url,
            small_thumbnail_url,
            width: photo.width,
            height: photo.height,
            bytes: photo.bytes,
            content_type: photo.kind.content_type(),
            created_at: format_time(photo.created_at),
        })
    }

    async fn page_of(
        &self,
        mut rows: Vec<Photo>,
        limit: u32,
    ) -> Result<(Vec<PhotoView>, Option<PhotoId>, Duration), ServiceError> {
        let started = Instant::now();
        let older = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|p| p.id)
        } else {
            None
        };
        let mut views = Vec::with_capacity(rows.len());
        for photo in &rows {
            views.push(self.view(photo).await?);
        }
        Ok((views, older, started.elapsed()))
    }

    /// The front page: the newest `front_page_size` photos (cached), or an older page
    /// (`before`, read from the database by keyset).
    pub async fn front_page(&self, before: Option<PhotoId>) -> Result<FeedPage, ServiceError> {
        if !self.latency.is_zero() {
            // Level 3's simulated slow backend: a timer, so no worker thread is held.
            tokio::time::sleep(self.latency).await;
        }
        if before.is_some() {
            let mut page = self.read_database(self.page_size, before, FeedSource::Database).await?;
            page.newer = match page.photos.first().and_then(|first| PhotoId::parse(&first.id)) {
                Some(first) => self.newer_than(first, None).await?,
                // Past the oldest photo: the way back is the start.
                None => Some(Newer::First),
            };
            return Ok(page);
        }
        let page = self.newest_page().await;
        if let Ok(page) = &page {
            let slot = match page.source {
                FeedSource::Cache => 0,
                FeedSource::Database => 1,
                FeedSource::Bypass => 2,
            };
            self.lookups[slot].inc();
        }
        page
    }

    async fn newest_page(&self) -> Result<FeedPage, ServiceError> {
        if self.retrying() {
            // This instance changed the list and could not tell the cache: what the cache
            // holds may predate that change.
            return self.read_database(self.page_size, None, FeedSource::Bypass).await;
        }
        let started = Instant::now();
        let cached = self.cache.get_many(&[&self.version_key, &self.page_key]).await;
        let cache_time = Some(started.elapsed());
        let version = match cached {
            Ok(mut values) => {
                let page = values.pop().flatten();
                let Some(version) = values.pop().flatten() else {
                    // The version lapsed (or was never written): start a new one, so that no
                    // page written before now is current any more.
                    let version = new_version();
                    if let Err(e) = self.cache.set(&self.version_key, version.clone(), self.version_ttl).await {
                        tracing::warn!(error = %e, "front page version write failed");
                    }
                    return self.filled_page(version, cache_time).await;
                };
                if let Some(json) = page.and_then(|page| current_json(page, &version))
                    && let Ok((decoded, store)) = self.decode(json).await
                {
                    return Ok(FeedPage {
                        photos: decoded.photos.clone(),
                        source: FeedSource::Cache,
                        older: decoded.older,
                        newer: None,
                        timings: Timings { cache: cache_time, db: None, store },
                    });
                }
                version
            }
            Err(e) => {
                tracing::warn!(error = %e, "cache unavailable; front page served from the database");
                let mut page = self.read_database(self.page_size, None, FeedSource::Bypass).await?;
                page.timings.cache = cache_time;
                return Ok(page);
            }
        };
        self.filled_page(version, cache_time).await
    }

    /// The list read from the database by this instance's single fill for `version`.
    async fn filled_page(&self, version: Bytes, cache_time: Option<Duration>) -> Result<FeedPage, ServiceError> {
        let started = Instant::now();
        match self.fill(version).await {
            Some(json) => {
                let db_time = Some(started.elapsed());
                let (decoded, store) = self.decode(json).await?;
                Ok(FeedPage {
                    photos: decoded.photos.clone(),
                    source: FeedSource::Database,
                    older: decoded.older,
                    newer: None,
                    timings: Timings { cache: cache_time, db: db_time, store },
                })
            }
            // The shared fill failed; query directly so this request reports the real error.
            None => self.read_database(self.page_size, None, FeedSource::Database).await,
        }
    }

    /// The link back from a page whose first (newest) photo is `first`, in the front page's
    /// order or, with `owner`, in that person's: `None` when nothing is newer. Pages are cut
    /// by keyset, so the way back is the `page_size` photos just newer than `first`.
    pub async fn newer_than(&self, first: PhotoId, owner: Option<UserId>) -> Result<Option<Newer>, ServiceError> {
        let ids = self.repo.newer_photo_ids(first, owner, self.page_size + 1).await?;
        Ok(match ids.get(self.page_size as usize) {
            _ if ids.is_empty() => None,
            Some(boundary) => Some(Newer::Before(*boundary)),
            None => Some(Newer::First),
        })
    }

    /// One person's photos, newest first, `page_size` at a time by keyset (`before`), read
    /// from the database; `Ok(None)` when nobody has that name.
    pub async fn owner_page(
        &self,
        name: &Username,
        before: Option<PhotoId>,
    ) -> Result<Option<OwnerPage>, ServiceError> {
        let Some(owner) = self.repo.user_by_name(name).await? else {
            return Ok(None);
        };
        let rows = self.repo.owner_photos(owner.id, self.page_size + 1, before).await?;
        let (photos, older, _) = self.page_of(rows, self.page_size).await?;
        let newer = match (before, photos.first()) {
            (None, _) => None,
            (Some(_), Some(first)) => match PhotoId::parse(&first.id) {
                Some(first) => self.newer_than(first, Some(owner.id)).await?,
                None => Some(Newer::First),
            },
            (Some(_), None) => Some(Newer::First),
        };
        Ok(Some(OwnerPage { owner: owner.username, photos, older, newer }))
    }

    /// The photos just newer and just older than `id`, in the front page's order.
    pub async fn neighbours(&self, id: PhotoId) -> Result<Neighbours, ServiceError> {
        let newer = self.repo.newer_photo_ids(id, None, 1).await?.first().copied();
        let older = self.repo.latest_photos(1, Some(id)).await?.first().map(|p| p.id);
        Ok(Neighbours { newer, older })
    }

    /// A page for the JSON API, straight from the database. `limit` is capped at 100.
    pub async fn api_page(&self, limit: u32, before: Option<PhotoId>) -> Result<FeedPage, ServiceError> {
        self.read_database(limit.clamp(1, API_MAX_LIMIT), before, FeedSource::Database).await
    }

    /// Drops the cached front page (after an upload or delete), here and for every instance
    /// sharing the cache. When the cache cannot be told, a background task retries until it
    /// can, and meanwhile this instance reads the list from the database.
    pub async fn invalidate(&self) {
        let Err(e) = publish_new_version(&*self.cache, &self.version_key, &self.page_key, self.version_ttl).await
        else {
            return;
        };
        tracing::warn!(error = %e, "front page invalidation failed; retrying in the background");
        let Ok(mut retry) = self.retry.lock() else {
            return;
        };
        retry.dirty = true;
        if retry.running {
            return;
        }
        retry.running = true;
        let (state, cache) = (self.retry.clone(), self.cache.clone());
        let (version_key, page_key, ttl) = (self.version_key.clone(), self.page_key.clone(), self.version_ttl);
        tokio::spawn(async move {
            let mut wait = RETRY_FIRST;
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
                if let Ok(mut retry) = state.lock() {
                    retry.dirty = false;
                }
                let published = publish_new_version(&*cache, &version_key, &page_key, ttl).await.is_ok();
                let Ok(mut retry) = state.lock() else {
                    return;
                };
                if published && !retry.dirty {
                    retry.running = false;
                    tracing::info!("front page invalidation delivered");
                    return;
                }
                retry.dirty = true;
            }
        });
    }

    /// A lost invalidation is being retried: cached pages are not trusted here meanwhile.
    fn retrying(&self) -> bool {
        self.retry.lock().map_or(true, |retry| retry.running)
    }

    async fn read_database(
        &self,
        limit: u32,
        before: Option<PhotoId>,
        source: FeedSource,
    ) -> Result<FeedPage, ServiceError> {
        let started = Instant::now();
        let rows = self.repo.latest_photos(limit + 1, before).await?;
        let db = Some(started.elapsed());
        let (views, older, store) = self.page_of(rows, limit).await?;
        let timings = Timings { cache: None, db, store: Some(store) };
        Ok(FeedPage { photos: Arc::new(views), source, older, newer: None, timings })
    }

    /// The list in `bytes`, and the time its image URLs took when they had to be made.
    async fn decode(&self, bytes: Bytes) -> Result<(Arc<Decoded>, Option<Duration>), ServiceError> {
        if let Some(last) = self.last.lock().ok().and_then(|l| l.clone())
            && last.source == bytes
            && last.made.elapsed() < self.url_refresh
        {
            return Ok((last, None));
        }
        let rows: Vec<Photo> = serde_json::from_slice(&bytes)?;
        let made = Instant::now();
        let (views, older, store) = self.page_of(rows, self.page_size).await?;
        let decoded = Arc::new(Decoded { source: bytes, photos: Arc::new(views), older, made });
        if let Ok(mut last) = self.last.lock() {
            *last = Some(decoded.clone());
        }
        Ok((decoded, Some(store)))
    }

    /// Joins the fill in flight for `version`, or starts one. `None` when it failed (already
    /// logged).
    async fn fill(&self, version: Bytes) -> Option<Bytes> {
        let fill = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return None;
            };
            match inflight.as_ref() {
                Some((for_version, fill)) if *for_version == version => fill.clone(),
                _ => {
                    let fill = self.new_fill(version.clone());
                    *inflight = Some((version, fill.clone()));
                    fill
                }
            }
        };
        let result = fill.clone().await;
        if let Ok(mut inflight) = self.inflight.lock()
            && inflight.as_ref().is_some_and(|(_, f)| f.ptr_eq(&fill))
        {
            *inflight = None;
        }
        result
    }

    fn new_fill(&self, version: Bytes) -> Fill {
        let (repo, cache) = (self.repo.clone(), self.cache.clone());
        let (key, ttl, rows) = (self.page_key.clone(), self.ttl, self.page_size + 1);
        async move {
            let photos = match repo.latest_photos(rows, None).await {
                Ok(photos) => photos,
                Err(e) => {
                    tracing::warn!(error = %e, "front page fill failed");
                    return None;
                }
            };
            let json = serde_json::to_vec(&photos).ok()?;
            let mut stored = Vec::with_capacity(version.len() + 1 + json.len());
            stored.extend_from_slice(&version);
            stored.push(VERSION_SEPARATOR);
            stored.extend_from_slice(&json);
            if let Err(e) = cache.set(&key, Bytes::from(stored), ttl).await {
                tracing::warn!(error = %e, "front page cache write failed");
            }
            Some(Bytes::from(json))
        }
        .boxed()
        .shared()
    }
}

fn new_version() -> Bytes {
    Bytes::from(ulid::Ulid::new().to_string())
}

/// Writes a new version (so no page written before is current) and drops the page.
async fn publish_new_version(
    cache: &dyn Cache,
    version_key: &str,
    page_key: &str,
    ttl: Duration,
) -> Result<(), crate::cache::CacheError> {
    cache.set(version_key, new_version(), ttl).await?;
    cache.delete(page_key).await
}

/// The JSON of a cached page if it was written under `version`, else `None` (a stale write).
fn current_json(page: Bytes, version: &[u8]) -> Option<Bytes> {
    let split = page.iter().position(|&b| b == VERSION_SEPARATOR)?;
    (&page[..split] == version).then(|| page.slice(split + 1..))
}
