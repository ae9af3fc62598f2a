//! Pages, headers, the JSON API, media, health and configuration through HTTP.

use crate::common;

use common::{TestApp, fixture, photo_id_from};
use rocket::http::{Header, Status};

async fn upload_n(t: &TestApp, n: usize) -> Vec<String> {
    let jpeg = fixture("valid", "progressive.jpg");
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(photo_id_from(&t.upload("p.jpg", &jpeg, &format!("photo number {i}")).await));
    }
    ids
}

fn photo_links(html: &str) -> Vec<String> {
    html.match_indices("href=\"/photos/").map(|(i, m)| html[i + m.len()..].chars().take(26).collect()).collect()
}

#[rocket::async_test]
async fn front_page_shows_latest_n_newest_first_with_keyset_pages() {
    let t = TestApp::with(|f| f.merge(("front_page_size", 3))).await;
    t.register("alice").await;
    let ids = upload_n(&t, 7).await;
    let newest_first: Vec<_> = ids.iter().rev().cloned().collect();

    let (status, html) = t.get_text("/").await;
    assert_eq!(status, Status::Ok);
    assert_eq!(photo_links(&html), newest_first[0..3]);
    assert!(html.contains(&format!("href=\"/?before={}\"", newest_first[2])), "Older link by keyset");
    let html = t.get_text(&format!("/?before={}", newest_first[2])).await.1;
    assert_eq!(photo_links(&html), newest_first[3..6]);
    let html = t.get_text(&format!("/?before={}", newest_first[5])).await.1;
    assert_eq!(photo_links(&html), newest_first[6..7]);
    assert!(!html.contains("rel=\"next\""), "no Older link on the last page");
    assert!(html.contains("thumbs&#x2f;") && !html.contains("photos&#x2f;0"), "thumbnails, not originals");
}

#[rocket::async_test]
async fn teaching_signals_in_footer_and_headers() {
    let t = TestApp::with(|f| f.merge(("instance_id", "web-1"))).await;
    let first = t.client.get("/").dispatch().await;
    assert_eq!(first.headers().get_one("X-Cache"), Some("MISS"));
    let served_by = first.headers().get_one("X-Served-By").expect("served by").to_owned();
    assert!(served_by.ends_with(":8000 (web-1)"), "{served_by}");
    let html = first.into_string().await.unwrap_or_default();
    assert!(html.contains("from database") && html.contains(&served_by));
    assert!(html.contains("none (anonymous)"));

    let second = t.client.get("/").dispatch().await;
    assert_eq!(second.headers().get_one("X-Cache"), Some("HIT"));
    assert!(second.into_string().await.unwrap_or_default().contains("from cache"));

    t.register("alice").await;
    let html = t.get_text("/").await.1;
    let fingerprint =
        html.split("Session</dt><dd><code>").nth(1).and_then(|s| s.split('<').next()).expect("fingerprint");
    assert_eq!(fingerprint.len(), 8);
    let token = t.client.cookies().get(stratus::auth::SESSION_COOKIE).map(|c| c.value().to_owned()).expect("token");
    assert!(!token.contains(fingerprint));

    // An upload invalidates the cached list: the next page is a miss that shows the photo.
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "fresh").await);
    let response = t.client.get("/").dispatch().await;
    assert_eq!(response.headers().get_one("X-Cache"), Some("MISS"));
    assert!(response.into_string().await.unwrap_or_default().contains(&id));
    assert_eq!(t.client.get("/").dispatch().await.headers().get_one("X-Cache"), Some("HIT"));
}

#[rocket::async_test]
async fn a_fill_that_read_the_database_before_an_upload_is_never_served() {
    // Instance A reads the list, instance B uploads and invalidates, then A's fill lands in the
    // shared cache: that late write is what is replayed here, by hand, after the upload.
    let t = TestApp::new().await;
    t.register("racer").await;
    t.client.get("/").dispatch().await;
    let key = t.app().feed.page_key().to_owned();
    let before_upload = t.app().backends.cache.get(&key).await.expect("cache").expect("a cached list");
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "new").await);
    t.app().backends.cache.set(&key, before_upload, std::time::Duration::from_secs(60)).await.expect("late write");

    let response = t.client.get("/").dispatch().await;
    assert_eq!(response.headers().get_one("X-Cache"), Some("MISS"), "the late write is not a hit");
    assert!(response.into_string().await.unwrap_or_default().contains(&id), "the new photo is shown");
    assert_eq!(t.client.get("/").dispatch().await.headers().get_one("X-Cache"), Some("HIT"));
}

