//! `Store` on a local directory through object_store's `LocalFileSystem`, served by `/media`
//! (or by a CDN in front of it when `media_base_url` is set).

use std::ops::Range;
use std::path::Path as FsPath;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload};

use super::{Blob, BlobBody, BlobMeta, ByteStream, FileBody, Store, StoreError};
use crate::domain::{BlobKey, ImageKind};

pub struct LocalStore {
    fs: LocalFileSystem,
    dir: std::path::PathBuf,
    url_base: String,
}

impl LocalStore {
    /// Uses `dir` (created if missing). URLs are `url_base` + key.
    pub fn open(dir: &FsPath, url_base: &str) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        // Puts go through a temporary file and a rename, so a reader never sees half a photo;
        // automatic cleanup removes directories that deletes leave empty.
        let fs = LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true);
        Ok(Self { fs, dir: dir.to_owned(), url_base: url_base.trim_end_matches('/').to_owned() + "/" })
    }
}

fn location(key: &BlobKey) -> Result<Path, StoreError> {
    Ok(Path::parse(key.as_str())?)
}

fn content_type_of(key: &BlobKey) -> String {
    ImageKind::from_key(key).map(ImageKind::content_type).unwrap_or("application/octet-stream").to_owned()
}

#[rocket::async_trait]
impl Store for LocalStore {
    async fn put(&self, key: &BlobKey, body: BlobBody, _content_type: &str) -> Result<(), StoreError> {
        // The file system keeps no content type: it is derived from the key's extension,
        // which the server chose from the sniffed type.
        self.fs.put(&location(key)?, body.into_pieces().into_iter().collect::<PutPayload>()).await?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, StoreError> {
        let result = match self.fs.get(&location(key)?).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let etag = result.meta.e_tag.as_deref().and_then(super::http_etag);
        let bytes = result.bytes().await?;
        Ok(Some(Blob { bytes, content_type: content_type_of(key), etag }))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, StoreError> {
        let meta = match self.fs.head(&location(key)?).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(BlobMeta {
            size: meta.size,
            content_type: content_type_of(key),
            etag: meta.e_tag.as_deref().and_then(super::http_etag),
            last_modified: meta.last_modified.into(),
        }))
    }

    async fn read(&self, key: &BlobKey, range: Range<u64>) -> Result<Option<ByteStream>, StoreError> {
        if range.is_empty() {
            return Ok(self.head(key).await?.map(|_| ByteStream::empty()));
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
        let result = match self.fs.get_opts(&location(key)?, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let range = result.range.clone();
        match result.payload {
            // The open file itself, so the body is read from disk as it is sent.
            GetResultPayload::File(file, _) => {
                let len = range.end - range.start;
                Ok(Some(ByteStream::File { file: FileBody::new(file, range.start, len), len }))
            }
            GetResultPayload::Stream(stream) => {
                use futures::TryStreamExt;
                let stream = stream.map_err(StoreError::from);
                Ok(Some(ByteStream::Stream { stream: Box::pin(stream), len: range.end - range.start }))
            }
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        match self.fs.delete(&location(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn url(&self, key: &BlobKey) -> Result<String, StoreError> {
        Ok(format!("{}{}", self.url_base, key.as_str()))
    }

    async fn list(&self) -> Result<Vec<BlobKey>, StoreError> {
        let metas: Vec<_> = self.fs.list(None).try_collect().await?;
        Ok(metas.iter().filter_map(|m| BlobKey::parse(m.location.as_ref())).collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A missing or unmounted directory would make every read a "not found": check it.
        match tokio::fs::metadata(&self.dir).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::Config(format!("{} is not a directory", self.dir.display()))),
            Err(e) => Err(StoreError::Config(format!("{}: {e}", self.dir.display()))),
        }
    }
}
