//! `/media`: ranges, conditional requests, HEAD, the in-memory cache of small blobs and the
//! streamed path for the rest, the two thumbnail sizes. Runs on `TEST_PROFILE` (disk or S3).

use crate::common;

use bytes::Bytes;
use common::{TestApp, fixture, photo_id_from};
use image::GenericImageView;
use rocket::http::{Header, Status};
use stratus::domain::{BlobKey, PhotoId};

/// The blob keys of photo `id`: original, large thumbnail, small thumbnail.
async fn keys_of(t: &TestApp, id: &str) -> (BlobKey, BlobKey, BlobKey) {
    let id = PhotoId::parse(id).expect("id");
    let photo = t.app().backends.repo.photo(id).await.expect("repo").expect("row");
    let small = BlobKey::small_thumbnail_of(&photo.thumb_key);
    (photo.key, photo.thumb_key, small)
}

async fn uploaded(t: &TestApp) -> (BlobKey, BlobKey, BlobKey) {
    t.register("alice").await;
    let response = t.upload("p.jpg", &fixture("valid", "photo-exif-gps.jpg"), "a photo").await;
    assert_eq!(response.status(), Status::SeeOther);
    let id = photo_id_from(&response);
    keys_of(t, &id).await
}

struct Got {
    status: Status,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn request(t: &TestApp, head: bool, key: &BlobKey, headers: &[(&'static str, &str)]) -> Got {
    let url = format!("/media/{key}");
    let mut req = if head { t.client.head(url) } else { t.client.get(url) };
    for (name, value) in headers {
        req = req.header(Header::new(*name, value.to_string()));
    }
    let response = req.dispatch().await;
    let status = response.status();
    let headers = response.headers().iter().map(|h| (h.name.to_string(), h.value.to_string())).collect();
    Got { status, headers, body: response.into_bytes().await.unwrap_or_default() }
}

async fn get(t: &TestApp, key: &BlobKey, headers: &[(&'static str, &str)]) -> Got {
    request(t, false, key, headers).await
}

/// Every range and condition on `key`, whose stored bytes are `stored`.
async fn check_http_semantics(t: &TestApp, key: &BlobKey, stored: &[u8]) {
    let size = stored.len();
    let full = get(t, key, &[]).await;
    assert_eq!(full.status, Status::Ok, "{key}");
    assert_eq!(full.body, stored, "{key}: the stored bytes");
    assert_eq!(full.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(full.header("Cache-Control"), Some("public, max-age=31536000, immutable"));
    let etag = full.header("ETag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2 && !etag[1..etag.len() - 1].contains('"'));
    let modified = full.header("Last-Modified").expect("last-modified").to_owned();
    assert!(modified.ends_with(" GMT"), "{modified}");

    let head = request(t, true, key, &[]).await;
    assert_eq!(head.status, Status::Ok);
    assert!(head.body.is_empty(), "HEAD has no body");
    for name in ["ETag", "Last-Modified", "Content-Type", "Accept-Ranges", "Cache-Control"] {
        assert_eq!(head.header(name), full.header(name), "HEAD {name}");
    }

    let cases: [(&str, std::ops::Range<usize>); 5] = [
        ("bytes=0-9", 0..10),
        ("bytes=10-", 10..size),
        ("bytes=-5", size - 5..size),
        ("bytes=5-999999999", 5..size),
        ("bytes = 0-0", 0..1),
    ];
    for (range, expected) in cases {
        let got = get(t, key, &[("Range", range)]).await;
        assert_eq!(got.status, Status::PartialContent, "{range}");
        assert_eq!(got.body, &stored[expected.clone()], "{range}");
        let content_range = format!("bytes {}-{}/{size}", expected.start, expected.end - 1);
        assert_eq!(got.header("Content-Range"), Some(content_range.as_str()), "{range}");
        assert_eq!(got.header("ETag"), Some(etag.as_str()));
    }
    for unsatisfiable in [format!("bytes={size}-"), format!("bytes={}-{}", size + 10, size + 20), "bytes=-0".into()] {
        let got = get(t, key, &[("Range", &unsatisfiable)]).await;
        assert_eq!(got.status, Status::RangeNotSatisfiable, "{unsatisfiable}");
        assert_eq!(got.header("Content-Range"), Some(format!("bytes */{size}").as_str()));
        assert!(got.body.is_empty());
    }
    for ignored in ["bytes=0-1,5-6", "bytes=9-2", "pages=1-2", "bytes=x-"] {
        let got = get(t, key, &[("Range", ignored)]).await;
        assert_eq!((got.status, got.body.len()), (Status::Ok, size), "{ignored}: whole blob");
    }

    // If-Range: the range only while the client's copy is the current one.
    let got = get(t, key, &[("Range", "bytes=0-9"), ("If-Range", &etag)]).await;
    assert_eq!((got.status, got.body.len()), (Status::PartialContent, 10));
    let got = get(t, key, &[("Range", "bytes=0-9"), ("If-Range", &modified)]).await;
    assert_eq!((got.status, got.body.len()), (Status::PartialContent, 10));
    let got = get(t, key, &[("Range", "bytes=0-9"), ("If-Range", "\"another\"")]).await;
    assert_eq!((got.status, got.body.len()), (Status::Ok, size));
    let got = get(t, key, &[("Range", "bytes=0-9"), ("If-Range", "Mon, 01 Jan 2001 00:00:00 GMT")]).await;
    assert_eq!((got.status, got.body.len()), (Status::Ok, size));

    // Revalidation.
    for (name, value) in
        [("If-None-Match", etag.as_str()), ("If-None-Match", " * "), ("If-Modified-Since", modified.as_str())]
    {
        let got = get(t, key, &[(name, value)]).await;
        assert_eq!(got.status, Status::NotModified, "{name}: {value}");
        assert!(got.body.is_empty());
        assert_eq!(got.header("ETag"), Some(etag.as_str()), "a 304 carries the validators");
    }
    // Header names in any case, as HTTP/2 clients and proxies send them lower-cased.
    let got = get(t, key, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(got.status, Status::NotModified, "lower-case if-none-match");
    let got = get(t, key, &[("RANGE", "bytes=0-9")]).await;
    assert_eq!((got.status, got.body.len()), (Status::PartialContent, 10), "upper-case RANGE");
    // A repeated Range: the first one counts.
    let got = get(t, key, &[("Range", "bytes=0-9"), ("Range", "bytes=0-0")]).await;
    assert_eq!((got.status, got.body.len()), (Status::PartialContent, 10), "the first Range");
    let not_modified_head = request(t, true, key, &[("If-None-Match", &etag)]).await;
    assert_eq!(not_modified_head.status, Status::NotModified);
    let stale = [("If-None-Match", "\"old\""), ("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")];
    for (name, value) in stale {
        assert_eq!(get(t, key, &[(name, value)]).await.status, Status::Ok, "{name}: {value}");
    }
    let got = get(t, key, &[("If-None-Match", "\"old\""), ("If-Modified-Since", modified.as_str())]).await;
    assert_eq!(got.status, Status::Ok, "If-Modified-Since is ignored beside If-None-Match");
    assert_eq!(get(t, key, &[("If-Match", "\"old\"")]).await.status, Status::PreconditionFailed);
    assert_eq!(get(t, key, &[("If-Match", &etag)]).await.status, Status::Ok);
    let got = get(t, key, &[("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]).await;
    assert_eq!(got.status, Status::PreconditionFailed);
}

async fn stored(t: &TestApp, key: &BlobKey) -> Bytes {
    t.app().backends.store.get(key).await.expect("get").expect("present").bytes
}

#[rocket::async_test]
async fn cached_and_streamed_blobs_answer_ranges_and_conditions_alike() {
    for cache_mb in [64, 0] {
        let t = TestApp::with(|f| f.merge(("media_cache_mb", cache_mb))).await;
        let (original, large, small) = uploaded(&t).await;
        for key in [&original, &large, &small] {
            let bytes = stored(&t, key).await;
            check_http_semantics(&t, key, &bytes).await;
        }
        let held = t.app().photos.media_cache_bytes().await;
        if cache_mb == 0 {
            assert_eq!(held, 0, "cache off");
        } else {
            let blobs =
                stored(&t, &original).await.len() + stored(&t, &large).await.len() + stored(&t, &small).await.len();
            assert!(held as usize >= blobs && held as usize <= blobs + 4096, "{held} bytes held for {blobs}");
        }
    }
}

#[rocket::async_test]
async fn blobs_over_a_mebibyte_are_streamed_not_cached() {
    let t = TestApp::new().await;
    let key = BlobKey::original(PhotoId::from_ulid(ulid::Ulid::new()), "png");
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    t.app().backends.store.put(&key, Bytes::from(big.clone()).into(), "image/png").await.expect("put");
    check_http_semantics(&t, &key, &big).await;
    assert_eq!(t.app().photos.media_cache_bytes().await, 0, "nothing over 1 MiB is kept in memory");
    let got = get(&t, &key, &[("Range", "bytes=2000000-2000009")]).await;
    assert_eq!(got.body, &big[2_000_000..2_000_010]);
}

#[rocket::async_test]
async fn deleting_a_photo_evicts_its_cached_blobs() {
    let t = TestApp::new().await;
    let (original, large, small) = uploaded(&t).await;
    for key in [&original, &large, &small] {
        assert_eq!(get(&t, key, &[]).await.status, Status::Ok);
    }
    assert!(t.app().photos.media_cache_bytes().await > 0);
    let id = original.as_str().trim_start_matches("photos/").trim_end_matches(".jpg").to_owned();
    let csrf = t.csrf_from(&format!("/photos/{id}")).await;
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    for key in [&original, &large, &small] {
        assert_eq!(get(&t, key, &[]).await.status, Status::NotFound, "{key} gone, from memory too");
    }
    assert_eq!(t.app().photos.media_cache_bytes().await, 0);
}

#[rocket::async_test]
async fn thumbnails_come_in_two_sizes_and_old_photos_get_the_small_one_on_demand() {
    let t = TestApp::new().await;
    let (_, large, small) = uploaded(&t).await;
    let dims = |bytes: &[u8]| image::load_from_memory(bytes).expect("decodes").dimensions();
    assert_eq!(dims(&get(&t, &large, &[]).await.body), (640, 480));
    assert_eq!(dims(&get(&t, &small, &[]).await.body), (320, 240));

    // A photo from before the second size: only the large thumbnail exists.
    let (_, large2, small2) = {
        t.logout().await;
        t.register("bob").await;
        let response = t.upload("q.jpg", &fixture("valid", "rotated-orientation6.jpg"), "").await;
        keys_of(&t, &photo_id_from(&response)).await
    };
    t.app().backends.store.delete(&small2).await.expect("delete");
    assert!(!t.stored_files().await.contains(&small2.to_string()));
    let got = get(&t, &small2, &[]).await;
    assert_eq!(got.status, Status::Ok);
    assert_eq!(got.header("Content-Type"), Some("image/jpeg"));
    let (lw, lh) = dims(&get(&t, &large2, &[]).await.body);
    let (sw, sh) = dims(&got.body);
    assert_eq!(sw.max(sh), 320);
    assert_eq!(sw > sh, lw > lh, "same orientation as the large one");
    assert!(t.stored_files().await.contains(&small2.to_string()), "made once, then stored");

    // No large thumbnail, no small one; and nothing else is made on demand.
    let ghost = BlobKey::small_thumbnail_of(&BlobKey::thumbnail(PhotoId::from_ulid(ulid::Ulid::new())));
    assert_eq!(get(&t, &ghost, &[]).await.status, Status::NotFound);
    for junk in ["photos/nothing-320.jpg", "../secret_key", "thumbs/.hidden-320.jpg"] {
        let status = t.client.get(format!("/media/{junk}")).dispatch().await.status();
        // Rocket refuses a hidden or `..` segment itself (422); a key nothing is under is 404.
        assert!(matches!(status.code, 404 | 422), "{junk}: {status}");
    }
}

#[rocket::async_test]
async fn the_grid_offers_both_sizes_and_loads_below_the_fold_lazily() {
    let t = TestApp::new().await;
    t.register("alice").await;
    for i in 0..6 {
        let response = t.upload("p.jpg", &fixture("valid", "photo-exif-gps.jpg"), &format!("p{i}")).await;
        assert_eq!(response.status(), Status::SeeOther);
    }
    let (_, html) = t.get_text("/").await;
    let imgs: Vec<&str> = html.split("<img ").skip(1).map(|rest| &rest[..rest.find('>').expect("tag end")]).collect();
    assert_eq!(imgs.len(), 6);
    for (i, img) in imgs.iter().enumerate() {
        assert!(img.contains("320w, ") && img.contains(" 640w\""), "{img}");
        assert!(img.contains("-320.jpg"), "{img}");
        assert!(img.contains("sizes=\"(max-width: 40rem) 50vw"), "{img}");
        assert!(img.contains("width=\"1600\" height=\"1200\""), "{img}");
        let lazy = if i < 4 { "loading=\"eager\"" } else { "loading=\"lazy\"" };
        assert!(img.contains(lazy), "image {i}: {img}");
    }
}

/// Over a real connection: `Content-Length` on GET, HEAD and 206 (the in-process client does
/// not frame responses), for a cached thumbnail and a streamed original.
#[rocket::async_test]
async fn over_the_wire_every_answer_carries_its_length() {
    let data = tempfile::tempdir().expect("dir");
    let mut settings = vec![("ROCKET_MEDIA_CACHE_MB", "1".to_owned())];
    match common::profile().as_str() {
        "fleet" => {
            settings.push(("ROCKET_PROFILE", "fleet".to_owned()));
            settings.extend(common::fleet::shared_settings(&common::services::redis_url()).await);
        }
        _ => settings.push(("ROCKET_PROFILE", "single".to_owned())),
    }
    let site = Site::start(&settings, data.path()).await;
    let api = reqwest::get(format!("{}/api/photos?limit=1", site.base)).await.expect("api");
    let api: serde_json::Value = serde_json::from_slice(&api.bytes().await.expect("body")).expect("json");
    let key_in = |url: &str, dir: &str| -> String {
        let from = url.find(dir).unwrap_or_else(|| panic!("{dir} in {url}"));
        url[from..].split('?').next().expect("key").to_owned()
    };
    let photo = &api["photos"][0];
    let thumb = key_in(photo["thumbnail_url"].as_str().expect("thumb"), "thumbs/");
    let original = key_in(photo["url"].as_str().expect("url"), "photos/");
    let client = reqwest::Client::new();
    let length = |r: &reqwest::Response| {
        r.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    };
    for key in [thumb, original] {
        let url = format!("{}/media/{key}", site.base);
        let full = client.get(&url).send().await.expect("GET");
        assert_eq!(full.status(), 200);
        let declared = length(&full).expect("content-length");
        assert_eq!(full.bytes().await.expect("body").len() as u64, declared, "{key}");
        let head = client.head(&url).send().await.expect("HEAD");
        assert_eq!((head.status().as_u16(), length(&head)), (200, Some(declared)), "{key}");
        assert!(head.bytes().await.expect("body").is_empty());
        let part = client.get(&url).header("Range", "bytes=1-3").send().await.expect("GET range");
        assert_eq!((part.status().as_u16(), length(&part)), (206, Some(3)), "{key}");
        assert_eq!(part.bytes().await.expect("body").len(), 3);
        let tail = client.get(&url).header("Range", "bytes=-100000000").send().await.expect("GET suffix");
        assert_eq!((tail.status().as_u16(), length(&tail)), (206, Some(declared)), "{key}");
    }
}

/// A real `stratus` with the demo photos, on a loopback port it picked; killed when dropped.
struct Site {
    child: std::process::Child,
    base: String,
}

impl Site {
    async fn start(settings: &[(&str, String)], data: &std::path::Path) -> Self {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stratus"));
        cmd.env("ROCKET_DATA_DIR", data)
            .env("ROCKET_SEED_DEMO", "true")
            .env("ROCKET_LOG_LEVEL", "off")
            .env("STRATUS_LOG", "warn")
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())));
        // Seeding the demo photos makes twenty thumbnails: slow in a debug build on a busy machine.
        let within = std::time::Duration::from_secs(120);
        let (child, base) = common::process::spawn_listening(&mut cmd, None, within).await;
        Site { child, base }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
