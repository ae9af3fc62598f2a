//! `Store` on S3 (or any S3-compatible server) through object_store. Credentials, region and
//! endpoint come from the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, or the instance role), never from the config file.
//! Browsers load images from `media_base_url` + key (a CDN, level 5) or from presigned URLs.

use std::ops::Range;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    RetryConfig,
};

use super::{Blob, BlobBody, BlobMeta, ByteStream, Store, StoreError};
use crate::domain::{BlobKey, ImageKind};

/// The type stored with the blob, else the one its key's extension implies.
fn content_type_of(key: &BlobKey, result: &GetResult) -> String {
    result
        .attributes
        .get(&Attribute::ContentType)
        .map(|v| v.as_ref().to_owned())
        .or_else(|| ImageKind::from_key(key).map(|k| k.content_type().to_owned()))
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

pub enum MediaUrls {
    /// `base/prefix/key`: a CDN or public bucket in front of the store.
    Base(String),
    /// Presigned GET URLs valid this long.
    Presigned(Duration),
}

pub struct S3Store {
    s3: AmazonS3,
    prefix: String,
    urls: MediaUrls,
}

impl S3Store {
    pub fn open(bucket: &str, prefix: &str, urls: MediaUrls) -> Result<Self, StoreError> {
        // A user waits on every request: give up after a few seconds rather than object_store's
        // default of retrying for minutes.
        let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(5), ..RetryConfig::default() };
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            .build()?;
        Ok(Self { s3, prefix: prefix.trim_matches('/').to_owned(), urls })
    }

    fn path_of(&self, key: &BlobKey) -> Result<Path, StoreError> {
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        Ok(Path::parse(full)?)
    }
}

#[rocket::async_trait]
impl Store for S3Store {
    async fn put(&self, key: &BlobKey, body: BlobBody, content_type: &str) -> Result<(), StoreError> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        attributes.insert(Attribute::CacheControl, "public, max-age=31536000, immutable".into());
        let payload: PutPayload = body.into_pieces().into_iter().collect();
        let options = PutOptions { attributes, ..PutOptions::default() };
        self.s3.put_opts(&self.path_of(key)?, payload, options).await?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Blob>, StoreError> {
        let result = match self.s3.get(&self.path_of(key)?).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let content_type = content_type_of(key, &result);
        let etag = result.meta.e_tag.as_deref().and_then(super::http_etag);
        Ok(Some(Blob { bytes: result.bytes().await?, content_type, etag }))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, StoreError> {
        // A HEAD through get_opts, not `head`, so the stored content type comes back too.
        let options = GetOptions { head: true, ..GetOptions::default() };
        let result = match self.s3.get_opts(&self.path_of(key)?, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(BlobMeta {
            size: result.meta.size,
            content_type: content_type_of(key, &result),
            etag: result.meta.e_tag.as_deref().and_then(super::http_etag),
            last_modified: result.meta.last_modified.into(),
        }))
    }

    async fn read(&self, key: &BlobKey, range: Range<u64>) -> Result<Option<ByteStream>, StoreError> {
        let len = range.end.saturating_sub(range.start);
        if len == 0 {
            return Ok(self.head(key).await?.map(|_| ByteStream::empty()));
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
        let result = match self.s3.get_opts(&self.path_of(key)?, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let stream = result.into_stream().map_err(StoreError::from);
        Ok(Some(ByteStream::Stream { stream: Box::pin(stream), len }))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        match self.s3.delete(&self.path_of(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn url(&self, key: &BlobKey) -> Result<String, StoreError> {
        let path = self.path_of(key)?;
        match &self.urls {
            MediaUrls::Base(base) => Ok(format!("{}/{path}", base.trim_end_matches('/'))),
            MediaUrls::Presigned(ttl) => Ok(self.s3.signed_url(Method::GET, &path, *ttl).await?.to_string()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobKey>, StoreError> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let metas: Vec<_> = self.s3.list(prefix.as_ref()).try_collect().await?;
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        Ok(metas.iter().filter_map(|m| m.location.as_ref().strip_prefix(&strip).and_then(BlobKey::parse)).collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let probe = Path::from(format!("{}/.stratus-ping", self.prefix).trim_start_matches('/'));
        match self.s3.head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
