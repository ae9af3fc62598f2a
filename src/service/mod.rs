//! Use-cases: register, login, upload, delete, feed. They order the writes across backends
//! (store → repo → cache) and turn outcomes into `Ok(Ok(_))`, `Ok(Err(rejection))` or `Err`.

mod accounts;
mod architecture;
mod feed;
pub mod maintenance;
mod media;
mod migrate;
mod photos;

pub use accounts::{AccountRejected, Accounts, Caller, Deletion, IssuedSession, LoginRejected, RegisterRejected};
pub use architecture::{
    ArchitectureService, ArchitectureView, BEAT, MISSED_BEATS, level_changes, level_value, levels, url_hosts,
};
pub use feed::{
    FeedOptions, FeedPage, FeedService, FeedSource, Neighbours, Newer, OwnerPage, PhotoView, STALE_BOUND, Timings,
    format_time,
};
pub use media::{CACHEABLE_MAX_BYTES, CachedBlob, MediaBlob, MediaBody, MediaCache};
pub use migrate::{MigrationPlan, MigrationReport};
pub use photos::{DeleteRejected, EditRejected, PhotoService, Words};

use crate::access_log::ReadError;
use crate::auth::password::HashError;
use crate::cache::CacheError;
use crate::db::DbError;
use crate::photos::PipelineError;
use crate::session::SessionError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("database")]
    Db(#[from] DbError),
    #[error("photo store")]
    Store(#[from] StoreError),
    #[error("cache")]
    Cache(#[from] CacheError),
    #[error("session store")]
    Session(#[from] SessionError),
    #[error("image pipeline")]
    Pipeline(#[from] PipelineError),
    #[error("password hashing")]
    Hash(#[from] HashError),
    #[error("encoding the feed")]
    Encode(#[from] serde_json::Error),
    #[error("access log")]
    Traffic(#[from] ReadError),
}

impl ServiceError {
    /// A dependency being down (a 503 that recovers by itself), as opposed to a bug (a 500).
    pub fn is_backend_outage(&self) -> bool {
        match self {
            ServiceError::Db(_) | ServiceError::Store(_) | ServiceError::Cache(_) | ServiceError::Session(_) => true,
            ServiceError::Traffic(e) => e.is_stream(),
            _ => false,
        }
    }
}
