//! Uploads through HTTP: every valid fixture accepted with the right displayed size, every
//! hostile one refused with the right status and nothing left behind.

use crate::common;

use common::{TestApp, fixture, fixture_names, photo_id_from};
use image::GenericImageView;
use img_parts::ImageEXIF;
use rocket::http::{ContentType, Status};

fn expected_size(name: &str) -> (u32, u32) {
    match name {
        "UPPER.JPEG" | "no-extension" => (400, 300),
        "alpha.png" | "cmyk.jpg" => (800, 600),
        "animated.gif" => (200, 150),
        "grayscale.jpg" | "palette.gif" => (640, 480),
        "lossless.webp" => (300, 200),
        "lossy.webp" => (900, 600),
        "one-pixel.png" => (1, 1),
        "panorama.jpg" => (4000, 300),
        "photo-exif-gps.jpg" => (1600, 1200),
        "progressive.jpg" => (1024, 768),
        // Stored 1600x1200 with EXIF orientation 6: displayed portrait.
        "rotated-orientation6.jpg" => (1200, 1600),
        "sixteen-bit.png" => (320, 240),
        other => panic!("no expectation for valid fixture {other}"),
    }
}

fn expected_refusal(name: &str) -> Status {
    match name {
        "bitmap.bmp"
        | "elf-named.gif"
        | "html-named.jpg"
        | "pdf-named.jpg"
        | "svg-named.png"
        | "svg-with-script.svg"
        | "tiff.tiff"
        | "zip-named.png" => Status::UnsupportedMediaType,
        "empty.png"
        | "gif-huge-screen.gif"
        | "pixel-flood-65500.jpg"
        | "png-bomb-40000.png"
        | "png-zero-height.png"
        | "truncated.jpg" => Status::UnprocessableEntity,
        other => panic!("no expectation for invalid fixture {other}"),
    }
}

#[rocket::async_test]
async fn every_valid_fixture_is_accepted_with_its_displayed_size() {
    let t = TestApp::new().await;
    assert_eq!(t.register("alice").await, Status::SeeOther);
    for name in fixture_names("valid") {
        let response = t.upload(&name, &fixture("valid", &name), &format!("fixture {name}")).await;
        assert_eq!(response.status(), Status::SeeOther, "{name} should be accepted");
        let id = photo_id_from(&response);
        let api: serde_json::Value =
            serde_json::from_str(&t.get_text("/api/photos?limit=1").await.1).expect("api json");
        let photo = &api["photos"][0];
        assert_eq!(photo["id"], id.as_str(), "{name}: newest first");
        let (w, h) = expected_size(&name);
        assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(w.into()), Some(h.into())), "{name}");

        let (status, content_type, original_bytes) = t.fetch(photo["url"].as_str().expect("url")).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), photo["content_type"].as_str(), "{name}");
        assert_eq!(original_bytes.len() as u64, photo["bytes"].as_u64().expect("bytes"), "{name}");

        let (_, content_type, thumb) = t.fetch(photo["thumbnail_url"].as_str().expect("thumb")).await;
        assert_eq!(content_type, Some(ContentType::JPEG.to_string()), "{name}");
        let thumb = image::load_from_memory(&thumb).expect("thumb decodes");
        let (tw, th) = thumb.dimensions();
        assert!(tw.max(th) <= 640, "{name}: thumbnail {tw}x{th} exceeds 640");
        assert_eq!(tw >= th, w >= h, "{name}: thumbnail keeps the displayed orientation");
    }
    assert_eq!(t.photo_count().await, fixture_names("valid").len() as u64);
}

#[rocket::async_test]
async fn stored_originals_lose_gps_but_keep_orientation() {
    let t = TestApp::new().await;
    t.register("alice").await;
    for (name, orientation_kept) in [("photo-exif-gps.jpg", false), ("rotated-orientation6.jpg", true)] {
        let source = fixture("valid", name);
        let source_exif = img_parts::jpeg::Jpeg::from_bytes(source.clone().into()).expect("jpeg").exif();
        assert!(source_exif.is_some_and(|e| e.windows(2).any(|w| w == [0x88, 0x25])), "{name} has a GPS IFD pointer");
        let id = photo_id_from(&t.upload(name, &source, "").await);
        let key = stratus::domain::BlobKey::parse(&format!("photos/{id}.jpg")).expect("key");
        let stored = t.app().backends.store.get(&key).await.expect("get").expect("stored original").bytes.to_vec();
        let exif = img_parts::jpeg::Jpeg::from_bytes(stored.clone().into()).expect("jpeg").exif();
        match exif {
            None => assert!(!orientation_kept, "{name}: orientation must survive"),
            Some(exif) => {
                assert!(orientation_kept, "{name}: upright photo needs no EXIF");
                assert_eq!(exif.len(), 26, "{name}: only the orientation tag remains");
                assert_eq!(
                    image::metadata::Orientation::from_exif_chunk(&exif),
                    Some(image::metadata::Orientation::Rotate90)
                );
            }
        }
        assert!(!stored.windows(4).any(|w| w == b"GPS\0"), "{name}: no GPS text");
        image::load_from_memory(&stored).expect("stripped original still decodes");
    }
}

