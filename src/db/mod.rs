//! Metadata storage: users and photos. `Repo` is the seam; one file per database, the SQL
//! both run in `sql`, the migration runner both use in `migrate`.

mod migrate;
mod mysql;
mod sql;
mod sqlite;

pub use mysql::MysqlRepo;
pub use sqlite::SqliteRepo;

use serde::{Deserialize, Serialize};

use crate::domain::{AltText, BlobKey, Caption, Conflict, ImageKind, Photo, PhotoId, User, UserId, Username};

/// A user row with everything a copy of the database must keep: the password hash (people log
/// in with the same passwords after a move) and the admin role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub username: Username,
    pub password_hash: String,
    pub created_at: i64,
    pub is_admin: bool,
}

impl UserRecord {
    /// The record of `user`, who holds the admin role when `is_admin`.
    pub(crate) fn with_role(user: User, is_admin: bool) -> Self {
        let User { id, username, password_hash, created_at } = user;
        Self { id, username, password_hash, created_at, is_admin }
    }
}

/// Rows of one consistent snapshot of the durable tables, in the order they may be written
/// back (users before the photos that reference them), each table in id order.
#[derive(Debug, Clone)]
pub enum SnapshotBatch {
    Users(Vec<UserRecord>),
    Photos(Vec<Photo>),
}

/// A user row as every dialect reads it, before its values become domain types.
pub(crate) struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// A photo row (joined with its owner's name) as every dialect reads it.
pub(crate) struct PhotoRow {
    pub id: String,
    pub owner_id: String,
    pub owner: String,
    pub caption: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub key: String,
    pub thumb_key: String,
    pub created_at: i64,
    pub alt: String,
}

fn corrupt(what: &str, value: &str) -> String {
    format!("{what}: {value:?}")
}

impl UserRow {
    /// The user, or which stored value is not valid.
    pub(crate) fn parse(self) -> Result<User, String> {
        Ok(User {
            id: UserId::parse(&self.id).ok_or_else(|| corrupt("user id", &self.id))?,
            username: Username::parse(&self.username).ok_or_else(|| corrupt("username", &self.username))?,
            password_hash: self.password_hash,
            created_at: self.created_at,
        })
    }
}

