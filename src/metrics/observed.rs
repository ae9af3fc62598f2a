//! Backends wrapped so every call is timed and every failure counted, whichever backend the
//! profile chose. `state` wraps each backend once; nothing else knows.

use std::sync::Arc;
use std::time::Duration;

use super::{Metrics, observe};
use crate::db::{DbError, Repo, SnapshotBatch, UserRecord};
use crate::domain::{AltText, BlobKey, Caption, Conflict, Photo, PhotoId, User, UserId, Username};
use crate::session::{SessionData, SessionError, SessionStore};
use crate::store::{Blob, BlobBody, BlobMeta, ByteStream, Store, StoreError};

pub struct ObservedRepo {
    pub inner: Arc<dyn Repo>,
    pub metrics: Arc<Metrics>,
}

impl ObservedRepo {
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        observe(&self.metrics.db_duration, &self.metrics.db_errors, operation, call).await
    }
}

#[rocket::async_trait]
impl Repo for ObservedRepo {
    async fn ping(&self) -> Result<(), DbError> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn insert_user(&self, user: &User) -> Result<Result<(), Conflict>, DbError> {
        self.timed("insert_user", self.inner.insert_user(user)).await
    }

    async fn user_by_name(&self, name: &Username) -> Result<Option<User>, DbError> {
        self.timed("user_by_name", self.inner.user_by_name(name)).await
    }

    async fn insert_photo(&self, photo: &Photo) -> Result<(), DbError> {
        self.timed("insert_photo", self.inner.insert_photo(photo)).await
    }

    async fn insert_photos_bulk(&self, photos: Vec<Photo>) -> Result<(), DbError> {
        self.timed("insert_photos_bulk", self.inner.insert_photos_bulk(photos)).await
    }

    async fn photo(&self, id: PhotoId) -> Result<Option<Photo>, DbError> {
        self.timed("photo", self.inner.photo(id)).await
    }

    async fn latest_photos(&self, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        self.timed("latest_photos", self.inner.latest_photos(limit, before)).await
    }

    async fn owner_photos(&self, owner: UserId, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        self.timed("owner_photos", self.inner.owner_photos(owner, limit, before)).await
    }

    async fn newer_photo_ids(
        &self,
        after: PhotoId,
        owner: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PhotoId>, DbError> {
        self.timed("newer_photo_ids", self.inner.newer_photo_ids(after, owner, limit)).await
    }

    async fn update_caption(&self, id: PhotoId, caption: &Caption, alt: &AltText) -> Result<bool, DbError> {
        self.timed("update_caption", self.inner.update_caption(id, caption, alt)).await
    }

    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> Result<bool, DbError> {
        self.timed("update_password_hash", self.inner.update_password_hash(id, password_hash)).await
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<Vec<Photo>>, DbError> {
        self.timed("delete_user", self.inner.delete_user(id)).await
    }

    async fn delete_photo(&self, id: PhotoId) -> Result<bool, DbError> {
        self.timed("delete_photo", self.inner.delete_photo(id)).await
    }

    async fn count_photos(&self) -> Result<u64, DbError> {
        self.timed("count_photos", self.inner.count_photos()).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, DbError> {
        self.timed("user_by_id", self.inner.user_by_id(id)).await
    }

    async fn set_admin(&self, name: &Username, admin: bool) -> Result<bool, DbError> {
        self.timed("set_admin", self.inner.set_admin(name, admin)).await
    }

    async fn is_admin(&self, id: UserId) -> Result<bool, DbError> {
        self.timed("is_admin", self.inner.is_admin(id)).await
    }

    async fn count_users(&self) -> Result<u64, DbError> {
        self.timed("count_users", self.inner.count_users()).await
    }

    async fn users_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, DbError> {
        self.timed("users_after", self.inner.users_after(after, limit)).await
    }

    async fn photos_after(&self, after: Option<PhotoId>, limit: u32) -> Result<Vec<Photo>, DbError> {
        self.timed("photos_after", self.inner.photos_after(after, limit)).await
    }

    async fn insert_users_bulk(&self, users: Vec<UserRecord>) -> Result<Result<(), Conflict>, DbError> {
        self.timed("insert_users_bulk", self.inner.insert_users_bulk(users)).await
    }

    async fn snapshot(
        &self,
        batch: u32,
        sink: tokio::sync::mpsc::Sender<SnapshotBatch>,
    ) -> Result<(u64, u64), DbError> {
        self.timed("snapshot", self.inner.snapshot(batch, sink)).await
    }
}

pub struct ObservedStore {
    pub inner: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

impl ObservedStore {
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        observe(&self.metrics.store_duration, &self.metrics.store_errors, operation, call).await
    }
}

#[rocket::async_trait]
impl Store for ObservedStore {
    async fn put(&self, key: &BlobKey, body: BlobBody, content_type: &str) -> Result<(), StoreError> {
        self.timed("put", self.inner.put(key, body, content_type)).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, StoreError> {
        self.timed("get", self.inner.get(key)).await
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, StoreError> {
        self.timed("head", self.inner.head(key)).await
    }

    // Times opening the read; the bytes flow afterwards, as fast as the client takes them.
    async fn read(&self, key: &BlobKey, range: std::ops::Range<u64>) -> Result<Option<ByteStream>, StoreError> {
        self.timed("read", self.inner.read(key, range)).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        self.timed("delete", self.inner.delete(key)).await
    }

    // Not timed: a local computation (or a signature) for every photo on every page, which
    // would drown the calls that do travel.
    async fn url(&self, key: &BlobKey) -> Result<String, StoreError> {
        self.inner.url(key).await
    }

    async fn list(&self) -> Result<Vec<BlobKey>, StoreError> {
        self.timed("list", self.inner.list()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }
}

pub struct ObservedSessions {
    pub inner: Arc<dyn SessionStore>,
    pub metrics: Arc<Metrics>,
}

impl ObservedSessions {
    fn counted<T>(&self, operation: &'static str, result: Result<T, SessionError>) -> Result<T, SessionError> {
        if result.is_err() {
            self.metrics.session_errors.with_label_values(&[operation]).inc();
        }
        result
    }
}

#[rocket::async_trait]
impl SessionStore for ObservedSessions {
    async fn create(
        &self,
        key: &str,
        data: &SessionData,
        idle_ttl: Duration,
        lifetime: Duration,
    ) -> Result<(), SessionError> {
        self.counted("create", self.inner.create(key, data, idle_ttl, lifetime).await)
    }

    async fn get(&self, key: &str) -> Result<Option<SessionData>, SessionError> {
        self.counted("get", self.inner.get(key).await)
    }

    async fn touch(&self, key: &str, idle_ttl: Duration) -> Result<bool, SessionError> {
        self.counted("touch", self.inner.touch(key, idle_ttl).await)
    }

    async fn destroy(&self, key: &str) -> Result<(), SessionError> {
        self.counted("destroy", self.inner.destroy(key).await)
    }

    async fn destroy_all_of(&self, user: UserId) -> Result<(), SessionError> {
        self.counted("destroy_all_of", self.inner.destroy_all_of(user).await)
    }

    async fn ping(&self) -> Result<(), SessionError> {
        self.counted("ping", self.inner.ping().await)
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