#[rocket::async_test]
async fn every_invalid_fixture_is_refused_and_leaves_nothing() {
    let t = TestApp::new().await;
    t.register("mallory").await;
    for name in fixture_names("invalid") {
        let response = t.upload(&name, &fixture("invalid", &name), "nope").await;
        let status = response.status();
        let body = response.into_string().await.unwrap_or_default();
        assert_eq!(status, expected_refusal(&name), "{name}: {body}");
        assert!(body.contains("<p>") && body.len() > 200, "{name}: an HTML page explains the refusal");
    }
    assert_eq!(t.photo_count().await, 0);
    assert_eq!(t.stored_files().await, Vec::<String>::new());
}

#[rocket::async_test]
async fn refusals_explain_how_to_fix() {
    let t = TestApp::new().await;
    t.register("bob").await;
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    let response = t.upload("IMG_0001.HEIC", &heic, "").await;
    assert_eq!(response.status(), Status::UnsupportedMediaType);
    assert!(response.into_string().await.unwrap_or_default().contains("HEIC is not supported, export as JPEG"));
    let response = t.upload("bomb.png", &fixture("invalid", "png-bomb-40000.png"), "").await;
    assert!(response.into_string().await.unwrap_or_default().contains("40000×40000"));
}

#[rocket::async_test]
async fn upload_needs_login_and_csrf() {
    let t = TestApp::new().await;
    let jpeg = fixture("valid", "progressive.jpg");
    let (content_type, body) = common::multipart(&[common::Part::File("photo", "a.jpg", "image/jpeg", &jpeg)]);
    let response = t.client.post("/photos").header(content_type).body(body).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);

    t.register("carol").await;
    let response = t.upload_with_csrf("a.jpg", &jpeg, "", "forged-token").await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(t.photo_count().await, 0);
    assert!(t.stored_files().await.is_empty());
}

#[rocket::async_test]
async fn oversize_body_is_413_and_leaves_nothing() {
    let t = TestApp::new().await;
    t.register("dave").await;
    // Just over the default 20 MiB photo limit: a JPEG header then padding.
    let mut big = fixture("valid", "progressive.jpg");
    big.resize(20 * 1024 * 1024 + 1, 0);
    let response = t.upload("big.jpg", &big, "").await;
    let status = response.status();
    assert_eq!(status, Status::PayloadTooLarge, "{}", response.into_string().await.unwrap_or_default());
    // And past the whole form's limit.
    big.resize(26 * 1024 * 1024, 0);
    let response = t.upload("bigger.jpg", &big, "").await;
    assert_eq!(response.status(), Status::PayloadTooLarge);
    assert_eq!(t.photo_count().await, 0);
    assert!(t.stored_files().await.is_empty());
}

#[rocket::async_test]
async fn long_caption_is_422() {
    let t = TestApp::new().await;
    t.register("erin").await;
    let response = t.upload("a.jpg", &fixture("valid", "progressive.jpg"), &"x".repeat(201)).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert_eq!(t.photo_count().await, 0);
    assert!(t.stored_files().await.is_empty());
}

#[rocket::async_test]
async fn owner_deletes_others_cannot() {
    let t = TestApp::new().await;
    t.register("owner").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "mine").await);
    assert_eq!(t.stored_files().await.len(), 3, "an original and two thumbnails");
    t.logout().await;
    t.register("intruder").await;
    let csrf = t.csrf_from("/").await;
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(t.photo_count().await, 1);

    t.logout().await;
    assert_eq!(t.login("owner", common::PASSWORD).await, Status::SeeOther);
    // Warm the cache so the delete must invalidate it.
    assert!(t.get_text("/").await.1.contains(&id));
    let csrf = t.csrf_from(&format!("/photos/{id}")).await;
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", "wrong")]).await;
    assert_eq!(response.status(), Status::Forbidden, "csrf checked on delete");
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/"));
    assert_eq!(t.photo_count().await, 0);
    assert!(t.stored_files().await.is_empty(), "blobs removed: {:?}", t.stored_files().await);
    assert!(!t.get_text("/").await.1.contains(&id), "front page no longer shows it");
    assert_eq!(t.get_text(&format!("/photos/{id}")).await.0, Status::NotFound);
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::NotFound);
}

