//! Several real `stratus` processes of the fleet profile on loopback, sharing MySQL, S3
//! (SeaweedFS) and Redis, behave as one site.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::services;

struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

async fn start(name: &str, shared: &[(&str, String)], data: &std::path::Path) -> Instance {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.env("ROCKET_PROFILE", "fleet")
        .env("ROCKET_PORT", port.to_string())
        .env("ROCKET_INSTANCE_ID", name)
        .env("ROCKET_DATA_DIR", data.join(name))
        .env("ROCKET_SEED_DEMO", "false")
        .env("ROCKET_LOG_LEVEL", "off")
        .env("STRATUS_LOG", "warn")
        .stdout(Stdio::null());
    for (key, value) in shared {
        cmd.env(key, value);
    }
    // Owned by `Instance` at once, so its `Drop` reaps the process on every path.
    let instance = Instance { child: cmd.spawn().expect("spawn stratus"), base: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if reqwest::get(format!("{}/healthz", instance.base)).await.is_ok_and(|r| r.status() == 200) {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance {name} did not start");
}

/// A browser's cookie jar, carried by hand from one instance to another.
#[derive(Default)]
struct Browser {
    cookies: HashMap<String, String>,
}

impl Browser {
    fn client() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let Ok(value) = value.to_str() else { continue };
            let Some((name, rest)) =
                value.split(';').next().and_then(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned()))
            else {
                continue;
            };
            if rest.is_empty() || value.contains("Max-Age=0") || value.contains("Expires=Thu, 01 Jan 1970") {
                self.cookies.remove(&name);
            } else {
                self.cookies.insert(name, rest);
            }
        }
    }

    async fn get(&mut self, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let response = Self::client().get(url).header("cookie", self.cookie_header()).send().await.expect("GET");
        self.keep_cookies(&response);
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, response.text().await.expect("body"), headers)
    }

    async fn post(&mut self, url: &str, content_type: &str, body: Vec<u8>) -> (u16, Option<String>) {
        let response = Self::client()
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST");
        self.keep_cookies(&response);
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_owned);
        (response.status().as_u16(), location)
    }

    async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> (u16, Option<String>) {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", common::urlencode(k), common::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post(url, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    async fn csrf(&mut self, url: &str) -> String {
        common::csrf_in(&self.get(url).await.1).expect("csrf token")
    }
}

#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let data = tempfile::tempdir().expect("dir");
    let shared = [
        ("ROCKET_DATABASE_URL", services::fresh_mysql_database().await),
        ("ROCKET_STORAGE_URL", format!("s3://{}/{}", services::s3_bucket(), services::unique("t-"))),
        ("ROCKET_CACHE_URL", services::redis_url()),
        ("ROCKET_SESSION_URL", services::redis_url()),
        ("ROCKET_KEY_PREFIX", services::unique("t:") + ":"),
        ("ROCKET_SECRET_KEY", "fleet-test-secret-key-shared-by-all-instances".to_owned()),
    ];
    let a = start("a", &shared, data.path()).await;
    let b = start("b", &shared, data.path()).await;
    let mut browser = Browser::default();

    // Register on A: logged in on B.
    let csrf = browser.csrf(&format!("{}/register", a.base)).await;
    let fields = [("username", "roamer"), ("password", common::PASSWORD), ("csrf", csrf.as_str())];
    assert_eq!(browser.post_form(&format!("{}/register", a.base), &fields).await.0, 303);
    let (_, page_b, headers) = browser.get(&format!("{}/", b.base)).await;
    assert!(page_b.contains("Signed in as <strong>roamer</strong>"), "the session crossed instances");
    assert!(headers.get("x-served-by").and_then(|v| v.to_str().ok()).is_some_and(|v| v.ends_with("(b)")));

    // Warm both front-page caches, then upload on B: A shows it at the next request.
    browser.get(&format!("{}/", a.base)).await;
    let (_, _, headers) = browser.get(&format!("{}/", a.base)).await;
    assert_eq!(headers.get("x-cache").and_then(|v| v.to_str().ok()), Some("HIT"));
    let csrf = browser.csrf(&format!("{}/", b.base)).await;
    let photo = common::fixture("valid", "progressive.jpg");
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::Text("caption", "shared by B"),
        common::Part::File("photo", "p.jpg", "image/jpeg", &photo),
    ]);
    let (status, location) = browser.post(&format!("{}/photos", b.base), &content_type.to_string(), body).await;
    assert_eq!(status, 303);
    let id = location.expect("location").trim_start_matches("/photos/").to_owned();
    let (_, page_a, headers) = browser.get(&format!("{}/", a.base)).await;
    assert!(page_a.contains(&id), "A's front page shows B's upload at once");
    assert_eq!(
        headers.get("x-cache").and_then(|v| v.to_str().ok()),
        Some("MISS"),
        "B's upload invalidated the shared cache"
    );

    // Delete on A: gone from B's page and cache.
    browser.get(&format!("{}/", b.base)).await;
    let csrf = browser.csrf(&format!("{}/photos/{id}", a.base)).await;
    assert_eq!(browser.post_form(&format!("{}/photos/{id}/delete", a.base), &[("csrf", &csrf)]).await.0, 303);
    let (_, page_b, _) = browser.get(&format!("{}/", b.base)).await;
    assert!(!page_b.contains(&id), "B no longer shows the deleted photo");
    assert_eq!(browser.get(&format!("{}/photos/{id}", b.base)).await.0, 404);

    // Log out on A: the cookie is dead on B.
    let stolen = browser.cookies.clone();
    let csrf = browser.csrf(&format!("{}/", a.base)).await;
    assert_eq!(browser.post_form(&format!("{}/logout", a.base), &[("csrf", &csrf)]).await.0, 303);
    let mut replay = Browser { cookies: stolen };
    let (_, page_b, _) = replay.get(&format!("{}/", b.base)).await;
    assert!(!page_b.contains("Signed in as"), "the old cookie no longer authenticates on B");
}
