//! The edges a fleet exposes, on real processes: the client address behind a real haproxy
//! (`option forwardfor`), and requests the HTTP layer refuses before any route sees them.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed and reaped on every path out of a test.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A port free on `ip` when asked, for haproxy, which cannot report one it picked itself: another
/// process may take it before haproxy binds it, so its caller retries on a bind failure.
fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// `stratus` on a port it picked, with its access log in `dir` and the extra settings given.
async fn stratus(dir: &Path, settings: &[(&str, &str)]) -> (Process, u16, PathBuf) {
    let log = dir.join("access.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ROCKET_") || key == "STRATUS_LEVEL" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir)
        .env("ROCKET_DATA_DIR", dir.join("data"))
        .env("ROCKET_ACCESS_LOG", &log)
        .env("ROCKET_SEED_DEMO", "false")
        .env("STRATUS_LOG", "error");
    for (key, value) in settings {
        cmd.env(key, value);
    }
    let (child, base) = common::process::spawn_listening(&mut cmd, None, Duration::from_secs(10)).await;
    let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the port in the base URL");
    (Process(child), port, log)
}

/// The access log's lines as JSON objects, once one satisfies `wanted` (the writer is
/// asynchronous).
async fn log_lines_until(log: &Path, wanted: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    for _ in 0..50 {
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        if lines.iter().any(&wanted) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such line in {}:\n{}", log.display(), std::fs::read_to_string(log).unwrap_or_default());
}

fn requested(path: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |line| line["request"] == path
}

#[tokio::test]
async fn behind_haproxy_a_client_cannot_choose_its_own_address() {
    common::needs!(Haproxy);
    let dir = tempfile::tempdir().expect("dir");
    // Only the proxy's address is trusted; the client connects from another loopback address.
    let (_stratus, port, log) = stratus(dir.path(), &[("ROCKET_TRUSTED_PROXIES", "[\"127.0.0.1\"]")]).await;
    let client =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 3])).build().expect("client");
    let config = dir.path().join("haproxy.cfg");
    // haproxy cannot report a port it picked (no "port 0 then tell"), so it gets one found free;
    // when another process took that one first, haproxy exits at once and the next is tried.
    let mut started = None;
    for _ in 0..5 {
        let proxy_port = free_port("127.0.0.2");
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 64\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
                 frontend web\n  bind 127.0.0.2:{proxy_port}\n  option forwardfor\n  default_backend app\n\
                 backend app\n  server s1 127.0.0.1:{port}\n"
            ),
        )
        .expect("config");
        let haproxy = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (tests/run.sh installs it)");
        let mut haproxy = Process(haproxy);
        for _ in 0..100 {
            if haproxy.0.try_wait().expect("wait").is_some() {
                break;
            }
            let health = format!("http://127.0.0.2:{proxy_port}/healthz");
            if client.get(health).send().await.is_ok_and(|r| r.status() == 200) {
                started = Some((haproxy, proxy_port));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if started.is_some() {
            break;
        }
    }
    let Some((_haproxy, proxy_port)) = started else { panic!("haproxy did not come up") };
    let through_proxy = |path: &str| format!("http://127.0.0.2:{proxy_port}{path}");

    // One forged line, two forged lines, and a forged RFC 7239 header: haproxy adds its own
    // line with the real client, and that is the address believed.
    let mut forged_twice = reqwest::header::HeaderMap::new();
    forged_twice.append("X-Forwarded-For", "6.6.6.6".parse().expect("value"));
    forged_twice.append("X-Forwarded-For", "7.7.7.7, 127.0.0.1".parse().expect("value"));
    let sent = [
        client.get(through_proxy("/one")).header("X-Forwarded-For", "6.6.6.6"),
        client.get(through_proxy("/two")).headers(forged_twice),
        client.get(through_proxy("/rfc")).header("Forwarded", "for=6.6.6.6"),
    ];
    for request in sent {
        assert_eq!(request.send().await.expect("through haproxy").status(), 404);
    }
    let lines = log_lines_until(&log, requested("/rfc")).await;
    for path in ["/one", "/two", "/rfc"] {
        let line = lines.iter().find(|line| line["request"] == path).expect("logged");
        assert_eq!(line["client_ip"], "127.0.0.3", "{path}: {line}");
    }
}

/// Sends raw bytes and returns the status line of the answer.
fn raw_request(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // The server may answer and close before the whole request is written.
    stream.write_all(request).ok();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn requests_refused_before_routing_are_counted_and_logged_and_head_is_head() {
    let dir = tempfile::tempdir().expect("dir");
    let (_stratus, port, log) = stratus(dir.path(), &[]).await;

    let huge = format!("GET /huge HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n", "a".repeat(600 * 1024));
    assert_eq!(raw_request(port, huge.as_bytes()), "HTTP/1.1 431 Request Header Fields Too Large");
    let brew = raw_request(port, b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(brew.starts_with("HTTP/1.1 400"), "{brew}");
    let head = raw_request(port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let lines = log_lines_until(&log, |line| line["status"] == "431").await;
    let lines_with = |status: &str| lines.iter().filter(|line| line["status"] == status).collect::<Vec<_>>();
    let too_large = lines_with("431");
    assert_eq!(too_large.len(), 1, "{lines:?}");
    assert_eq!(too_large[0]["http_method"], "-", "hyper refused it before its method was known");
    let log_with = log_lines_until(&log, requested("/pot")).await;
    let unknown = log_with.iter().find(|line| line["request"] == "/pot").expect("logged");
    assert_eq!((unknown["status"].as_str(), unknown["http_method"].as_str()), (Some("400"), Some("-")));
    assert_eq!(unknown["client_ip"], "127.0.0.1");
    let log_with = log_lines_until(&log, |line| line["http_method"] == "HEAD").await;
    assert!(log_with.iter().any(|line| line["http_method"] == "HEAD" && line["request"] == "/healthz"));

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("stratus_http_requests_refused_total{status=\"431\"} 1"), "{metrics}");
    assert!(metrics.contains("stratus_http_requests_refused_total{status=\"400\"} 1"), "{metrics}");
    assert!(
        metrics.lines().any(|l| l.starts_with("stratus_http_request_duration_seconds_count{")
            && l.contains("method=\"HEAD\"")
            && l.contains("route=\"/healthz\"")),
        "HEAD counted as HEAD"
    );
}
