//! Trust, the way an attacker or a rotated certificate would break it: a server whose
//! certificate does not verify is refused by every client, quickly and with the reason; a
//! fleet instance stops at startup; a running one turns `/readyz` 503 with one log line.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::services;
use stratus::db::MysqlRepo;
use stratus::remote::memcached::Memcached;
use stratus::remote::redis::Redis;
use stratus::remote::tls::TlsTrust;

/// A refusal must come well before anything that looks like a hang.
const PROMPTLY: Duration = Duration::from_secs(5);

async fn refused<T, E: std::fmt::Display>(what: &str, attempt: impl Future<Output = Result<T, E>>) -> String {
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROMPTLY, attempt).await;
    let Ok(result) = outcome else { panic!("{what}: no answer within {PROMPTLY:?}") };
    let Err(e) = result else { panic!("{what}: connected, trusting a CA that signed nothing of it") };
    assert!(started.elapsed() < PROMPTLY, "{what}");
    e.to_string()
}

fn says_untrusted(what: &str, message: &str) {
    assert!(message.contains("UnknownIssuer"), "{what}: the reason is named: {message}");
}

fn wrong_trust() -> TlsTrust {
    TlsTrust::from_pem_file(services::wrong_ca_file().as_ref()).expect("the wrong CA parses")
}

#[tokio::test]
async fn every_client_refuses_a_certificate_its_trust_did_not_sign() {
    common::needs!(MysqlTls, RedisTls, RedisClusterTls, MemcachedTls);
    for (name, trust) in [("wrong CA", wrong_trust()), ("platform roots only", TlsTrust::default())] {
        let e = refused(name, Redis::connect_with(&services::redis_tls_url(), &trust)).await;
        says_untrusted(&format!("Redis, {name}"), &e);
        let e = refused(name, Redis::connect_with(&services::redis_cluster_tls_url(), &trust)).await;
        says_untrusted(&format!("Redis Cluster, {name}"), &e);
        let e = refused(name, Memcached::connect_with(&services::memcached_tls_url(), &trust)).await;
        says_untrusted(&format!("memcached, {name}"), &e);
        let url = services::fresh_mysql_tls_database().await;
        let e = refused(name, MysqlRepo::open_with(&url, &trust)).await;
        says_untrusted(&format!("MySQL (server requires TLS), {name}"), &e);
        let e = refused(name, MysqlRepo::open_with(&format!("{url}?require_ssl=true"), &trust)).await;
        says_untrusted(&format!("MySQL (URL requires TLS), {name}"), &e);
    }
}

#[tokio::test]
async fn verification_cannot_be_switched_off() {
    common::needs!(MysqlTls, RedisTls);
    let url = services::fresh_mysql_tls_database().await;
    for unverified in ["require_ssl=true&verify_ca=false", "require_ssl=true&verify_identity=false"] {
        let e = refused(unverified, MysqlRepo::open_with(&format!("{url}?{unverified}"), &wrong_trust())).await;
        assert!(e.contains("always verified"), "{unverified}: {e}");
    }
    let insecure = format!("{}/#insecure", services::redis_tls_url());
    let e = refused("#insecure", Redis::connect_with(&insecure, &wrong_trust())).await;
    assert!(e.contains("always verified"), "{e}");
    assert!(!e.contains("stratus-tls-token"), "the AUTH token is not shown: {e}");
}

#[tokio::test]
async fn a_wrong_password_over_tls_is_reported_as_such() {
    common::needs!(MysqlTls);
    let url = services::fresh_mysql_tls_database().await.replace("stratus-tls-password", "not-the-password");
    let e = refused("wrong password", MysqlRepo::open_with(&url, &services::tls_trust())).await;
    assert!(e.contains("Access denied"), "{e}");
}