#[rocket::async_test]
async fn a_lost_invalidation_is_healed_when_the_shared_version_lapses() {
    // An instance uploads and dies before it can tell the cache: the database has the photo,
    // the cache still holds the old list under the current version. That state is made here by
    // putting the cache back as it was before the upload.
    let (t, clock) = TestApp::with_clock(|f| f).await;
    t.register("survivor").await;
    t.client.get("/").dispatch().await;
    let (page_key, version_key) = (t.app().feed.page_key().to_owned(), t.app().feed.version_key().to_owned());
    let cache = t.app().backends.cache.clone();
    let page = cache.get(&page_key).await.expect("cache").expect("a cached list");
    let version = cache.get(&version_key).await.expect("cache").expect("a version");
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "lost").await);
    let lost_at = std::time::Instant::now();
    cache.set(&version_key, version, stratus::service::STALE_BOUND).await.expect("old version back");
    cache.set(&page_key, page, std::time::Duration::from_secs(300)).await.expect("old list back");
    let stale = t.client.get("/").dispatch().await;
    assert_eq!(stale.headers().get_one("X-Cache"), Some("HIT"), "the lost invalidation is in effect");
    assert!(!stale.into_string().await.unwrap_or_default().contains(&id));

    if common::profile() == "single" {
        let second = std::time::Duration::from_secs(1);
        clock.advance(stratus::service::STALE_BOUND - second);
        assert!(!t.get_text("/").await.1.contains(&id), "stale until the bound");
        clock.advance(second);
        assert!(t.get_text("/").await.1.contains(&id), "healed when the version lapses");
        return;
    }
    // The version lapses by the shared server's own time to live: that clock is what is tested.
    loop {
        let html = t.get_text("/").await.1;
        if html.contains(&id) {
            break;
        }
        assert!(
            lost_at.elapsed() < stratus::service::STALE_BOUND + std::time::Duration::from_secs(2),
            "a stale list outlived the bound"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(lost_at.elapsed() >= std::time::Duration::from_secs(1), "healed by the lapse, not at once");
}

/// When a presigned URL stops working: its `X-Amz-Date` plus `X-Amz-Expires`, in Unix seconds.
fn presigned_expiry(url: &str) -> Option<i64> {
    let query = url.split_once('?')?.1;
    let param = |name: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{name}=")));
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed = time::PrimitiveDateTime::parse(param("X-Amz-Date")?, &format).ok()?.assume_utc();
    Some(signed.unix_timestamp() + param("X-Amz-Expires")?.parse::<i64>().ok()?)
}

#[rocket::async_test]
async fn image_links_on_a_quiet_site_stay_valid_for_half_their_lifetime() {
    // The list expires from the cache every 2 s and is filled again with the same rows: the
    // links must be made anew all the same once half their 4 s are gone.
    let t = TestApp::with(|f| f.merge(("presign_ttl_secs", 4)).merge(("cache_ttl_secs", 2))).await;
    t.register("quiet").await;
    t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "still").await;
    let started = std::time::Instant::now();
    let mut pages = 0;
    while started.elapsed() < std::time::Duration::from_secs(5) {
        let html = t.get_text("/").await.1;
        let served_at = stratus::domain::now_unix();
        let urls: Vec<&str> = html.split("src=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
        assert!(!urls.is_empty(), "{html}");
        for url in urls.iter().filter(|u| !u.starts_with("/static/")) {
            let url = url.replace("&amp;", "&").replace("&#x2f;", "/");
            match presigned_expiry(&url) {
                // At least half of the 4 s lifetime left (the signature's clock has 1 s steps).
                Some(expires) => {
                    assert!(expires - served_at >= 2 - 1, "{url} expires {}s after it was served", expires - served_at)
                }
                None => assert!(url.starts_with("/media/"), "a URL that never expires: {url}"),
            }
        }
        pages += 1;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(pages >= 8, "{pages} pages");
}

#[rocket::async_test]
async fn cache_off_always_reads_the_database() {
    let t = TestApp::with(|f| f.merge(("cache_url", "none"))).await;
    for _ in 0..3 {
        let response = t.client.get("/").dispatch().await;
        assert_eq!(response.headers().get_one("X-Cache"), Some("MISS"));
    }
}

#[rocket::async_test]
async fn html_pages_carry_security_headers() {
    let t = TestApp::new().await;
    for page in ["/", "/login", "/register", "/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
        let response = t.client.get(page).dispatch().await;
        let h = response.headers();
        let csp = h.get_one("Content-Security-Policy").unwrap_or_else(|| panic!("{page}: CSP"));
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{csp}");
        assert_eq!(h.get_one("X-Content-Type-Options"), Some("nosniff"), "{page}");
        assert_eq!(h.get_one("Referrer-Policy"), Some("same-origin"), "{page}");
        assert_eq!(h.get_one("Cache-Control"), Some("no-store"), "{page}");
        assert_eq!(h.get("X-Frame-Options").collect::<Vec<_>>(), ["DENY"], "{page}: once, from one place");
        assert_eq!(h.get("X-Content-Type-Options").count(), 1, "{page}");
        // FLoC's `interest-cohort` is gone from browsers, which now warn about it.
        assert!(h.get_one("Permissions-Policy").is_none_or(|p| !p.contains("interest-cohort")), "{page}");
    }
}

#[rocket::async_test]
async fn robots_txt_lets_crawlers_read_the_pages_and_keeps_them_off_the_rest() {
    let t = TestApp::new().await;
    let response = t.client.get("/robots.txt").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(rocket::http::ContentType::Plain));
    let robots = response.into_string().await.unwrap_or_default();
    assert_eq!(robots.lines().next(), Some("User-agent: *"));
    let disallowed: Vec<&str> = robots.lines().filter_map(|line| line.strip_prefix("Disallow: ")).collect();
    let blocked = |path: &str| disallowed.iter().any(|prefix| path.starts_with(prefix));
    for page in [
        "/",
        "/?before=01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/u/alice",
        "/login",
        "/architecture",
    ] {
        assert!(!blocked(page), "{page} is for everyone to find");
    }
    for private in ["/account", "/admin/traffic", "/api/photos", "/metrics", "/healthz", "/readyz"] {
        assert!(blocked(private), "{private} is not for crawlers");
    }
}

#[rocket::async_test]
async fn user_text_is_escaped() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "<script>alert(1)</script>").await);
    for page in ["/".to_owned(), format!("/photos/{id}")] {
        let html = t.get_text(&page).await.1;
        assert!(!html.contains("<script>alert(1)</script>"), "{page}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{page}");
    }
}

