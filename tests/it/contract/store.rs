//! The `Store` contract, run against every implementation.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use stratus::domain::{BlobKey, PhotoId};
use stratus::store::{LocalStore, Store};

pub async fn store_contract(store: Arc<dyn Store>) {
    let id = PhotoId::from_ulid(ulid::Ulid::new());
    let key = BlobKey::original(id, "png");
    let thumb = BlobKey::thumbnail(id);
    store.ping().await.expect("ping");
    assert!(store.get(&key).await.expect("get absent").is_none(), "absent is Ok(None)");
    assert!(store.head(&key).await.expect("head absent").is_none(), "absent is Ok(None)");
    assert!(store.read(&key, 0..1).await.expect("read absent").is_none(), "absent is Ok(None)");
    store.delete(&key).await.expect("deleting an absent key is Ok");

    store.put(&key, Bytes::from_static(b"first").into(), "image/png").await.expect("put");
    store
        .put(&key, [Bytes::from_static(b"sec"), Bytes::from_static(b"ond")].into_iter().collect(), "image/png")
        .await
        .expect("put again replaces");
    store.put(&thumb, Bytes::from_static(b"thumb").into(), "image/jpeg").await.expect("put thumb");
    let blob = store.get(&key).await.expect("get").expect("present");
    assert_eq!(blob.bytes.as_ref(), b"second", "a body in pieces is stored joined");
    assert_eq!(blob.content_type, "image/png");
    assert_eq!(store.get(&thumb).await.expect("get").expect("present").content_type, "image/jpeg");

    ranged_reads(store.as_ref(), &key, b"second").await;

    let mut keys = store.list().await.expect("list");
    keys.sort();
    let mut expected = vec![key.clone(), thumb.clone()];
    expected.sort();
    assert_eq!(keys, expected);

    let url = store.url(&key).await.expect("url");
    assert!(url.contains(key.as_str()), "{url}");

    store.delete(&key).await.expect("delete");
    store.delete(&key).await.expect("delete is idempotent");
    assert!(store.get(&key).await.expect("get").is_none());
    assert_eq!(store.list().await.expect("list"), vec![thumb]);
}

/// `head` describes the blob `get` returns; `read` streams exactly the bytes of a range.
async fn ranged_reads(store: &dyn Store, key: &BlobKey, bytes: &[u8]) {
    let meta = store.head(key).await.expect("head").expect("present");
    let blob = store.get(key).await.expect("get").expect("present");
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(meta.content_type, blob.content_type);
    assert_eq!(meta.etag, blob.etag, "one validator for both reads");
    let age = std::time::SystemTime::now().duration_since(meta.last_modified).unwrap_or_default();
    assert!(age < std::time::Duration::from_secs(600), "last modified just now: {age:?}");
    let len = bytes.len() as u64;
    for range in [0..len, 0..1, 2..len, 1..4, len - 1..len, 3..3] {
        let stream = store.read(key, range.clone()).await.expect("read").expect("present");
        assert_eq!(stream.len(), range.end - range.start);
        let got = stream.collect().await.expect("collect");
        assert_eq!(got.as_ref(), &bytes[range.start as usize..range.end as usize], "{range:?}");
    }
}

/// A blob of several MB streams in pieces, not in one buffer.
async fn large_blob_streams(store: &dyn Store) {
    use futures::TryStreamExt;
    use stratus::store::ByteStream;
    let key = BlobKey::original(PhotoId::from_ulid(ulid::Ulid::new()), "jpg");
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    store.put(&key, Bytes::from(big.clone()).into(), "image/jpeg").await.expect("put");
    let size = big.len() as u64;
    let stream = store.read(&key, 1000..size).await.expect("read").expect("present");
    let mut largest = 0;
    let mut got = Vec::new();
    match stream {
        ByteStream::File { file, len } => {
            assert_eq!(len, size - 1000);
            let mut reader = tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(file, len));
            while let Some(chunk) = reader.try_next().await.expect("chunk") {
                largest = largest.max(chunk.len());
                got.extend_from_slice(&chunk);
            }
        }
        ByteStream::Stream { mut stream, len } => {
            assert_eq!(len, size - 1000);
            while let Some(chunk) = stream.try_next().await.expect("chunk") {
                largest = largest.max(chunk.len());
                got.extend_from_slice(&chunk);
            }
        }
    }
    assert!(got == big[1000..], "the range's bytes, in order");
    assert!(largest < 4 * 1024 * 1024, "streamed in pieces, largest {largest} bytes");
    store.delete(&key).await.expect("cleanup");
}

#[tokio::test]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let store = LocalStore::open(dir.path(), "/media").expect("open");
    large_blob_streams(&store).await;
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn local_store_urls_follow_the_media_base() {
    let dir = tempfile::tempdir().expect("dir");
    let key = BlobKey::parse("thumbs/x.jpg").expect("key");
    let store = LocalStore::open(dir.path(), "https://cdn.example.com/").expect("open");
    assert_eq!(store.url(&key).await.expect("url"), "https://cdn.example.com/thumbs/x.jpg");
    let store = LocalStore::open(dir.path(), "/media").expect("open");
    assert_eq!(store.url(&key).await.expect("url"), "/media/thumbs/x.jpg");
}

#[tokio::test]
async fn s3_store_meets_the_contract() {
    common::needs!(S3);
    let bucket = common::services::s3_bucket();
    let prefix = common::services::unique("t-");
    let store = stratus::store::S3Store::open(
        &bucket,
        &prefix,
        stratus::store::MediaUrls::Base("https://cdn.example.com".into()),
    )
    .expect("s3 store");
    large_blob_streams(&store).await;
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn s3_presigned_urls_really_fetch_the_blob() {
    common::needs!(S3);
    let bucket = common::services::s3_bucket();
    let prefix = common::services::unique("t-");
    let urls = stratus::store::MediaUrls::Presigned(std::time::Duration::from_secs(300));
    let store = stratus::store::S3Store::open(&bucket, &prefix, urls).expect("s3 store");
    let key = BlobKey::thumbnail(PhotoId::from_ulid(ulid::Ulid::new()));
    store.put(&key, Bytes::from_static(b"\xFF\xD8\xFFthumb").into(), "image/jpeg").await.expect("put");
    let url = store.url(&key).await.expect("presign");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let response = reqwest::get(&url).await.expect("GET presigned");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("image/jpeg"));
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"\xFF\xD8\xFFthumb");
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(reqwest::get(&tampered).await.expect("GET").status(), 403, "the server checks signatures");
    store.delete(&key).await.expect("cleanup");
}
