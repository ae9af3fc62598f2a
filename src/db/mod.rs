//! Metadata storage: users and photos. `Repo` is the seam; one file per database.

mod mysql;
mod sqlite;

pub use mysql::MysqlRepo;
pub use sqlite::SqliteRepo;

use crate::domain::{Conflict, Photo, PhotoId, User, UserId, Username};

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

    /// Inserts many rows in one transaction, for benchmarks; all or nothing.
    async fn insert_photos_bulk(&self, photos: Vec<Photo>) -> Result<(), DbError>;

    /// The photo with this id (with its owner's name); `Ok(None)` when absent.
    async fn photo(&self, id: PhotoId) -> Result<Option<Photo>, DbError>;

    /// Up to `limit` photos, newest first, strictly older than `before` when given
    /// (keyset pagination: cost independent of how many rows precede the page).
    async fn latest_photos(&self, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError>;

    /// Deletes the row. `Ok(true)` when a row was deleted, `Ok(false)` when it was already gone
    /// (idempotent).
    async fn delete_photo(&self, id: PhotoId) -> Result<bool, DbError>;

    /// How many photo rows exist.
    async fn count_photos(&self) -> Result<u64, DbError>;

    /// The user with this id; `Ok(None)` when absent.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, DbError>;
}