#[rocket::async_test]
async fn photo_page_and_404s() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "rotated-orientation6.jpg"), "Sideways").await);
    let (status, html) = t.get_text(&format!("/photos/{id}")).await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("Sideways") && html.contains("<strong>alice</strong>"));
    assert!(html.contains("width=\"1200\" height=\"1600\""));
    assert!(html.contains("Delete this photo"), "owner sees delete");
    t.logout().await;
    assert!(!t.get_text(&format!("/photos/{id}")).await.1.contains("Delete this photo"));
    assert_eq!(t.get_text("/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV").await.0, Status::NotFound);
    assert_eq!(t.get_text("/photos/not-an-id").await.0, Status::NotFound);
    assert_eq!(t.get_text("/no/such/page").await.0, Status::NotFound);
}

#[rocket::async_test]
async fn json_api_pages_by_keyset_and_caps_limit() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let ids = upload_n(&t, 5).await;
    let page: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=2").await.1).expect("json");
    let photos = page["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 2);
    assert_eq!(photos[0]["id"], ids[4].as_str());
    let keys: Vec<_> = photos[0].as_object().expect("object").keys().cloned().collect();
    for key in
        ["id", "owner", "caption", "url", "thumbnail_url", "width", "height", "bytes", "content_type", "created_at"]
    {
        assert!(keys.iter().any(|k| k == key), "missing {key}");
    }
    assert_eq!(photos[0]["owner"], "alice");
    assert_eq!(photos[0]["content_type"], "image/jpeg");
    let next = page["next"].as_str().expect("next link");
    assert_eq!(next, format!("/api/photos?limit=2&before={}", ids[3]));
    let page: serde_json::Value = serde_json::from_str(&t.get_text(next).await.1).expect("json");
    assert_eq!(page["photos"][0]["id"], ids[2].as_str());
    let page: serde_json::Value =
        serde_json::from_str(&t.get_text(&format!("/api/photos?limit=10&before={}", ids[1])).await.1).expect("json");
    assert_eq!(page["photos"].as_array().map(Vec::len), Some(1));
    assert!(page["next"].is_null());
    let page: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=100000").await.1).expect("json");
    assert_eq!(page["photos"].as_array().map(Vec::len), Some(5), "a huge limit is capped, not an error");
}

