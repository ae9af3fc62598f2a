//! Where uploads wait on disk while they are read and checked, and the sweep at startup that
//! removes what a killed process left behind: staged uploads, and the `<blob>#<N>` files
//! object_store's `LocalFileSystem` writes beside a blob before renaming it into place.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The staging directory under `data_dir`: private to the server (0700), never a shared
/// `/tmp`, so other local users can neither read uploads nor plant files in their place.
pub fn staging_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("staging")
}

/// A new, empty staging file (0600) that is removed when dropped; a file a crash leaves
/// behind is removed by [`sweep`] at the next start.
pub fn staged_file(data_dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = staging_dir(data_dir);
    match tempfile::Builder::new().prefix("upload-").tempfile_in(&dir) {
        // Removed while the server ran (an over-eager cleanup of data_dir): made again, private.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
            tempfile::Builder::new().prefix("upload-").tempfile_in(&dir)
        }
        created => created,
    }
}

/// What [`sweep`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub staged_uploads: usize,
    pub partial_blobs: usize,
}

/// Empties (or creates) the staging directory with mode 0700, and removes partial blob files
/// under `blob_dir` (a local store's directory) older than `partial_min_age`.
///
/// Call it at startup, before requests are served. The staging directory belongs to this
/// instance alone (`data_dir` is per instance). A store directory may be shared by several
/// instances (`storage_shared`): then pass an age no write in progress can reach, so another
/// instance's put is not cut short.
pub fn sweep(data_dir: &Path, blob_dir: Option<&Path>, partial_min_age: Duration) -> std::io::Result<Swept> {
    let staging = staging_dir(data_dir);
    let mut swept = Swept::default();
    match std::fs::read_dir(&staging) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(entry.path())?;
                } else {
                    std::fs::remove_file(entry.path())?;
                }
                swept.staged_uploads += 1;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&staging)?;
        }
        Err(e) => return Err(e),
    }
    // An existing directory keeps its mode through `create`; a server that ran before this
    // check existed may have left it world-readable.
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o700))?;
    if let Some(dir) = blob_dir {
        swept.partial_blobs = remove_partial_blobs(dir, partial_min_age)?;
    }
    Ok(swept)
}

/// `photo.jpg#3`: the name object_store gives a blob while it is being written.
fn is_partial_blob(name: &std::ffi::OsStr) -> bool {
    let name = name.as_encoded_bytes();
    match name.iter().rposition(|&b| b == b'#') {
        Some(i) => i > 0 && i + 1 < name.len() && name[i + 1..].iter().all(u8::is_ascii_digit),
        None => false,
    }
}

/// Every partial blob file under `dir` (walked recursively) that `is_old` accepts.
fn partial_blobs(
    dir: &Path,
    is_old: impl Fn(&std::fs::DirEntry) -> std::io::Result<bool>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A directory emptied and removed by a delete meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else if is_partial_blob(&entry.file_name()) && is_old(&entry)? {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

fn remove_partial_blobs(dir: &Path, min_age: Duration) -> std::io::Result<usize> {
    let now = SystemTime::now();
    let old_enough = |entry: &std::fs::DirEntry| -> std::io::Result<bool> {
        let age = entry.metadata()?.modified().ok().and_then(|m| now.duration_since(m).ok());
        Ok(min_age.is_zero() || age.is_some_and(|age| age >= min_age))
    };
    let mut removed = 0;
    for path in partial_blobs(dir, old_enough)? {
        match std::fs::remove_file(path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// What a running server may still be writing is younger than `min_age`; anything older in
/// the staging directory, and any partial blob file (`<blob>#<N>`) older under `blob_dir`, was
/// left behind by a killed process. Returns those paths, for `stratus check` to report (and
/// remove with `--repair`) while the server keeps running.
pub fn leftovers(data_dir: &Path, blob_dir: Option<&Path>, min_age: Duration) -> std::io::Result<Vec<PathBuf>> {
    let now = SystemTime::now();
    let old = |entry: &std::fs::DirEntry| -> std::io::Result<bool> {
        let modified = entry.metadata()?.modified()?;
        Ok(now.duration_since(modified).is_ok_and(|age| age >= min_age))
    };
    let mut found = Vec::new();
    match std::fs::read_dir(staging_dir(data_dir)) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if old(&entry)? {
                    found.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = blob_dir {
        found.extend(partial_blobs(dir, old)?);
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_blob_names_are_object_stores_staging_names_only() {
        for partial in ["a.jpg#1", "01ARZ3NDEKTSV4RRFFQ69G5FAV.png#12"] {
            assert!(is_partial_blob(std::ffi::OsStr::new(partial)), "{partial}");
        }
        for other in ["a.jpg", "a.jpg#", "#1", "a.jpg#1x", "a#b.jpg", "stratus.db-wal"] {
            assert!(!is_partial_blob(std::ffi::OsStr::new(other)), "{other}");
        }
    }

    #[test]
    fn sweep_keeps_blobs_removes_partials_and_staged_uploads() {
        let data = tempfile::tempdir().expect("dir");
        let blobs = data.path().join("photos");
        std::fs::create_dir_all(blobs.join("photos")).expect("dirs");
        std::fs::write(blobs.join("photos/a.jpg"), b"blob").expect("blob");
        std::fs::write(blobs.join("photos/b.jpg#1"), b"half").expect("partial");
        std::fs::create_dir_all(staging_dir(data.path())).expect("staging");
        std::fs::write(staging_dir(data.path()).join("upload-x"), b"staged").expect("staged");

        // A shared store: a fresh partial file may be another instance's write in progress.
        let swept = sweep(data.path(), Some(&blobs), Duration::from_secs(3600)).expect("sweep");
        assert_eq!(swept, Swept { staged_uploads: 1, partial_blobs: 0 });
        assert!(blobs.join("photos/b.jpg#1").exists());

        let swept = sweep(data.path(), Some(&blobs), Duration::ZERO).expect("sweep");
        assert_eq!(swept, Swept { staged_uploads: 0, partial_blobs: 1 });
        assert!(blobs.join("photos/a.jpg").exists());
        assert!(!blobs.join("photos/b.jpg#1").exists());
        let mode = std::fs::metadata(staging_dir(data.path())).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
