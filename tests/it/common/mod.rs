//! Test support: an isolated app per test (own temp dir, own database), a browser-like client
//! that carries cookies, and form helpers.
#![allow(dead_code)]

pub mod fleet;
pub mod kinesis;
pub mod process;
pub mod proxy;
pub mod services;

pub(crate) use services::needs;

/// The level 6 access log line's fields, in the tutorial's layout: written out here rather than
/// taken from `stratus::access_log`, so that a change there shows as a failing test.
const TUTORIAL_FIELDS: [&str; 10] = [
    "request_time",
    "client_ip",
    "client_hostname",
    "server_ip",
    "request",
    "http_method",
    "status",
    "size",
    "userAgent",
    "referer",
];

/// Fails unless `line` (one access log line as JSON) has exactly the tutorial's fields.
pub fn assert_tutorial_fields(line: &serde_json::Map<String, serde_json::Value>) {
    let names: std::collections::BTreeSet<&str> = line.keys().map(String::as_str).collect();
    assert_eq!(names, TUTORIAL_FIELDS.into_iter().collect(), "the tutorial's access log fields");
}

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use stratus::App;
use stratus::clock::ManualClock;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

/// How time passes for a backend under test.
pub enum Time {
    /// In process: expiry is decided on this clock, and the test advances it.
    Manual(Arc<ManualClock>),
    /// On a shared server (Redis, memcached): expiry is decided by the server's own clock, the
    /// thing under test, so the test sleeps.
    Server,
}

impl Time {
    /// Lets `by` pass for the backend.
    pub async fn pass(&self, by: Duration) {
        match self {
            Time::Manual(clock) => clock.advance(by),
            Time::Server => tokio::time::sleep(by).await,
        }
    }
}

pub struct TestApp {
    pub client: Client,
    pub dir: TempDir,
}

/// The profile the behavioural suite runs against: `TEST_PROFILE=single|fleet`.
pub fn profile() -> String {
    std::env::var("TEST_PROFILE").unwrap_or_else(|_| "single".into())
}

/// The settings every test app starts from, for the single profile: everything in `dir`.
pub fn base_figment(dir: &Path) -> Figment {
    stratus::figment(None)
        .expect("figment")
        .merge(("data_dir", dir.to_string_lossy().to_string()))
        .merge(("seed_demo", false))
        .merge(("log_level", "off"))
        .select("single")
}

