//! Losing a shared server never gives a 500: each one is cut in turn through a TCP proxy while
//! a fleet instance serves, and the instance recovers by itself once the proxy reopens.

use crate::common;

use std::time::Duration;

use common::fleet::{Browser, start};
use common::proxy::Proxy;
use common::services;

fn strip_scheme(url: &str) -> String {
    url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/').to_owned()
}

/// Polls `check` for up to five seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..50 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 5 s");
}

/// The photo every upload here sends.
fn photo() -> Vec<u8> {
    common::fixture("valid", "progressive.jpg")
}

/// A visitor who has just registered on the site at `base`.
async fn registered(base: &str) -> Browser {
    let mut browser = Browser::default();
    let csrf = browser.csrf(&format!("{base}/register")).await;
    let fields = [("username", "survivor"), ("password", common::PASSWORD), ("csrf", csrf.as_str())];
    assert_eq!(browser.post_form(&format!("{base}/register"), &fields).await.0, 303);
    browser
}

/// Uploads the photo with a form token taken earlier; the status.
async fn upload_with(base: &str, browser: &mut Browser, csrf: &str) -> u16 {
    let photo = photo();
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", csrf),
        common::Part::File("photo", "p.jpg", "image/jpeg", &photo),
    ]);
    browser.post(&format!("{base}/photos"), &content_type.to_string(), body).await.0
}

/// The cache server, then the session server, go and come back (Redis or memcached alike).
async fn cache_and_sessions_can_fail(
    base: &str,
    mut browser: Browser,
    cache_proxy: &Proxy,
    session_proxy: &Proxy,
) -> Browser {
    // The cache goes: pages come from the database, marked BYPASS.
    cache_proxy.cut();
    let (status, page, headers) = browser.get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("x-cache").and_then(|v| v.to_str().ok()), Some("BYPASS"));
    assert!(page.contains("cache unavailable"));
    assert_eq!(browser.get(&format!("{base}/readyz")).await.0, 503);
    cache_proxy.restore();
    eventually("the cache coming back", async || {
        let (_, _, headers) = browser.get(&format!("{base}/")).await;
        headers.get("x-cache").and_then(|v| v.to_str().ok()) != Some("BYPASS")
    })
    .await;

    // The session server goes: the visitor looks logged out, an upload (from a page loaded
    // before) is a clear 503.
    let csrf = browser.csrf(&format!("{base}/")).await;
    session_proxy.cut();
    let (status, page, _) = browser.get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Log in") && !page.contains("Signed in as"));
    let saved = browser.cookies.clone();
    assert_eq!(upload_with(base, &mut Browser { cookies: saved.clone() }, &csrf).await, 503);
    session_proxy.restore();
    let mut browser = Browser { cookies: saved };
    eventually("the session coming back", async || browser.get(&format!("{base}/")).await.1.contains("Signed in as"))
        .await;

    browser
}

#[tokio::test]
async fn every_shared_server_can_fail_and_come_back() {
    common::needs!(Mysql, Redis, S3);
    let database = services::fresh_mysql_database().await;
    let (mysql_server, db_name) = database.rsplit_once('/').expect("database url");
    let authority = strip_scheme(mysql_server);
    let (userinfo, mysql_host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host.to_owned()),
        None => (String::new(), authority.clone()),
    };
    let db_proxy = Proxy::start(&mysql_host).await;
    let cache_proxy = Proxy::start(&strip_scheme(&services::redis_url())).await;
    let session_proxy = Proxy::start(&strip_scheme(&services::redis_url())).await;
    let s3_endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT (tests/run.sh sets it)");
    let s3_proxy = Proxy::start(&strip_scheme(&s3_endpoint)).await;

    let data = tempfile::tempdir().expect("dir");
    let prefix = services::unique("t-");
    let shared = [
        (
            "ROCKET_DATABASE_URL", // mysql_async would switch a loopback connection to the Unix socket, around the proxy.
            format!("mysql://{userinfo}{}/{db_name}?prefer_socket=false", db_proxy.addr),
        ),
        ("ROCKET_STORAGE_URL", format!("s3://{}/{prefix}", services::s3_bucket())),
        ("AWS_ENDPOINT", format!("http://{}", s3_proxy.addr)),
        ("ROCKET_CACHE_URL", format!("redis://{}", cache_proxy.addr)),
        ("ROCKET_SESSION_URL", format!("redis://{}", session_proxy.addr)),
        ("ROCKET_KEY_PREFIX", services::unique("t:") + ":"),
        ("ROCKET_SECRET_KEY", "fleet-test-secret-key-shared-by-all-instances".to_owned()),
    ];
    let site = start("faulty", &shared, data.path()).await;
    let base = site.base.clone();
    let mut browser = registered(&base).await;
    let upload = async |browser: &mut Browser| {
        let csrf = browser.csrf(&format!("{base}/")).await;
        upload_with(&base, browser, &csrf).await
    };
    assert_eq!(upload(&mut browser).await, 303);

    let mut browser = cache_and_sessions_can_fail(&base, browser, &cache_proxy, &session_proxy).await;

    // The database goes: 503 pages and readiness, then recovery without a restart.
    db_proxy.cut();
    assert_eq!(browser.get(&format!("{base}/api/photos")).await.0, 503);
    assert_eq!(browser.get(&format!("{base}/readyz")).await.0, 503);
    db_proxy.restore();
    eventually("the database coming back", async || browser.get(&format!("{base}/readyz")).await.0 == 200).await;
    let ids = async |browser: &mut Browser| {
        let page: serde_json::Value =
            serde_json::from_str(&browser.get(&format!("{base}/api/photos")).await.1).expect("json");
        page["photos"].as_array().map(|p| p.iter().map(|p| p["id"].to_string()).collect::<Vec<_>>())
    };
    let before = ids(&mut browser).await;

    // S3 goes: the upload is a 503 and leaves no row.
    s3_proxy.cut();
    assert_eq!(upload(&mut browser).await, 503);
    s3_proxy.restore();
    assert_eq!(ids(&mut browser).await, before, "no row for the failed upload");
    eventually("S3 coming back", async || upload(&mut browser).await == 303).await;

    // The database goes between the blobs' put and the row's insert: 503, and the blobs are
    // deleted again. S3 is slowed so that the cut lands while the put is in flight.
    let before = ids(&mut browser).await;
    let bucket = stratus::store::S3Store::open(
        &services::s3_bucket(),
        &prefix,
        stratus::store::MediaUrls::Presigned(Duration::from_secs(60)),
    )
    .expect("bucket");
    let blobs_before = stratus::store::Store::list(&bucket).await.expect("list").len();
    let csrf = browser.csrf(&format!("{base}/")).await;
    s3_proxy.delay_answers(Duration::from_millis(700));
    let sent_before = s3_proxy.bytes_sent();
    let photo_bytes = photo().len() as u64;
    let (status, ()) = tokio::join!(upload_with(&base, &mut browser, &csrf), async {
        // The original is through the proxy: its put is waiting for S3's (slowed) answer.
        eventually("the put starting", async || s3_proxy.bytes_sent() > sent_before + photo_bytes).await;
        db_proxy.cut();
    });
    assert_eq!(status, 503);
    s3_proxy.delay_answers(Duration::ZERO);
    db_proxy.restore();
    eventually("the database coming back", async || browser.get(&format!("{base}/readyz")).await.0 == 200).await;
    assert_eq!(ids(&mut browser).await, before, "no row");
    assert_eq!(stratus::store::Store::list(&bucket).await.expect("list").len(), blobs_before, "no orphan blob");
}

