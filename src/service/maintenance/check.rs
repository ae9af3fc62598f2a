//! `stratus check [--repair]`: do the rows and the blobs agree? Rows whose blobs are missing
//! (data lost: reported, never "repaired" by deleting the row), blobs no row references
//! (orphans, left by a crash between the blob and the row writes), and staging leftovers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BATCH, MaintenanceError};
use crate::db::Repo;
use crate::domain::{BlobKey, PhotoId};
use crate::store::Store;

pub struct CheckOptions<'a> {
    pub data_dir: &'a Path,
    /// The store's directory when it is on local disk (partial blob files live there).
    pub blob_dir: Option<&'a Path>,
    /// A blob with no row, or a staged file, younger than this may be a publish in flight.
    pub min_age: Duration,
    pub repair: bool,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    pub rows: u64,
    pub blobs: u64,
    /// Photo rows whose original or thumbnail is not in the store.
    pub missing: Vec<(PhotoId, BlobKey)>,
    /// Unreferenced blobs older than `min_age` (removed with `repair`).
    pub orphans: Vec<BlobKey>,
    /// Unreferenced blobs younger than `min_age`: uploads in flight, left alone.
    pub in_flight: u64,
    /// Staged uploads and partial blob files a killed process left (removed with `repair`).
    pub leftovers: Vec<PathBuf>,
    pub repaired: bool,
}

impl CheckReport {
    pub fn healthy(&self) -> bool {
        self.missing.is_empty() && (self.repaired || (self.orphans.is_empty() && self.leftovers.is_empty()))
    }
}

/// When the blob was made, read off the photo id (a ULID, carrying its creation time) that
/// every key the site writes is named after; `None` for a key named otherwise.
fn key_photo(key: &BlobKey) -> Option<PhotoId> {
    let name = key.as_str().rsplit('/').next()?;
    PhotoId::parse(name.split('.').next()?)
}

/// Compares every photo row with the store's listing. Rows are read before the store is
/// listed, so a publish in flight (blob written, row not yet) shows as a young unreferenced
/// blob, never as a row without blob; a row reported missing is read again, so a photo
/// deleted during the check is not reported. `on_rows(done, total)` follows the row scan.
pub async fn check(
    repo: &dyn Repo,
    store: &dyn Store,
    options: CheckOptions<'_>,
    on_rows: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<CheckReport, MaintenanceError> {
    let total = repo.count_photos().await?;
    let mut referenced: HashMap<BlobKey, PhotoId> = HashMap::new();
    let mut report = CheckReport::default();
    let mut after = None;
    loop {
        let rows = repo.photos_after(after, BATCH).await?;
        let Some(last) = rows.last().map(|p| p.id) else { break };
        report.rows += rows.len() as u64;
        for photo in rows {
            referenced.insert(photo.key, photo.id);
            referenced.insert(photo.thumb_key, photo.id);
        }
        on_rows(report.rows, total.max(report.rows));
        after = Some(last);
    }
    let listed: HashSet<BlobKey> = store.list().await?.into_iter().collect();
    report.blobs = listed.len() as u64;
    let mut missing: Vec<(PhotoId, BlobKey)> =
        referenced.iter().filter(|(key, _)| !listed.contains(*key)).map(|(key, id)| (*id, key.clone())).collect();
    missing.sort();
    for (id, key) in missing {
        if repo.photo(id).await?.is_some() {
            report.missing.push((id, key));
        }
    }
    let now_ms = crate::domain::now_unix().saturating_mul(1000).max(0) as u64;
    let min_age_ms = options.min_age.as_millis() as u64;
    // A small thumbnail belongs to its row through the large one; a row may lack it (made
    // on first request for photos older than the second size), so it is never "missing".
    let belongs = |k: &BlobKey| {
        referenced.contains_key(k) || k.large_thumbnail_of().is_some_and(|large| referenced.contains_key(&large))
    };
    for key in listed.into_iter().filter(|k| !belongs(k)) {
        let young = key_photo(&key).is_some_and(|id| now_ms.saturating_sub(id.ulid().timestamp_ms()) < min_age_ms);
        if young {
            report.in_flight += 1;
        } else {
            report.orphans.push(key);
        }
    }
    report.orphans.sort();
    let (data_dir, blob_dir) = (options.data_dir.to_owned(), options.blob_dir.map(Path::to_owned));
    let min_age = options.min_age;
    report.leftovers =
        tokio::task::spawn_blocking(move || crate::store::staging::leftovers(&data_dir, blob_dir.as_deref(), min_age))
            .await?
            .map_err(MaintenanceError::io(options.data_dir))?;
    if options.repair {
        for key in &report.orphans {
            // Its photo published since the listing: it is no orphan any more.
            if let Some(id) = key_photo(key)
                && repo.photo(id).await?.is_some()
            {
                continue;
            }
            store.delete(key).await?;
        }
        for path in &report.leftovers {
            match std::fs::remove_file(path).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ if path.is_dir() => std::fs::remove_dir_all(path),
                _ => Err(e),
            }) {
                Ok(()) => {}
                Err(e) => return Err(MaintenanceError::io(path)(e)),
            }
        }
        report.repaired = true;
    }
    Ok(report)
}