fn output_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_fleet_instance_trusting_the_wrong_ca_stops_at_startup() {
    common::needs!(MysqlTls, Mysql, RedisTls, S3);
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("stderr");
    let mut settings = common::fleet::shared_settings(&services::redis_tls_url()).await;
    settings.retain(|(key, _)| *key != "ROCKET_DATABASE_URL");
    settings.push(("ROCKET_DATABASE_URL", services::fresh_mysql_tls_database().await));
    settings.push(("ROCKET_TLS_CA_FILE", services::wrong_ca_file()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.env("ROCKET_PROFILE", "fleet")
        .env("ROCKET_PORT", "0")
        .env("ROCKET_DATA_DIR", dir.path().join("data"))
        .env("ROCKET_SEED_DEMO", "false")
        .env("STRATUS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (key, value) in &settings {
        cmd.env(key, value);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn stratus");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            child.kill().ok();
            panic!("still running 15 s after start: {:?}", output_lines(&log));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success(), "startup failed");
    let lines = output_lines(&log);
    let named: Vec<&String> = lines.iter().filter(|l| l.contains("127.0.0.1:6380")).collect();
    assert_eq!(named.len(), 1, "one line names the server: {lines:?}");
    says_untrusted("startup", named[0]);
    assert!(!lines.concat().contains("stratus-tls-token"), "the AUTH token is redacted: {lines:?}");
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A port free when asked, for memcached, which cannot report one it picked itself.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// memcached with TLS on `port`, showing the certificate `name` (.pem/.key in the suite's dir);
/// `None` when it exits at once, as it does when another process holds the port.
async fn memcached_showing(port: u16, name: &str) -> Option<Reaped> {
    let dir = std::path::PathBuf::from(services::tls_ca_file()).parent().expect("tls dir").to_owned();
    let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout).expect("utf-8");
    let tls = format!(
        "ssl_chain_cert={},ssl_key={}",
        dir.join(format!("{name}.pem")).display(),
        dir.join(format!("{name}.key")).display()
    );
    let mut memcached = Reaped(
        Command::new("memcached")
            .args(["-u", user.trim(), "-l", "127.0.0.1", "-p", &port.to_string(), "-m", "8", "-Z", "-o", &tls])
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached (tests/services.sh installs it)"),
    );
    for _ in 0..50 {
        if memcached.0.try_wait().expect("wait").is_some() {
            return None;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(memcached);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("memcached on {port} did not start");
}

#[tokio::test]
async fn a_certificate_that_stops_verifying_turns_readyz_503_with_one_log_line() {
    common::needs!(TlsCa, MemcachedProgram);
    // A port found free, retried when memcached could not bind it (another process was first).
    let mut started = None;
    for _ in 0..5 {
        let kv_port = free_port();
        if let Some(memcached) = memcached_showing(kv_port, "server").await {
            started = Some((kv_port, memcached));
            break;
        }
    }
    let Some((kv_port, memcached)) = started else { panic!("memcached found no free port") };
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("stdout");
    let url = format!("memcache+tls://127.0.0.1:{kv_port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.env("ROCKET_PROFILE", "single")
        .env("ROCKET_DATA_DIR", dir.path().join("data"))
        .env("ROCKET_SEED_DEMO", "false")
        .env("ROCKET_CACHE_URL", &url)
        .env("ROCKET_SESSION_URL", &url)
        .env("ROCKET_TLS_CA_FILE", services::tls_ca_file())
        .env("STRATUS_LOG", "warn")
        .stderr(Stdio::null());
    let log_file = std::fs::File::create(&log).expect("log file");
    let (child, base) = common::process::spawn_listening(&mut cmd, Some(log_file), Duration::from_secs(10)).await;
    let _stratus = Reaped(child);
    let readyz = format!("{base}/readyz");
    let mut status = 0;
    for _ in 0..100 {
        status = reqwest::get(&readyz).await.map_or(0, |r| r.status().as_u16());
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "ready over verified TLS: {:?}", output_lines(&log));

    drop(memcached);
    // The same port, just given up by the first memcached.
    let _impostor = memcached_showing(kv_port, "wrong-server").await.expect("memcached back on its port");
    // Connections opened before the swap first fail as closed; every new one is refused.
    let started = Instant::now();
    loop {
        let response = reqwest::get(&readyz).await.expect("readyz answers");
        let status = response.status().as_u16();
        let body = response.text().await.expect("body");
        if body.matches("UnknownIssuer").count() == 2 {
            assert_eq!(status, 503, "{body}");
            break;
        }
        assert!(started.elapsed() < PROMPTLY, "no refused certificate {PROMPTLY:?} after the change: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..3 {
        assert_eq!(reqwest::get(&readyz).await.expect("readyz").status(), 503);
    }
    let lines = output_lines(&log);
    for backend in ["cache", "sessions"] {
        let about: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(&format!("not ready: {backend} at {url}")) && l.contains("UnknownIssuer"))
            .collect();
        assert_eq!(about.len(), 1, "one line for {backend}, whatever the number of probes: {lines:?}");
    }
}

/// `stratus traffic` with `tls_ca_file` = `ca`: exit code, stdout, stderr.
fn traffic_reader(url: &str, key: &str, ca: &str) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["traffic", "--stream", url, "--key", key, "--format", "json"])
        .env("ROCKET_TLS_CA_FILE", ca)
        .env("STRATUS_LOG", "warn")
        .output()
        .expect("run stratus traffic");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn the_access_log_stream_and_the_traffic_reader_use_the_same_trust() {
    common::needs!(RedisTls);
    let (url, key) = (services::redis_tls_url(), services::unique("t:access-log:"));
    let t = common::TestApp::with(|f| {
        f.merge(("access_log_stream", url.clone()))
            .merge(("access_log_stream_key", key.clone()))
            .merge(("tls_ca_file", services::tls_ca_file()))
    })
    .await;
    for _ in 0..3 {
        t.get_text("/").await;
    }
    let redis = Redis::connect_with(&url, &services::tls_trust()).await.expect("Redis over TLS");
    let mut written = 0;
    for _ in 0..50 {
        written = redis.query::<u64>(redis::cmd("XLEN").arg(&key)).await.expect("XLEN");
        if written >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written >= 3, "the access log reached the Stream over TLS ({written} lines)");

    let (reader_url, reader_key) = (url.clone(), key.clone());
    let (code, rows, said) =
        tokio::task::spawn_blocking(move || traffic_reader(&reader_url, &reader_key, &services::tls_ca_file()))
            .await
            .expect("run");
    assert_eq!(code, Some(0), "{said}");
    assert!(rows.contains("\"request_count\":"), "{rows}");

    let (code, _, said) =
        tokio::task::spawn_blocking(move || traffic_reader(&url, &key, &services::wrong_ca_file())).await.expect("run");
    assert_eq!(code, Some(2), "{said}");
    says_untrusted("stratus traffic", &said);
    assert!(!said.contains("stratus-tls-token"), "the AUTH token is redacted: {said}");
}

#[tokio::test]
async fn a_server_that_never_answers_the_handshake_is_given_up_on() {
    common::needs!(TlsCa);
    // Accepts connections and never says a word: no greeting, no ServerHello.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = silent.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let limit = Duration::from_secs(8);
    let trust = services::tls_trust();
    let (redis_url, memcached_url) = (format!("rediss://{address}"), format!("memcache+tls://{address}"));
    let mysql_url = format!("mysql://u:p@{address}/db?require_ssl=true");
    let started = Instant::now();
    let (redis, memcached, mysql) = tokio::join!(
        tokio::time::timeout(limit, Redis::connect_with(&redis_url, &trust)),
        tokio::time::timeout(limit, Memcached::connect_with(&memcached_url, &trust)),
        tokio::time::timeout(limit, MysqlRepo::open_with(&mysql_url, &trust)),
    );
    assert!(matches!(redis, Ok(Err(_))), "Redis gives up by itself");
    assert!(matches!(memcached, Ok(Err(_))), "memcached gives up by itself");
    assert!(matches!(mysql, Ok(Err(_))), "MySQL gives up by itself");
    assert!(started.elapsed() < limit);
}