#[tokio::test]
async fn memcached_can_fail_and_come_back() {
    common::needs!(Mysql, Memcached, S3);
    let memcached = strip_scheme(&services::memcached_url());
    let cache_proxy = Proxy::start(&memcached).await;
    let session_proxy = Proxy::start(&memcached).await;
    let data = tempfile::tempdir().expect("dir");
    let shared = [
        ("ROCKET_DATABASE_URL", services::fresh_mysql_database().await),
        ("ROCKET_STORAGE_URL", format!("s3://{}/{}", services::s3_bucket(), services::unique("t-"))),
        ("ROCKET_CACHE_URL", format!("memcache://{}", cache_proxy.addr)),
        ("ROCKET_SESSION_URL", format!("memcache://{}", session_proxy.addr)),
        ("ROCKET_KEY_PREFIX", services::unique("t:") + ":"),
        ("ROCKET_SECRET_KEY", "fleet-test-secret-key-shared-by-all-instances".to_owned()),
    ];
    let site = start("faulty-memcached", &shared, data.path()).await;
    let base = site.base.clone();
    let browser = registered(&base).await;
    let mut browser = cache_and_sessions_can_fail(&base, browser, &cache_proxy, &session_proxy).await;
    let csrf = browser.csrf(&format!("{base}/")).await;
    assert_eq!(upload_with(&base, &mut browser, &csrf).await, 303, "uploads work again");
}

/// The photo ids on the front page at `base`, and its `X-Cache`.
async fn front_page(browser: &mut Browser, base: &str) -> (String, String) {
    let (status, page, headers) = browser.get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    (page, headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_invalidation_lost_to_a_cache_outage_is_delivered_when_the_cache_returns() {
    common::needs!(Mysql, Redis, S3);
    let cache_proxy = Proxy::start(&strip_scheme(&services::redis_url())).await;
    let data = tempfile::tempdir().expect("dir");
    let shared = common::fleet::shared_settings(&services::redis_url()).await;
    let with_cache = |url: String| {
        let mut settings = shared.clone();
        // Set after the shared value: the later one wins.
        settings.push(("ROCKET_CACHE_URL", url));
        settings
    };
    // The uploader reaches the cache through the proxy; the reader directly.
    let uploader = start("uploader", &with_cache(format!("redis://{}", cache_proxy.addr)), data.path()).await;
    let reader = start("reader", &with_cache(services::redis_url()), data.path()).await;
    let mut browser = registered(&uploader.base).await;
    let mut visitor = Browser::default();
    front_page(&mut visitor, &reader.base).await;
    let (_, cached) = front_page(&mut visitor, &reader.base).await;
    assert_eq!(cached, "HIT", "the reader serves the list from the shared cache");

    cache_proxy.cut();
    let csrf = browser.csrf(&format!("{}/", uploader.base)).await;
    assert_eq!(upload_with(&uploader.base, &mut browser, &csrf).await, 303, "the upload itself succeeds");
    let (page, source) = front_page(&mut browser, &uploader.base).await;
    assert_eq!(source, "BYPASS", "the uploader does not trust the cache it could not tell");
    assert!(page.contains("by survivor"), "the uploader shows the new photo at once");
    cache_proxy.restore();
    let restored = std::time::Instant::now();
    eventually("the reader showing the new photo", async || {
        front_page(&mut visitor, &reader.base).await.0.contains("by survivor")
    })
    .await;
    assert!(
        restored.elapsed() < stratus::service::STALE_BOUND,
        "delivered by the retry ({:?} after the cache came back), not by the version lapsing",
        restored.elapsed()
    );
    eventually("the uploader trusting the cache again", async || {
        front_page(&mut browser, &uploader.base).await.1 != "BYPASS"
    })
    .await;
}
