//! The shared servers the fleet backends are tested against, each isolated per test: a fresh
//! MySQL database, a unique key prefix, a unique S3 prefix.
//!
//! A test that needs a server starts with `common::needs!(Redis, ...)`: when one of them does
//! not answer, the test prints `skipped: no Redis on 127.0.0.1:6379` and passes, so a plain
//! `cargo test` works on a machine without them. `STRATUS_REQUIRE_SERVERS=1` (tests/run.sh,
//! which starts them) turns a missing server into a failure instead.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;

const HOW: &str = "tests/run.sh starts it (or see README, Tests)";

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// A unique, lower-case name for this test's resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A fresh, empty database on the test MySQL/MariaDB server; returns its URL.
pub async fn fresh_mysql_database() -> String {
    let server = env_or("STRATUS_TEST_MYSQL", "mysql://root@127.0.0.1:3306");
    let name = unique("stratus_t_");
    let pool = mysql_async::Pool::new(server.as_str());
    let mut conn =
        pool.get_conn().await.unwrap_or_else(|e| panic!("MariaDB is not reachable at {server} ({e}); {HOW}"));
    conn.query_drop(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await.expect("create database");
    drop(conn);
    pool.disconnect().await.ok();
    format!("{}/{name}", server.trim_end_matches('/'))
}

pub fn redis_url() -> String {
    env_or("STRATUS_TEST_REDIS", "redis://127.0.0.1:6379")
}

/// A Redis Cluster (three masters on loopback, started by tests/services.sh).
pub fn redis_cluster_url() -> String {
    env_or("STRATUS_TEST_REDIS_CLUSTER", "redis+cluster://127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102")
}

pub fn memcached_url() -> String {
    env_or("STRATUS_TEST_MEMCACHED", "memcache://127.0.0.1:11211")
}

/// The test bucket; the S3 endpoint and keys come from the AWS_* environment.
pub fn s3_bucket() -> String {
    env_or("STRATUS_TEST_BUCKET", "stratus-test")
}

/// The certificate authority tests/services.sh made and signed the TLS servers' certificates
/// with (`STRATUS_TEST_TLS_CA`), and one that signed none of them.
pub fn tls_ca_file() -> String {
    env_or("STRATUS_TEST_TLS_CA", "/tmp/stratus-test-services/tls/ca.pem")
}

pub fn wrong_ca_file() -> String {
    env_or("STRATUS_TEST_TLS_WRONG_CA", "/tmp/stratus-test-services/tls/wrong-ca.pem")
}

/// The platform's roots plus the test authority.
pub fn tls_trust() -> stratus::remote::tls::TlsTrust {
    let path = tls_ca_file();
    stratus::remote::tls::TlsTrust::from_pem_file(path.as_ref()).unwrap_or_else(|e| panic!("{e}; {HOW}"))
}

/// Redis accepting only TLS, with an AUTH token in the URL.
pub fn redis_tls_url() -> String {
    env_or("STRATUS_TEST_REDIS_TLS", "rediss://:stratus-tls-token@127.0.0.1:6380")
}

/// A TLS-only Redis Cluster, with an ACL user and password in the URL.
pub fn redis_cluster_tls_url() -> String {
    env_or(
        "STRATUS_TEST_REDIS_CLUSTER_TLS",
        "rediss+cluster://stratus:stratus-tls-password@127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202",
    )
}

/// memcached started with `-Z`.
pub fn memcached_tls_url() -> String {
    env_or("STRATUS_TEST_MEMCACHED_TLS", "memcache+tls://127.0.0.1:11212")
}

/// MariaDB started with `--require-secure-transport=ON` (the URL does not ask for TLS: the
/// server does).
pub fn mysql_tls_server() -> String {
    env_or("STRATUS_TEST_MYSQL_TLS", "mysql://stratus:stratus-tls-password@127.0.0.1:3307")
}

/// A fresh, empty database on the TLS-only MariaDB; returns its URL.
pub async fn fresh_mysql_tls_database() -> String {
    let server = mysql_tls_server();
    let name = unique("stratus_t_");
    let opts = mysql_async::Opts::from_url(&server).expect("TLS MariaDB URL");
    let tls = mysql_async::SslOpts::default().with_root_certs(vec![std::path::PathBuf::from(tls_ca_file()).into()]);
    let pool = mysql_async::Pool::new(mysql_async::OptsBuilder::from_opts(opts).ssl_opts(tls));
    let mut conn =
        pool.get_conn().await.unwrap_or_else(|e| panic!("the TLS MariaDB is not reachable at {server} ({e}); {HOW}"));
    conn.query_drop(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")).await.expect("create database");
    drop(conn);
    pool.disconnect().await.ok();
    format!("{}/{name}", server.trim_end_matches('/'))
}

/// A server (or program) some tests need and tests/run.sh provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    Mysql,
    MysqlTls,
    Redis,
    RedisTls,
    RedisCluster,
    RedisClusterTls,
    Memcached,
    MemcachedTls,
    /// SeaweedFS's S3 API at `AWS_ENDPOINT`.
    S3,
    /// moto's Kinesis at `AWS_ENDPOINT_URL_KINESIS`.
    Kinesis,
    /// An AWS region and credentials in the environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, as
    /// tests/services.sh exports them), which the Kinesis client reads even to reach a fake.
    AwsEnvironment,
    /// The certificate authority tests/services.sh made (`STRATUS_TEST_TLS_CA`) and the wrong one.
    TlsCa,
    /// The `haproxy` program.
    Haproxy,
    /// The `memcached` program, for tests that start their own.
    MemcachedProgram,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Mysql => "MariaDB",
            Server::MysqlTls => "TLS MariaDB",
            Server::Redis => "Redis",
            Server::RedisTls => "TLS Redis",
            Server::RedisCluster => "Redis Cluster",
            Server::RedisClusterTls => "TLS Redis Cluster",
            Server::Memcached => "memcached",
            Server::MemcachedTls => "TLS memcached",
            Server::S3 => "S3 (SeaweedFS)",
            Server::Kinesis => "Kinesis (moto)",
            Server::AwsEnvironment => "AWS environment",
            Server::TlsCa => "test CA",
            Server::Haproxy => "haproxy",
            Server::MemcachedProgram => "memcached program",
        }
    }

    /// Where the server is looked for, as the tests will reach it.
    fn url(self) -> Option<String> {
        let set = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        match self {
            Server::Mysql => Some(env_or("STRATUS_TEST_MYSQL", "mysql://root@127.0.0.1:3306")),
            Server::MysqlTls => Some(mysql_tls_server()),
            Server::Redis => Some(redis_url()),
            Server::RedisTls => Some(redis_tls_url()),
            Server::RedisCluster => Some(redis_cluster_url()),
            Server::RedisClusterTls => Some(redis_cluster_tls_url()),
            Server::Memcached => Some(memcached_url()),
            Server::MemcachedTls => Some(memcached_tls_url()),
            // The app reads these variables itself: unset, it would not find the server.
            Server::S3 => set("AWS_ENDPOINT"),
            Server::Kinesis => set("AWS_ENDPOINT_URL_KINESIS"),
            Server::AwsEnvironment | Server::TlsCa | Server::Haproxy | Server::MemcachedProgram => None,
        }
    }

    /// Why the server cannot be used, or `None` when it answers.
    fn missing(self) -> Option<String> {
        let program = match self {
            Server::Haproxy => Some(("haproxy", "-v")),
            Server::MemcachedProgram => Some(("memcached", "-V")),
            _ => None,
        };
        if let Some((program, version)) = program {
            let found = std::process::Command::new(program)
                .arg(version)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            return (!found).then(|| format!("no {program} on the PATH"));
        }
        if self == Server::AwsEnvironment {
            let set = |key: &str| std::env::var(key).is_ok_and(|v| !v.is_empty());
            let region = set("AWS_REGION") || set("AWS_DEFAULT_REGION");
            return (!region || !set("AWS_ACCESS_KEY_ID"))
                .then(|| "no AWS region and credentials (AWS_REGION, AWS_ACCESS_KEY_ID are not set)".to_owned());
        }
        if self == Server::TlsCa {
            let files = [tls_ca_file(), wrong_ca_file()];
            return files.iter().find(|f| !std::path::Path::new(f).is_file()).map(|f| format!("no test CA at {f}"));
        }
        let Some(url) = self.url() else {
            let var = if self == Server::S3 { "AWS_ENDPOINT" } else { "AWS_ENDPOINT_URL_KINESIS" };
            return Some(format!("no {} ({var} is not set)", self.name()));
        };
        let tls = matches!(self, Server::MysqlTls | Server::RedisTls | Server::RedisClusterTls | Server::MemcachedTls);
        if tls && !std::path::Path::new(&tls_ca_file()).is_file() {
            return Some(format!("no {} (no test CA at {})", self.name(), tls_ca_file()));
        }
        let hosts = host_ports(&url);
        match hosts.iter().find(|host| !answers(host)) {
            Some(host) => Some(format!("no {} on {host}", self.name())),
            None if hosts.is_empty() => Some(format!("no {} (no host in {url:?})", self.name())),
            None => None,
        }
    }
}

