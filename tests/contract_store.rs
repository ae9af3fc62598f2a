//! The `Store` contract, run against every implementation.

mod common;

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

#[tokio::test]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let store = LocalStore::open(dir.path(), "/media").expect("open");
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
    let bucket = common::services::s3_bucket();
    let prefix = common::services::unique("t-");
    let store = stratus::store::S3Store::open(
        &bucket,
        &prefix,
        stratus::store::MediaUrls::Base("https://cdn.example.com".into()),
    )
    .expect("s3 store");
    store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn s3_presigned_urls_really_fetch_the_blob() {
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