#[rocket::async_test]
async fn thirty_two_concurrent_uploads_all_land() {
    let t = TestApp::new().await;
    t.register("busy").await;
    let csrf = t.csrf_from("/").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let uploads = (0..32).map(|i| {
        let (csrf, jpeg) = (csrf.clone(), jpeg.clone());
        let t = &t;
        async move { t.upload_with_csrf("same-name.jpg", &jpeg, &format!("upload {i}"), &csrf).await.status() }
    });
    let statuses = futures::future::join_all(uploads).await;
    assert!(statuses.iter().all(|s| *s == Status::SeeOther), "{statuses:?}");
    assert_eq!(t.photo_count().await, 32);
    assert_eq!(t.stored_files().await.len(), 96, "an original and two thumbnails each");
    let api: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=100").await.1).expect("json");
    let photos = api["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 32);
    for photo in photos {
        for url in [&photo["url"], &photo["thumbnail_url"]] {
            assert_eq!(t.fetch(url.as_str().expect("url")).await.0, 200);
        }
    }
}

/// Files in the app's upload staging directory (under data_dir).
fn staged(t: &TestApp) -> Vec<String> {
    match std::fs::read_dir(t.dir.path().join("staging")) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn assert_nothing_left(t: &TestApp, case: &str) {
    assert_eq!(t.photo_count().await, 0, "{case}");
    assert!(t.stored_files().await.is_empty(), "{case}");
    assert!(staged(t).is_empty(), "{case}: {:?}", staged(t));
}

/// Posts `body` to /photos as a script would (asking for JSON); returns the status and the
/// error message, if any.
async fn post_raw(t: &TestApp, content_type: &str, body: Vec<u8>) -> (Status, String) {
    let content_type = ContentType::parse_flexible(content_type).expect("content type");
    let request = t.client.post("/photos").header(content_type).header(rocket::http::Accept::JSON).body(body);
    let response = request.dispatch().await;
    let status = response.status();
    let error: serde_json::Value =
        serde_json::from_str(&response.into_string().await.unwrap_or_default()).unwrap_or_default();
    (status, error["error"].as_str().unwrap_or_default().to_owned())
}

#[rocket::async_test]
async fn malformed_multipart_is_400_with_a_message() {
    let t = TestApp::new().await;
    t.register("mallory").await;
    let csrf = t.csrf_from("/").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::File("photo", "a.jpg", "image/jpeg", &jpeg),
    ]);
    let declared = content_type.to_string();
    let wrong_boundary = declared.replace("stratus-test-boundary", "another-boundary");
    let unterminated = body[..body.len() - 100].to_vec();
    let no_closing = body[..body.len() - "----stratus-test-boundary-7d9f--\r\n".len() - 2].to_vec();
    let cases = [
        ("wrong boundary", wrong_boundary.as_str(), body.clone()),
        ("unterminated file part", &declared, unterminated),
        ("no closing boundary", &declared, no_closing),
        ("garbage", &declared, b"this is not multipart at all".to_vec()),
        ("no boundary parameter", "multipart/form-data", body.clone()),
        ("not multipart", "application/x-www-form-urlencoded", format!("csrf={csrf}").into_bytes()),
    ];
    for (case, content_type, body) in cases {
        let (status, text) = post_raw(&t, content_type, body).await;
        assert_eq!(status, Status::BadRequest, "{case}: {text}");
        assert!(text.contains("multipart/form-data"), "{case}: the message says what was expected: {text}");
        assert!(!text.contains("larger than"), "{case}: {text}");
        assert_nothing_left(&t, case).await;
    }
}