/// The settings for `TEST_PROFILE`: in the fleet profile, a fresh MySQL database, an S3
/// prefix, Redis (or memcached, with `TEST_FLEET_KV=memcached`) for cache and sessions under
/// a unique key prefix, and a configured secret; with `TEST_FLEET_TLS=1` the TLS servers.
pub async fn profile_figment(dir: &Path) -> Figment {
    let figment = base_figment(dir);
    match profile().as_str() {
        "single" => figment,
        "fleet" => {
            // TEST_FLEET_TLS=1: every shared server over TLS, trusting the suite's own CA.
            let tls = std::env::var("TEST_FLEET_TLS").is_ok_and(|v| v == "1");
            let kv = |name: &str| match (name, tls) {
                ("memcached", false) => services::memcached_url(),
                ("memcached", true) => services::memcached_tls_url(),
                ("redis-cluster", false) => services::redis_cluster_url(),
                ("redis-cluster", true) => services::redis_cluster_tls_url(),
                ("redis", false) => services::redis_url(),
                ("redis", true) => services::redis_tls_url(),
                (other, _) => panic!("TEST_FLEET_KV must be redis, redis-cluster, memcached or mixed, not {other:?}"),
            };
            // `mixed`: the cache on a Redis Cluster, the sessions on memcached.
            let (cache, sessions) = match std::env::var("TEST_FLEET_KV").as_deref() {
                Ok("mixed") => (kv("redis-cluster"), kv("memcached")),
                Ok(name) => (kv(name), kv(name)),
                Err(_) => (kv("redis"), kv("redis")),
            };
            let (database, ca_file) = match tls {
                true => (services::fresh_mysql_tls_database().await, services::tls_ca_file()),
                false => (services::fresh_mysql_database().await, String::new()),
            };
            figment
                .merge(("tls_ca_file", ca_file))
                .merge(("database_url", database))
                .merge(("storage_url", format!("s3://{}/{}", services::s3_bucket(), services::unique("t-"))))
                .merge(("cache_url", cache))
                .merge(("session_url", sessions))
                .merge(("key_prefix", services::unique("t:") + ":"))
                // The fleet profile's CDN host is an example: image URLs stay the store's own.
                .merge(("media_base_url", ""))
                .merge(("secret_key", "fleet-test-secret-key-shared-by-all-instances"))
                .select("fleet")
        }
        other => panic!("TEST_PROFILE must be single or fleet, not {other:?}"),
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|f| f).await
    }

    /// An app of the `TEST_PROFILE` profile, with `configure` applied last.
    pub async fn with(configure: impl FnOnce(Figment) -> Figment) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let figment = configure(profile_figment(dir.path()).await);
        Self::ignite(figment, dir).await
    }

    /// An app of the single profile whatever `TEST_PROFILE` says, for behaviour only that
    /// profile has (a generated secret key, photos in a local directory).
    pub async fn single() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let figment = base_figment(dir.path());
        Self::ignite(figment, dir).await
    }

    /// `with`, on a manual clock the test advances to expire what the app keeps in process.
    pub async fn with_clock(configure: impl FnOnce(Figment) -> Figment) -> (Self, Arc<ManualClock>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let figment = configure(profile_figment(dir.path()).await);
        let clock = Arc::new(ManualClock::new());
        let client = Client::tracked(stratus::app_with_clock(figment, clock.clone())).await.expect("app ignites");
        (Self { client, dir }, clock)
    }

    async fn ignite(figment: Figment, dir: TempDir) -> Self {
        let client = Client::tracked(stratus::app(figment)).await.expect("app ignites");
        Self { client, dir }
    }

    /// GET `url` as a browser would: through the app for a path, over HTTP for an absolute
    /// URL (an S3 presigned one). Returns status, content type and body.
    pub async fn fetch(&self, url: &str) -> (u16, Option<String>, Vec<u8>) {
        if url.starts_with("http://") || url.starts_with("https://") {
            let response = reqwest::get(url).await.expect("GET");
            let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let status = response.status().as_u16();
            return (status, content_type, response.bytes().await.expect("body").to_vec());
        }
        let response = self.client.get(url.to_owned()).dispatch().await;
        let status = response.status().code;
        let content_type = response.content_type().map(|ct| ct.to_string());
        (status, content_type, response.into_bytes().await.unwrap_or_default())
    }

    pub fn app(&self) -> &App {
        self.client.rocket().state::<App>().expect("app state")
    }

    pub fn photos_dir(&self) -> PathBuf {
        self.dir.path().join("photos")
    }

    /// Every blob key in the app's store, sorted.
    pub async fn stored_files(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.app().backends.store.list().await.expect("list blobs").iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    pub async fn photo_count(&self) -> u64 {
        self.app().backends.repo.count_photos().await.expect("count")
    }

    pub async fn get_text(&self, uri: &str) -> (Status, String) {
        let response = self.client.get(uri.to_owned()).dispatch().await;
        let status = response.status();
        (status, response.into_string().await.unwrap_or_default())
    }

    /// The CSRF token of the first form on `page`.
    pub async fn csrf_from(&self, page: &str) -> String {
        let (status, html) = self.get_text(page).await;
        assert_eq!(status, Status::Ok, "GET {page}");
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf input on {page}"))
    }

    pub async fn post_form(&self, uri: &str, fields: &[(&str, &str)]) -> LocalResponse<'_> {
        let body =
            fields.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        self.client.post(uri.to_owned()).header(ContentType::Form).body(body).dispatch().await
    }

    pub async fn register(&self, username: &str) -> Status {
        let csrf = self.csrf_from("/register").await;
        let response =
            self.post_form("/register", &[("username", username), ("password", PASSWORD), ("csrf", &csrf)]).await;
        response.status()
    }

    pub async fn login(&self, username: &str, password: &str) -> Status {
        let csrf = self.csrf_from("/login").await;
        self.post_form("/login", &[("username", username), ("password", password), ("csrf", &csrf)]).await.status()
    }

    pub async fn logout(&self) -> Status {
        let csrf = self.csrf_from("/").await;
        self.post_form("/logout", &[("csrf", &csrf)]).await.status()
    }

    /// A multipart upload of `bytes` as file `filename`; returns the response.
    pub async fn upload(&self, filename: &str, bytes: &[u8], caption: &str) -> LocalResponse<'_> {
        let csrf = self.csrf_from("/").await;
        self.upload_with_csrf(filename, bytes, caption, &csrf).await
    }

    pub async fn upload_with_csrf(&self, filename: &str, bytes: &[u8], caption: &str, csrf: &str) -> LocalResponse<'_> {
        let (content_type, body) = multipart(&[
            Part::Text("csrf", csrf),
            Part::Text("caption", caption),
            Part::File("photo", filename, "application/octet-stream", bytes),
        ]);
        self.client.post("/photos").header(content_type).body(body).dispatch().await
    }
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub enum Part<'a> {
    Text(&'a str, &'a str),
    File(&'a str, &'a str, &'a str, &'a [u8]),
}

pub fn multipart(parts: &[Part<'_>]) -> (ContentType, Vec<u8>) {
    let boundary = "----stratus-test-boundary-7d9f";
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
                );
            }
            Part::File(name, filename, content_type, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = ContentType::new("multipart", "form-data").with_params(("boundary", boundary));
    (content_type, body)
}

pub fn fixture(kind: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(kind).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture_names(kind: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images").join(kind);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The photo id in a `/photos/<id>` redirect.
pub fn photo_id_from(response: &LocalResponse<'_>) -> String {
    let location = response.headers().get_one("Location").expect("redirect location");
    location.strip_prefix("/photos/").expect("photo redirect").to_owned()
}

/// The count /admin/traffic shows for client `ip`, summed over its rows: requests made together
/// may straddle a window edge.
pub fn traffic_total(html: &str, ip: &str) -> u64 {
    html.match_indices(&format!("<code>{ip}</code>"))
        .map(|(at, _)| {
            html[at..]
                .split("class=\"count\">")
                .nth(1)
                .and_then(|s| s.split('<').next())
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum()
}