/// The `host:port` pairs of a server URL: `scheme://[user[:password]@]host:port[,host:port...][/path]`.
fn host_ports(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
    let default_port = match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("http") => "80",
        Some("https") => "443",
        _ => "0",
    };
    hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| if h.contains(':') { h.to_owned() } else { format!("{h}:{default_port}") })
        .collect()
}

fn answers(host: &str) -> bool {
    let addrs: Vec<SocketAddr> = host.to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    addrs.iter().any(|addr| TcpStream::connect_timeout(addr, Duration::from_secs(1)).is_ok())
}

/// Why each server probed so far is missing (`None`: it answers). Probed once per process: the
/// servers do not come and go during a run, and the suite asks hundreds of times.
fn probed(server: Server) -> Option<String> {
    static PROBED: OnceLock<Mutex<HashMap<Server, Option<String>>>> = OnceLock::new();
    let map = PROBED.get_or_init(Default::default);
    if let Some(known) = map.lock().expect("probe cache").get(&server) {
        return known.clone();
    }
    let missing = server.missing();
    map.lock().expect("probe cache").insert(server, missing.clone());
    missing
}

/// Whether the current test may use every one of `servers`. When one is missing it prints
/// `skipped: no Redis on 127.0.0.1:6379 (test name)` and returns `false`, or fails the test when
/// `STRATUS_REQUIRE_SERVERS=1`.
pub fn available(servers: &[Server]) -> bool {
    let Some(missing) = servers.iter().find_map(|s| probed(*s)) else { return true };
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let required = std::env::var("STRATUS_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    assert!(!required, "{missing}, and STRATUS_REQUIRE_SERVERS=1 requires it; {HOW}");
    // Straight to stderr: libtest captures print!/eprint! of passing tests, and a skip should
    // be seen.
    let _ = writeln!(std::io::stderr(), "skipped: {missing} ({test})");
    false
}

/// Returns from the test (skipping it) unless every named `Server` answers; see `available`.
macro_rules! needs {
    ($($server:ident),+ $(,)?) => {
        if !$crate::common::services::available(&[$($crate::common::services::Server::$server),+]) {
            return;
        }
    };
}
pub(crate) use needs;