#[rocket::async_test]
async fn text_fields_are_capped_at_64_kib() {
    let t = TestApp::new().await;
    t.register("trent").await;
    let csrf = t.csrf_from("/").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let huge = "x".repeat(20 * 1024 * 1024);
    let just_over = "x".repeat(64 * 1024 + 1);
    let cases = [
        ("20 MB caption", vec![("csrf", csrf.as_str()), ("caption", huge.as_str())], "\"caption\""),
        ("caption one byte over", vec![("csrf", csrf.as_str()), ("caption", just_over.as_str())], "\"caption\""),
        ("20 MB csrf", vec![("csrf", huge.as_str())], "\"csrf\""),
        ("20 MB unknown field", vec![("csrf", csrf.as_str()), ("note", huge.as_str())], "\"note\""),
    ];
    for (case, fields, named) in cases {
        let mut parts: Vec<_> = fields.iter().map(|(name, value)| common::Part::Text(name, value)).collect();
        parts.push(common::Part::File("photo", "a.jpg", "image/jpeg", &jpeg));
        let (content_type, body) = common::multipart(&parts);
        let (status, text) = post_raw(&t, &content_type.to_string(), body).await;
        assert_eq!(status, Status::PayloadTooLarge, "{case}: {text}");
        assert!(text.contains(named) && text.contains("64 KiB"), "{case}: {text}");
        assert_nothing_left(&t, case).await;
    }
    // At the cap a caption is read, then refused by the caption rule.
    let at_cap = "x".repeat(64 * 1024);
    let response = t.upload("a.jpg", &jpeg, &at_cap).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert_nothing_left(&t, "caption at the cap").await;
}

#[rocket::async_test]
async fn csrf_token_comes_before_the_photo_or_in_a_header() {
    let t = TestApp::new().await;
    t.register("peggy").await;
    let csrf = t.csrf_from("/").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let upload = async |parts: &[common::Part<'_>], header: Option<&str>| {
        let (content_type, body) = common::multipart(parts);
        let mut request = t.client.post("/photos").header(content_type).body(body);
        if let Some(token) = header {
            request = request.header(rocket::http::Header::new("X-CSRF-Token", token.to_owned()));
        }
        let response = request.dispatch().await;
        (response.status(), response.into_string().await.unwrap_or_default())
    };
    let photo = || common::Part::File("photo", "a.jpg", "image/jpeg", &jpeg);
    let html = t.get_text("/").await.1;
    let form = &html[html.find("id=\"upload-form\"").expect("upload form")..];
    let (token_at, photo_at) = (form.find("name=\"csrf\""), form.find("name=\"photo\""));
    assert!(token_at.is_some_and(|t| photo_at.is_some_and(|p| t < p)), "the form sends the token first");

    let (status, text) = upload(&[photo(), common::Part::Text("csrf", &csrf)], None).await;
    assert_eq!(status, Status::Forbidden, "a valid token after the photo is too late");
    assert!(text.contains("must come before the photo"), "{text}");
    assert_nothing_left(&t, "token after the photo").await;

    let (status, _) = upload(&[photo()], None).await;
    assert_eq!(status, Status::Forbidden, "no token at all");
    let (status, _) = upload(&[common::Part::Text("csrf", &csrf)], None).await;
    assert_eq!(status, Status::UnprocessableEntity, "a good token and no photo");
    let (status, _) = upload(&[common::Part::Text("csrf", &csrf), photo()], Some("forged")).await;
    assert_eq!(status, Status::Forbidden, "a bad header is refused even with a good field");
    assert_nothing_left(&t, "bad header").await;

    // A forged token with a large file: refused, and the file never reaches the staging dir.
    let mut large = jpeg.clone();
    large.resize(15 * 1024 * 1024, 0);
    let big = || common::Part::File("photo", "big.jpg", "image/jpeg", &large);
    let (status, _) = upload(&[common::Part::Text("csrf", "forged"), big()], None).await;
    assert_eq!(status, Status::Forbidden);
    let (status, _) = upload(&[big()], Some("forged")).await;
    assert_eq!(status, Status::Forbidden);
    assert_nothing_left(&t, "forged token, large file").await;

    let (status, _) = upload(&[common::Part::Text("csrf", &csrf), photo(), photo()], None).await;
    assert_eq!(status, Status::BadRequest, "one photo per upload");
    assert_nothing_left(&t, "two photos").await;

    let (status, _) = upload(&[photo()], Some(&csrf)).await;
    assert_eq!(status, Status::SeeOther, "scripts may send the token as X-CSRF-Token");
    assert_eq!(t.photo_count().await, 1);
    assert!(staged(&t).is_empty(), "a finished upload's staging file is gone");
}

#[rocket::async_test]
async fn uploads_and_rockets_temp_files_are_staged_privately_under_data_dir() {
    let t = TestApp::new().await;
    let staging = t.dir.path().join("staging");
    assert_eq!(t.client.rocket().config().temp_dir.relative(), staging, "never a shared /tmp");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&staging).expect("staging").permissions());
    assert_eq!(mode & 0o777, 0o700);
}
