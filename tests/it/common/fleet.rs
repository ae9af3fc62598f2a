//! Real `stratus` processes of the fleet profile on loopback, and a browser-like client that
//! carries cookies between them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::Duration;

pub struct Instance {
    child: Child,
    pub base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Instance {
    /// Sends SIGTERM (what an autoscaler's scale-in does): the instance drains, then exits.
    pub fn terminate(&self) {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(sent.success(), "SIGTERM sent");
    }
}

/// What every instance of one test site shares: a fresh MySQL database, an S3 prefix, `kv` (a
/// Redis or memcached URL) for the cache and the sessions, a key prefix and the secret key.
pub async fn shared_settings(kv: &str) -> Vec<(&'static str, String)> {
    use super::services;
    vec![
        ("ROCKET_DATABASE_URL", services::fresh_mysql_database().await),
        ("ROCKET_STORAGE_URL", format!("s3://{}/{}", services::s3_bucket(), services::unique("t-"))),
        ("ROCKET_CACHE_URL", kv.to_owned()),
        ("ROCKET_SESSION_URL", kv.to_owned()),
        ("ROCKET_KEY_PREFIX", services::unique("t:") + ":"),
        // The fleet profile's CDN host is an example: image URLs stay the store's own.
        ("ROCKET_MEDIA_BASE_URL", String::new()),
        ("ROCKET_SECRET_KEY", "fleet-test-secret-key-shared-by-all-instances".to_owned()),
    ]
}

pub async fn start(name: &str, shared: &[(&str, String)], data: &std::path::Path) -> Instance {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.env("ROCKET_PROFILE", "fleet")
        .env("ROCKET_INSTANCE_ID", name)
        .env("ROCKET_DATA_DIR", data.join(name))
        .env("ROCKET_SEED_DEMO", "false")
        .env("ROCKET_LOG_LEVEL", "off")
        .env("STRATUS_LOG", "warn");
    for (key, value) in shared {
        cmd.env(key, value);
    }
    let (child, base) = super::process::spawn_listening(&mut cmd, None, Duration::from_secs(10)).await;
    let instance = Instance { child, base };
    assert!(
        reqwest::get(format!("{}/healthz", instance.base)).await.is_ok_and(|r| r.status() == 200),
        "instance {name} listens but is not healthy"
    );
    instance
}

/// A browser's cookie jar, carried by hand from one instance to another.
#[derive(Default)]
pub struct Browser {
    pub cookies: HashMap<String, String>,
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

    pub async fn get(&mut self, url: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let response = Self::client().get(url).header("cookie", self.cookie_header()).send().await.expect("GET");
        self.keep_cookies(&response);
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, response.text().await.expect("body"), headers)
    }

    pub async fn post(&mut self, url: &str, content_type: &str, body: Vec<u8>) -> (u16, Option<String>) {
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

    pub async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> (u16, Option<String>) {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", super::urlencode(k), super::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post(url, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    pub async fn csrf(&mut self, url: &str) -> String {
        super::csrf_in(&self.get(url).await.1).expect("csrf token")
    }
}