#[rocket::async_test]
async fn api_limit_is_capped_at_100() {
    let t = TestApp::new().await;
    t.register("alice").await;
    t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "").await;
    let added = t.app().photos.bulk_fill(150).await.expect("bulk rows");
    assert_eq!(added, 150);
    let page: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=500").await.1).expect("json");
    assert_eq!(page["photos"].as_array().map(Vec::len), Some(100));
    assert!(page["next"].as_str().is_some_and(|n| n.starts_with("/api/photos?limit=100&before=")));
}

#[rocket::async_test]
async fn media_is_served_immutable_with_etag() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("x.png", &fixture("valid", "alpha.png"), "").await);
    let url = format!("/media/photos/{id}.png");
    let response = t.client.get(url.clone()).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let h = response.headers();
    assert_eq!(h.get_one("Content-Type"), Some("image/png"));
    assert_eq!(h.get_one("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(h.get_one("Cache-Control"), Some("public, max-age=31536000, immutable"));
    let etag = h.get_one("ETag").expect("etag").to_owned();
    let response = t.client.get(url).header(Header::new("If-None-Match", etag)).dispatch().await;
    assert_eq!(response.status(), Status::NotModified);
    for missing in ["/media/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png", "/media/../secret_key", "/media/secret_key"] {
        assert_eq!(t.client.get(missing).dispatch().await.status(), Status::NotFound, "{missing}");
    }
}

#[rocket::async_test]
async fn api_refuses_bad_parameters_naming_them() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let ids = upload_n(&t, 2).await;
    let lower = ids[1].to_lowercase();
    let bad = [
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=%2B5", "limit"),
        ("before=garbage", "before"),
        ("before=", "before"),
        ("limit=2&before=01ARZ3NDEKTSV4RRFFQ69G5FA", "before"),
        (&format!("before={lower}"), "before"),
    ];
    for (query, parameter) in bad {
        let response = t.client.get(format!("/api/photos?{query}")).dispatch().await;
        assert_eq!(response.status(), Status::BadRequest, "{query}");
        assert_eq!(response.content_type(), Some(rocket::http::ContentType::JSON), "{query}");
        let error: serde_json::Value =
            serde_json::from_str(&response.into_string().await.unwrap_or_default()).expect("json");
        assert_eq!(error["status"], 400, "{query}");
        let message = error["error"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("`{parameter}`")), "{query}: {message}");
    }
    // Good values still work: a limit past the maximum (even past u32) is clamped, not refused.
    for query in ["limit=1", "limit=007", "limit=99999999999999999999", &format!("before={}", ids[1])] {
        let (status, body) = t.get_text(&format!("/api/photos?{query}")).await;
        assert_eq!(status, Status::Ok, "{query}: {body}");
    }
}

fn is_valid_strong_etag(tag: &str) -> bool {
    let Some(opaque) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else { return false };
    !opaque.is_empty() && opaque.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
}

#[rocket::async_test]
async fn media_etags_are_valid_and_if_none_match_follows_http() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("x.png", &fixture("valid", "alpha.png"), "").await);
    for url in [format!("/media/photos/{id}.png"), format!("/media/thumbs/{id}.jpg")] {
        // In the fleet profile images are not served by /media but the blobs are the same.
        let response = t.client.get(url.clone()).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{url}");
        let etag = response.headers().get_one("ETag").expect("etag").to_owned();
        assert!(is_valid_strong_etag(&etag), "{url}: {etag}");
        let opaque = etag.trim_matches('"');
        let matching = [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            format!("W/\"a,b\",W/{etag} , \"c\""),
            "*".to_owned(),
            " * ".to_owned(),
        ];
        for header in matching {
            let response =
                t.client.get(url.clone()).header(Header::new("If-None-Match", header.clone())).dispatch().await;
            assert_eq!(response.status(), Status::NotModified, "{url} If-None-Match: {header}");
            assert_eq!(response.headers().get_one("ETag"), Some(etag.as_str()));
            assert!(response.into_bytes().await.unwrap_or_default().is_empty());
        }
        let different = [
            "\"other\"".to_owned(),
            format!("W/\"{opaque}x\""),
            opaque.to_owned(),
            format!("\"{etag}\""),
            format!("\"x\", junk, {etag}"),
            format!("\"{opaque}"),
            String::new(),
        ];
        for header in different {
            let response =
                t.client.get(url.clone()).header(Header::new("If-None-Match", header.clone())).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{url} If-None-Match: {header}");
            assert!(!response.into_bytes().await.unwrap_or_default().is_empty());
        }
    }
    let missing =
        t.client.get("/media/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV.png").header(Header::new("If-None-Match", "*"));
    assert_eq!(missing.dispatch().await.status(), Status::NotFound, "* matches only a blob that exists");
}

