//! `stratus migrate-storage`: level 1's photos on disk move to S3 (SeaweedFS), idempotently and
//! resumably, and the site then serves them from the bucket.

use crate::common;

use std::process::Command;

use common::{TestApp, fixture, photo_id_from, services};
use rocket::local::asynchronous::Client;

fn migrate(from: &str, to: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["migrate-storage", "--from", from, "--to", to])
        .env("STRATUS_LOG", "error")
        .output()
        .expect("run stratus");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

#[rocket::async_test]
async fn photos_move_from_disk_to_s3_and_are_served_from_there() {
    common::needs!(S3);
    let t = TestApp::single().await;
    t.register("mover").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let png = fixture("valid", "alpha.png");
    let ids = [
        photo_id_from(&t.upload("a.jpg", &jpeg, "first").await),
        photo_id_from(&t.upload("b.png", &png, "second").await),
    ];
    let on_disk: serde_json::Value = t.client.get("/api/photos").dispatch().await.into_json().await.expect("json");
    let from = format!("file://{}", t.photos_dir().display());
    let to = format!("s3://{}/{}", services::s3_bucket(), services::unique("migrate-"));

    let (ok, said) = migrate(&from, &to);
    assert!(ok, "{said}");
    assert!(said.contains("6 blobs in") && said.contains("0 already in") && said.contains("6 to copy"), "{said}");
    assert!(said.contains("copied 6,"), "{said}");

    let (ok, said) = migrate(&from, &to);
    assert!(ok && said.contains("6 already in") && said.contains("copied 0,"), "a second run copies nothing: {said}");

    // An interrupted run leaves some blobs behind; the next run copies exactly those.
    let StorageUrlParts { bucket, prefix } = StorageUrlParts::of(&to);
    let s3 = stratus::store::S3Store::open(&bucket, &prefix, stratus::store::MediaUrls::Presigned(Default::default()))
        .expect("s3");
    let keys = stratus::store::Store::list(&s3).await.expect("list");
    assert_eq!(keys.len(), 6, "an original and two thumbnails per photo");
    stratus::store::Store::delete(&s3, &keys[0]).await.expect("delete one");
    let (ok, said) = migrate(&from, &to);
    assert!(ok && said.contains("5 already in") && said.contains("copied 1,"), "{said}");

    // The same site (same database) switched to the bucket serves every photo, same bytes.
    let figment = common::base_figment(t.dir.path()).merge(("storage_url", to.clone()));
    let switched = Client::tracked(stratus::app(figment)).await.expect("app on s3");
    let api: serde_json::Value = switched.get("/api/photos").dispatch().await.into_json().await.expect("api json");
    let photos = api["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 2);
    for photo in photos {
        let id = photo["id"].as_str().expect("id");
        assert!(ids.iter().any(|i| i == id));
        for field in ["url", "thumbnail_url", "small_thumbnail_url"] {
            let url = photo[field].as_str().expect("url");
            assert!(url.starts_with("http"), "served from the bucket: {url}");
            let from_bucket = reqwest::get(url).await.expect("GET").bytes().await.expect("bytes");
            let before = on_disk["photos"].as_array().expect("photos").iter().find(|p| p["id"] == id).expect("same id");
            let old = t.fetch(before[field].as_str().expect("old url")).await.2;
            assert_eq!(from_bucket.as_ref(), old.as_slice(), "{field} of {id}");
        }
    }
}

#[test]
fn a_bad_store_url_names_the_flag() {
    let (ok, said) = migrate("ftp://nowhere", "s3://bucket");
    assert!(!ok);
    assert!(said.contains("config key `--from`: unknown scheme \"ftp\""), "{said}");
}

struct StorageUrlParts {
    bucket: String,
    prefix: String,
}

impl StorageUrlParts {
    fn of(url: &str) -> Self {
        match stratus::config::StorageUrl::parse(url).expect("url") {
            stratus::config::StorageUrl::S3 { bucket, prefix } => Self { bucket, prefix },
            other => panic!("not s3: {other:?}"),
        }
    }
}
