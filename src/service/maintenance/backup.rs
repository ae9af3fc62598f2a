//! `stratus backup` and `stratus restore`. A backup directory holds:
//!
//! - `manifest.json`: row counts and SHA-256 per table, and each blob's key, size and SHA-256;
//!   written last and renamed into place, so a directory with a manifest is a whole backup;
//! - `tables-<id>/users.jsonl`, `tables-<id>/photos.jsonl`: one consistent snapshot of the
//!   durable tables as JSON lines (portable: it restores into SQLite or MySQL alike);
//! - `blobs/<key>`: every blob the snapshot's rows reference. Keys are immutable, so a blob
//!   already there from an earlier backup is not fetched again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;

use super::{BATCH, Digester, MaintenanceError, Refusal, TableDigest, sha256};
use crate::db::{Repo, SnapshotBatch, UserRecord};
use crate::domain::{BlobKey, Photo, PhotoId};
use crate::store::Store;

const FORMAT: &str = "stratus-backup/1";
const MANIFEST: &str = "manifest.json";
/// Blobs fetched, hashed or written at once.
const CONCURRENCY: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlobEntry {
    pub key: BlobKey,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    /// Unix seconds when the snapshot was taken.
    pub created_at: i64,
    /// The directory (relative to the backup) holding this snapshot's table files.
    pub tables_dir: String,
    pub users: TableDigest,
    pub photos: TableDigest,
    pub blobs: Vec<BlobEntry>,
}

#[derive(Debug, Default)]
pub struct BackupReport {
    pub users: u64,
    pub photos: u64,
    pub blobs: u64,
    /// Blobs fetched from the store by this run (the others were in the directory already).
    pub blobs_fetched: u64,
    pub bytes_fetched: u64,
    /// Photos of the snapshot left out because their blob was gone from the store when read:
    /// deleted after the snapshot (or missing, which `stratus check` reports).
    pub left_out: Vec<PhotoId>,
}

#[derive(Debug, Default)]
pub struct RestoreReport {
    pub users: u64,
    pub photos: u64,
    pub blobs: u64,
    pub bytes: u64,
}

fn blob_path(dir: &Path, key: &BlobKey) -> PathBuf {
    dir.join("blobs").join(key.as_str())
}

fn is_empty_dir(dir: &Path) -> Result<bool, MaintenanceError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(MaintenanceError::io(dir)(e)),
    }
}