#[rocket::async_test]
async fn static_assets_are_hashed_and_immutable() {
    let t = TestApp::new().await;
    let html = t.get_text("/").await.1;
    let href = html.split("<script src=\"").nth(1).and_then(|s| s.split('"').next()).expect("script link");
    assert!(href.starts_with("/static/app.") && href.ends_with(".js"), "{href}");
    let response = t.client.get(href.to_owned()).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.headers().get_one("Cache-Control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(t.client.get("/static/app.js").dispatch().await.status(), Status::NotFound);
}

/// A teacher's `template_dir` replaces a page by its file name; the built-in templates around
/// it stay (the override extends the embedded `base`), escaping stays on, and in debug builds
/// (as tests are) an edit shows on the next request, the memoised front page included.
#[rocket::async_test]
async fn template_dir_overrides_a_page_by_name_and_reloads_it() {
    let templates = tempfile::tempdir().expect("temp dir");
    let front = templates.path().join("index.html.j2");
    let page = |version: u32| {
        format!(
            "{{% extends \"base\" %}}{{% block content %}}<p id=\"teacher\">Version {version} {{{{ \"<b>\" }}}} {{{{ photos|length }}}}</p>{{% endblock %}}"
        )
    };
    std::fs::write(&front, page(1)).expect("write the override");
    let t = TestApp::with(|f| f.merge(("template_dir", templates.path()))).await;
    let html = t.get_text("/").await.1;
    assert!(html.contains("<p id=\"teacher\">Version 1 &lt;b&gt; "), "{html}");
    assert!(html.contains("<a href=\"/login\">Log in</a>"), "the built-in base around it: {html}");
    assert!(t.get_text("/login").await.1.contains("<h1>Log in</h1>"), "pages not overridden are the built-in ones");

    if cfg!(debug_assertions) {
        std::fs::write(&front, page(2)).expect("edit the override");
        // The watcher reports the edit asynchronously: ask until it shows, or give up.
        let mut html = String::new();
        for _ in 0..100 {
            html = t.get_text("/").await.1;
            if html.contains("Version 2") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(html.contains("<p id=\"teacher\">Version 2 &lt;b&gt; "), "{html}");
    }
}

#[rocket::async_test]
async fn a_missing_template_dir_means_the_built_in_pages() {
    let gone = tempfile::tempdir().expect("temp dir").path().join("no-such-dir");
    let t = TestApp::with(|f| f.merge(("template_dir", &gone))).await;
    let (status, html) = t.get_text("/").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("<h1 id=\"photos-title\">Latest photos</h1>"), "{html}");
}

#[rocket::async_test]
async fn health_and_readiness() {
    let t = TestApp::new().await;
    assert_eq!(t.get_text("/healthz").await, (Status::Ok, "ok".to_owned()));
    let (status, body) = t.get_text("/readyz").await;
    assert_eq!(status, Status::Ok);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["status"], "ready");
    for backend in ["database", "store", "cache", "sessions"] {
        assert_eq!(report["backends"][backend]["ok"], true, "{backend}");
    }
}

#[rocket::async_test]
async fn demo_photos_seed_once_on_an_empty_site() {
    let dir = tempfile::tempdir().expect("dir");
    let base = common::profile_figment(dir.path()).await;
    let figment = || base.clone().merge(("seed_demo", true));
    {
        let client = rocket::local::asynchronous::Client::tracked(stratus::app(figment())).await.expect("ignite");
        let html = client.get("/").dispatch().await.into_string().await.unwrap_or_default();
        assert_eq!(photo_links(&html).len(), 10);
        assert_eq!(html.matches("by <a href=\"/u/demo\">demo</a>").count(), 10);
    }
    let client = rocket::local::asynchronous::Client::tracked(stratus::app(figment())).await.expect("ignite again");
    let app = client.rocket().state::<stratus::App>().expect("state");
    assert_eq!(app.backends.repo.count_photos().await.expect("count"), 10, "no second seeding");
}

