//! The operator's commands on a site's data: copy a database to another (`migrate-db`), back a
//! site up and restore it (`backup`, `restore`), and check that rows and blobs agree (`check`).
//! They work through the `Repo` and `Store` traits, so every profile gets them alike.

mod backup;
mod check;
mod migrate_db;

pub use backup::{BackupReport, Manifest, RestoreReport, backup, restore};
pub use check::{CheckOptions, CheckReport, check};
pub use migrate_db::{CopyReport, copy_database};

use sha2::{Digest, Sha256};

use crate::db::DbError;
use crate::store::StoreError;

/// Rows read and written per transaction.
pub const BATCH: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("photo store: {0}")]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding a row: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl MaintenanceError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.display().to_string(), source }
    }
}

/// Why a command would not do what was asked (the destination holds other data, a backup does
/// not verify): one line for the operator, and nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A table's row count and the SHA-256 of its rows as JSON lines in id order: the same data
/// gives the same digest whichever database holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

/// Builds a [`TableDigest`] row by row, and the exact bytes it digests.
#[derive(Default)]
pub(crate) struct Digester {
    hash: Sha256,
    rows: u64,
}

impl Digester {
    /// The row's line (JSON and a newline), after adding it to the digest.
    pub(crate) fn line<T: serde::Serialize>(&mut self, row: &T) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(row)?;
        line.push(b'\n');
        self.hash.update(&line);
        self.rows += 1;
        Ok(line)
    }

    pub(crate) fn finish(self) -> TableDigest {
        TableDigest { rows: self.rows, sha256: hex(&self.hash.finalize()) }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}