impl PhotoRow {
    /// The photo, or which stored value is not valid.
    pub(crate) fn parse(self) -> Result<Photo, String> {
        Ok(Photo {
            id: PhotoId::parse(&self.id).ok_or_else(|| corrupt("photo id", &self.id))?,
            owner_id: UserId::parse(&self.owner_id).ok_or_else(|| corrupt("owner id", &self.owner_id))?,
            owner: Username::parse(&self.owner).ok_or_else(|| corrupt("owner", &self.owner))?,
            caption: Caption::from_stored(&self.caption).ok_or_else(|| corrupt("caption", &self.caption))?,
            kind: ImageKind::from_content_type(&self.content_type)
                .ok_or_else(|| corrupt("content type", &self.content_type))?,
            width: self.width,
            height: self.height,
            bytes: self.bytes,
            key: BlobKey::parse(&self.key).ok_or_else(|| corrupt("blob key", &self.key))?,
            thumb_key: BlobKey::parse(&self.thumb_key).ok_or_else(|| corrupt("thumb key", &self.thumb_key))?,
            created_at: self.created_at,
            alt: AltText::parse(&self.alt).ok_or_else(|| corrupt("text alternative", &self.alt))?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    #[error("database worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("database row is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {name} failed: {source}")]
    Migration {
        name: String,
        #[source]
        source: Box<DbError>,
    },
    #[error("cannot open database: {0}")]
    Open(String),
}

/// Users and photo metadata. Implementations apply their migrations when constructed.
#[rocket::async_trait]
pub trait Repo: Send + Sync + 'static {
    /// A cheap round trip proving the database answers. Touches no table.
    async fn ping(&self) -> Result<(), DbError>;

    /// Inserts a new user. A username equal to an existing one ignoring case is
    /// `Ok(Err(Conflict))` and changes nothing.
    async fn insert_user(&self, user: &User) -> Result<Result<(), Conflict>, DbError>;

    /// The user with this name, compared ignoring case; `Ok(None)` when there is none.
    async fn user_by_name(&self, name: &Username) -> Result<Option<User>, DbError>;

    /// Inserts a photo row whose owner exists; the whole row or nothing is written.
    /// The id is new (app-generated ULID), so there is no conflict case.
    async fn insert_photo(&self, photo: &Photo) -> Result<(), DbError>;

    /// Inserts many photo rows (owners existing) in one transaction: all or nothing. The
    /// write path of `migrate-db` and `restore`, which copy rows in batches; one round trip
    /// per batch instead of per row is what keeps a million-row copy in minutes.
    async fn insert_photos_bulk(&self, photos: Vec<Photo>) -> Result<(), DbError>;

    /// The photo with this id (with its owner's name); `Ok(None)` when absent.
    async fn photo(&self, id: PhotoId) -> Result<Option<Photo>, DbError>;

    /// Up to `limit` photos, newest first, strictly older than `before` when given
    /// (keyset pagination: cost independent of how many rows precede the page).
    async fn latest_photos(&self, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError>;

    /// Up to `limit` photos of `owner`, newest first, strictly older than `before` when given
    /// (keyset, as `latest_photos`).
    async fn owner_photos(&self, owner: UserId, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError>;

    /// Up to `limit` ids of photos strictly newer than `after` (only `owner`'s when given),
    /// OLDEST first: the way back from an older page, and a photo's newer neighbour.
    async fn newer_photo_ids(&self, after: PhotoId, owner: Option<UserId>, limit: u32)
    -> Result<Vec<PhotoId>, DbError>;

    /// Replaces the photo's caption and text alternative; `Ok(false)` when there is no such
    /// photo (and nothing changes).
    async fn update_caption(&self, id: PhotoId, caption: &Caption, alt: &AltText) -> Result<bool, DbError>;

    /// Replaces the user's password hash; `Ok(false)` when there is no such user.
    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> Result<bool, DbError>;

    /// Deletes the user and every photo row of theirs in one transaction (all or nothing) and
    /// returns those photos, whose blobs are the caller's to remove; `Ok(None)` when there is
    /// no such user (and nothing changes).
    async fn delete_user(&self, id: UserId) -> Result<Option<Vec<Photo>>, DbError>;

    /// Deletes the row. `Ok(true)` when a row was deleted, `Ok(false)` when it was already gone
    /// (idempotent).
    async fn delete_photo(&self, id: PhotoId) -> Result<bool, DbError>;

    /// How many photo rows exist.
    async fn count_photos(&self) -> Result<u64, DbError>;

    /// The user with this id; `Ok(None)` when absent.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, DbError>;

    /// Grants (`admin = true`) or revokes the admin role of the user with this name, compared
    /// ignoring case. `Ok(true)` when that user exists (idempotent: granting twice is `Ok(true)`
    /// both times), `Ok(false)` when there is no such user (and nothing changes).
    async fn set_admin(&self, name: &Username, admin: bool) -> Result<bool, DbError>;

    /// Whether the user with this id holds the admin role; `Ok(false)` for an unknown id.
    /// New users never do: only `set_admin` grants it.
    async fn is_admin(&self, id: UserId) -> Result<bool, DbError>;

    /// How many user rows exist.
    async fn count_users(&self) -> Result<u64, DbError>;

    /// Up to `limit` users with an id strictly greater than `after` (all when `None`), in
    /// ascending id order (byte order of the ULID text, the same in every dialect), with their
    /// password hash and admin role. Keyset: the cost does not grow with the rows before.
    async fn users_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, DbError>;

    /// Up to `limit` photos with an id strictly greater than `after`, in ascending id order
    /// (oldest first, the same order in every dialect), each with its owner's name.
    async fn photos_after(&self, after: Option<PhotoId>, limit: u32) -> Result<Vec<Photo>, DbError>;

    /// Inserts the users exactly as given (ids, hashes, roles) in one transaction: all or
    /// nothing. An id or a name (ignoring case) already present is `Ok(Err(Conflict))` and
    /// writes none of them.
    async fn insert_users_bulk(&self, users: Vec<UserRecord>) -> Result<Result<(), Conflict>, DbError>;

    /// Reads every user and then every photo inside ONE read transaction (a consistent
    /// snapshot: writes committed meanwhile are not seen, none is seen half), sending them in
    /// id-ordered batches of at most `batch` rows. Returns the rows sent per table
    /// `(users, photos)`. Stops with `Ok` early if the receiver is dropped.
    async fn snapshot(&self, batch: u32, sink: tokio::sync::mpsc::Sender<SnapshotBatch>)
    -> Result<(u64, u64), DbError>;
}