#[rocket::async_test]
async fn bad_configuration_stops_startup() {
    for (key, value) in [("cache_url", "bogus"), ("database_url", "postgres://x"), ("storage_url", "ftp://x")] {
        let dir = tempfile::tempdir().expect("dir");
        let figment = common::base_figment(dir.path()).merge((key, value));
        let err = stratus::Settings::from_figment(&figment).expect_err(key);
        assert!(err.to_string().starts_with(&format!("config key `{key}`")), "{err}");
        match rocket::local::asynchronous::Client::tracked(stratus::app(figment)).await {
            // Rocket panics when an ignition error is dropped unread.
            Err(e) => assert!(matches!(e.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{key}"),
            Ok(_) => panic!("{key}={value} must stop startup"),
        }
    }
    let file = tempfile::NamedTempFile::new().expect("file");
    let figment = common::base_figment(file.path());
    let err = match stratus::App::build(stratus::Settings::from_figment(&figment).expect("settings")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a file as data_dir must fail"),
    };
    assert!(err.starts_with("config key `data_dir`"), "{err}");
}

#[rocket::async_test]
async fn generated_secret_key_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestApp::single().await;
    let path = t.dir.path().join("secret_key");
    let mode = std::fs::metadata(&path).expect("secret key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(&path).expect("read");
    let again = rocket::local::asynchronous::Client::tracked(stratus::app(common::base_figment(t.dir.path())))
        .await
        .expect("second app on the same dir");
    drop(again);
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[rocket::async_test]
async fn simulated_latency_delays_the_front_page() {
    let t = TestApp::with(|f| f.merge(("latency_ms", 150))).await;
    let start = std::time::Instant::now();
    assert_eq!(t.client.get("/").dispatch().await.status(), Status::Ok);
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
}

#[rocket::async_test]
async fn readiness_is_503_when_a_backend_is_gone() {
    // The fleet's outages (a cut connection to each server) are the fault tests' subject.
    let t = TestApp::single().await;
    std::fs::remove_dir_all(t.photos_dir()).expect("remove the photo directory");
    let (status, body) = t.get_text("/readyz").await;
    assert_eq!(status, Status::ServiceUnavailable);
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(report["status"], "unavailable");
    assert_eq!(report["backends"]["store"]["ok"], false);
    assert_eq!(report["backends"]["database"]["ok"], true);
    assert_eq!(t.get_text("/healthz").await.0, Status::Ok, "liveness touches no backend");
}

#[rocket::async_test]
async fn front_page_reports_server_timing_and_profile() {
    let t = TestApp::new().await;
    let response = t.client.get("/").dispatch().await;
    let timing = response.headers().get_one("Server-Timing").expect("Server-Timing").to_owned();
    assert!(
        ["cache;dur=", "db;dur=", "store;dur=", "render;dur="].iter().all(|part| timing.contains(part)),
        "{timing}"
    );
    let html = response.into_string().await.unwrap_or_default();
    assert!(html.contains(&format!("<dt>Profile</dt><dd>{}", common::profile())), "profile shown");
    assert!(html.contains("<code>X-Cache: MISS</code>"));
    let hit = t.client.get("/").dispatch().await;
    let timing = hit.headers().get_one("Server-Timing").expect("Server-Timing");
    assert!(timing.contains("cache;dur=") && !timing.contains("db;dur="), "a hit touches no database: {timing}");
}

#[rocket::async_test]
async fn scripts_get_errors_as_json() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let csrf = t.csrf_from("/").await;
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::File("photo", "x.jpg", "image/jpeg", &fixture("invalid", "truncated.jpg")),
    ]);
    let response =
        t.client.post("/photos").header(content_type).header(rocket::http::Accept::JSON).body(body).dispatch().await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let error: serde_json::Value =
        serde_json::from_str(&response.into_string().await.unwrap_or_default()).expect("json");
    assert_eq!(error["status"], 422);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("damaged or incomplete")));
}

#[rocket::async_test]
async fn the_csp_allows_wherever_images_are_served_from() {
    let t = TestApp::new().await;
    t.register("alice").await;
    t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "").await;
    let response = t.client.get("/").dispatch().await;
    let csp = response.headers().get_one("Content-Security-Policy").expect("csp").to_owned();
    let html = response.into_string().await.unwrap_or_default().replace("&#x2f;", "/");
    let src = html.split("<img src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a thumbnail").to_owned();
    let img_src = csp.split(';').find(|d| d.trim().starts_with("img-src")).expect("img-src");
    match src.split_once("://") {
        Some((scheme, rest)) => {
            let origin = format!("{scheme}://{}", rest.split('/').next().unwrap_or_default());
            assert!(img_src.split_whitespace().any(|s| s == origin), "{origin} missing from {img_src}");
        }
        None => assert!(src.starts_with('/') && img_src.contains("'self'"), "{src} under {img_src}"),
    }
}