/// Takes a consistent snapshot of `repo` (one read transaction; the site keeps serving and
/// writing) and copies into `dir` every blob its rows reference. `dir` must be empty, absent,
/// or an earlier backup: its blobs are reused, and its manifest is replaced only once the new
/// backup is whole. `on_blob(done, total)` follows the blob copies.
pub async fn backup(
    repo: &dyn Repo,
    store: &dyn Store,
    dir: &Path,
    on_blob: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<Result<BackupReport, Refusal>, MaintenanceError> {
    if dir.exists() && !dir.is_dir() {
        return Ok(Err(Refusal(format!("{} is not a directory", dir.display()))));
    }
    if !dir.join(MANIFEST).exists() && !is_empty_dir(dir)? {
        return Ok(Err(Refusal(format!(
            "{} is neither empty nor a stratus backup (no {MANIFEST}): choose an empty directory",
            dir.display()
        ))));
    }
    // A backup holds password hashes: private to its owner, like `data_dir`.
    private_dir(dir)?;
    private_dir(&dir.join("blobs"))?;
    let tables_dir = format!("tables-{}", ulid::Ulid::new());
    let tables = dir.join(&tables_dir);
    private_dir(&tables)?;
    let created_at = crate::domain::now_unix();

    // The snapshot streams into the table files while it is read.
    let (sink, mut batches) = tokio::sync::mpsc::channel(4);
    let users_path = tables.join("users.jsonl");
    let photos_path = tables.join("photos.jsonl");
    let write = async {
        let mut users_file = create(&users_path)?;
        let mut photos_file = create(&photos_path)?;
        let (mut users, mut photos) = (Digester::default(), Digester::default());
        let mut blobs: BTreeMap<BlobKey, (String, PhotoId)> = BTreeMap::new();
        while let Some(batch) = batches.recv().await {
            match batch {
                SnapshotBatch::Users(rows) => {
                    for row in &rows {
                        users_file.write_all(&users.line(row)?).map_err(MaintenanceError::io(&users_path))?;
                    }
                }
                SnapshotBatch::Photos(rows) => {
                    for row in &rows {
                        photos_file.write_all(&photos.line(row)?).map_err(MaintenanceError::io(&photos_path))?;
                        blobs.insert(row.key.clone(), (row.kind.content_type().to_owned(), row.id));
                        blobs.insert(row.thumb_key.clone(), ("image/jpeg".to_owned(), row.id));
                    }
                }
            }
        }
        finish(users_file, &users_path)?;
        finish(photos_file, &photos_path)?;
        Ok::<_, MaintenanceError>((users.finish(), photos.finish(), blobs))
    };
    let (read, written) = tokio::join!(repo.snapshot(BATCH, sink), write);
    read?;
    let (users, mut photos, blobs) = written?;

    let total = blobs.len() as u64;
    let mut copies = futures::stream::iter(blobs)
        .map(|(key, (content_type, photo))| async move {
            let outcome = keep_blob(store, dir, &key, content_type).await;
            (photo, outcome)
        })
        .buffer_unordered(CONCURRENCY);
    let mut report = BackupReport::default();
    let mut entries = Vec::new();
    let mut left_out = BTreeSet::new();
    while let Some((photo, outcome)) = copies.next().await {
        match outcome? {
            Some((entry, fetched)) => {
                if fetched {
                    report.blobs_fetched += 1;
                    report.bytes_fetched += entry.size;
                }
                entries.push(entry);
            }
            None => {
                left_out.insert(photo);
            }
        }
        on_blob(entries.len() as u64 + left_out.len() as u64, total);
    }
    drop(copies);
    if !left_out.is_empty() {
        photos = drop_photos(&photos_path, &left_out)?;
        // The other blob of a photo left out is not needed either.
        let keep: BTreeSet<BlobKey> =
            read_lines::<Photo>(&photos_path)?.into_iter().flat_map(|p| [p.key, p.thumb_key]).collect();
        entries.retain(|e| keep.contains(&e.key));
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    report.users = users.rows;
    report.photos = photos.rows;
    report.blobs = entries.len() as u64;
    report.left_out = left_out.into_iter().collect();
    let manifest =
        Manifest { format: FORMAT.into(), created_at, tables_dir: tables_dir.clone(), users, photos, blobs: entries };
    let partial = dir.join(format!("{MANIFEST}.partial"));
    let mut file = create(&partial)?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?).map_err(MaintenanceError::io(&partial))?;
    finish(file, &partial)?;
    std::fs::rename(&partial, dir.join(MANIFEST)).map_err(MaintenanceError::io(dir))?;
    // The earlier snapshots' tables (or a killed run's) are no longer referenced.
    for entry in std::fs::read_dir(dir).map_err(MaintenanceError::io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("tables-") && name != tables_dir {
            std::fs::remove_dir_all(entry.path()).map_err(MaintenanceError::io(&entry.path()))?;
        }
    }
    Ok(Ok(report))
}

/// Creates `dir` (and missing parents) 0700, and tightens an existing one to 0700.
fn private_dir(dir: &Path) -> Result<(), MaintenanceError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(MaintenanceError::io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(MaintenanceError::io(dir))
}

/// A new file, 0600 from the moment it exists.
fn private_file(path: &Path) -> Result<std::fs::File, MaintenanceError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(MaintenanceError::io(path))
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, MaintenanceError> {
    Ok(std::io::BufWriter::new(private_file(path)?))
}

fn finish(file: std::io::BufWriter<std::fs::File>, path: &Path) -> Result<(), MaintenanceError> {
    let file = file.into_inner().map_err(|e| MaintenanceError::io(path)(e.into_error()))?;
    file.sync_all().map_err(MaintenanceError::io(path))
}

/// The blob's manifest entry, and whether it was fetched now; `None` when the store no
/// longer has it. A blob already in the backup is only hashed.
async fn keep_blob(
    store: &dyn Store,
    dir: &Path,
    key: &BlobKey,
    content_type: String,
) -> Result<Option<(BlobEntry, bool)>, MaintenanceError> {
    let path = blob_path(dir, key);
    let existing = path.clone();
    let hashed = tokio::task::spawn_blocking(move || match std::fs::read(&existing) {
        Ok(bytes) => Ok(Some((bytes.len() as u64, sha256(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MaintenanceError::io(&existing)(e)),
    })
    .await??;
    if let Some((size, sha256)) = hashed {
        return Ok(Some((BlobEntry { key: key.clone(), size, sha256, content_type }, false)));
    }
    let Some(blob) = store.get(key).await? else { return Ok(None) };
    let bytes = blob.bytes;
    let (size, sha) = tokio::task::spawn_blocking(move || {
        write_atomically(&path, &bytes).map(|()| (bytes.len() as u64, sha256(&bytes)))
    })
    .await??;
    Ok(Some((BlobEntry { key: key.clone(), size, sha256: sha, content_type }, true)))
}

/// Writes beside the final name and renames: a killed run leaves no partial blob under a key.
fn write_atomically(path: &Path, bytes: &Bytes) -> Result<(), MaintenanceError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    private_dir(parent)?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut file = private_file(&partial)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(MaintenanceError::io(&partial))?;
    std::fs::rename(&partial, path).map_err(MaintenanceError::io(path))
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, MaintenanceError> {
    let file = std::fs::File::open(path).map_err(MaintenanceError::io(path))?;
    let mut rows = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        rows.push(serde_json::from_str(&line.map_err(MaintenanceError::io(path))?)?);
    }
    Ok(rows)
}

/// Rewrites the photos file without `ids`; returns its new digest.
fn drop_photos(path: &Path, ids: &BTreeSet<PhotoId>) -> Result<TableDigest, MaintenanceError> {
    let rows: Vec<Photo> = read_lines(path)?;
    let mut digester = Digester::default();
    let mut file = create(path)?;
    for row in rows.iter().filter(|p| !ids.contains(&p.id)) {
        file.write_all(&digester.line(row)?).map_err(MaintenanceError::io(path))?;
    }
    finish(file, path)?;
    Ok(digester.finish())
}

/// The manifest of the backup in `dir`, or why `dir` is not one.
pub fn read_manifest(dir: &Path) -> Result<Manifest, Refusal> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path)
        .map_err(|e| Refusal(format!("{} is not a stratus backup: {}: {e}", dir.display(), path.display())))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| Refusal(format!("{} is not a stratus backup: {}: {e}", dir.display(), path.display())))?;
    // Read from inside the backup only: a hand-edited manifest cannot point elsewhere.
    if !manifest.tables_dir.starts_with("tables-") || manifest.tables_dir.contains(['/', '\\']) {
        return Err(Refusal(format!(
            "{}: tables_dir {:?} is not a directory of this backup",
            path.display(),
            manifest.tables_dir
        )));
    }
    if manifest.format != FORMAT {
        return Err(Refusal(format!(
            "{}: format {:?}, this stratus reads {FORMAT:?}",
            path.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

/// A table file's rows, if its count and checksum are the manifest's.
fn verified_rows<T: serde::de::DeserializeOwned>(
    path: &Path,
    want: &TableDigest,
) -> Result<Result<Vec<T>, Refusal>, MaintenanceError> {
    let bytes = std::fs::read(path).map_err(MaintenanceError::io(path))?;
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    if sha256(&bytes) != want.sha256 || lines != want.rows {
        return Ok(Err(Refusal(format!("checksum fails: {} is not the file the backup wrote", path.display()))));
    }
    let mut rows = Vec::new();
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        rows.push(serde_json::from_slice(line)?);
    }
    Ok(Ok(rows))
}

/// Restores the backup in `dir` into an empty database and store: checks the destination is
/// empty and every checksum first (a refusal writes nothing), then writes the blobs, then the
/// rows (so no row ever points at a blob not yet there). `on_blob(done, total)` follows the
/// blob writes.
pub async fn restore(
    repo: &dyn Repo,
    store: &dyn Store,
    dir: &Path,
    on_blob: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<Result<RestoreReport, Refusal>, MaintenanceError> {
    let manifest = match read_manifest(dir) {
        Ok(manifest) => manifest,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (users, photos, blobs) = (repo.count_users().await?, repo.count_photos().await?, store.list().await?.len());
    if users + photos + blobs as u64 > 0 {
        return Ok(Err(Refusal(format!(
            "the destination is not empty ({users} users, {photos} photos, {blobs} blobs): restore into a new database and store"
        ))));
    }
    let tables = dir.join(&manifest.tables_dir);
    let user_rows: Vec<UserRecord> = match verified_rows(&tables.join("users.jsonl"), &manifest.users)? {
        Ok(rows) => rows,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let photo_rows: Vec<Photo> = match verified_rows(&tables.join("photos.jsonl"), &manifest.photos)? {
        Ok(rows) => rows,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let mut checks = futures::stream::iter(
        manifest.blobs.iter().map(|e| (blob_path(dir, &e.key), e.size, e.sha256.clone())).collect::<Vec<_>>(),
    )
    .map(|(path, size, sha)| {
        tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(bytes) if bytes.len() as u64 == size && sha256(&bytes) == sha => None,
            Ok(_) => Some(format!("checksum fails: {}", path.display())),
            Err(e) => Some(format!("{}: {e}", path.display())),
        })
    })
    .buffer_unordered(CONCURRENCY);
    while let Some(problem) = checks.next().await {
        if let Some(problem) = problem? {
            return Ok(Err(Refusal(format!("the backup does not verify, nothing was restored: {problem}"))));
        }
    }
    drop(checks);

    let total = manifest.blobs.len() as u64;
    let mut report = RestoreReport::default();
    let mut puts = futures::stream::iter(manifest.blobs.clone())
        .map(|entry| async move {
            let path = blob_path(dir, &entry.key);
            let read = path.clone();
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(&read))
                .await?
                .map_err(MaintenanceError::io(&path))?;
            let size = bytes.len() as u64;
            store.put(&entry.key, Bytes::from(bytes).into(), &entry.content_type).await?;
            Ok::<_, MaintenanceError>(size)
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(size) = puts.next().await {
        report.bytes += size?;
        report.blobs += 1;
        on_blob(report.blobs, total);
    }
    drop(puts);
    for chunk in user_rows.chunks(BATCH as usize) {
        if repo.insert_users_bulk(chunk.to_vec()).await?.is_err() {
            return Ok(Err(Refusal("a user of the backup is already in the destination (written meanwhile?)".into())));
        }
        report.users += chunk.len() as u64;
    }
    for chunk in photo_rows.chunks(BATCH as usize) {
        repo.insert_photos_bulk(chunk.to_vec()).await?;
        report.photos += chunk.len() as u64;
    }
    Ok(Ok(report))
}
