//! The shared servers the fleet backends are tested against, each isolated per test: a fresh
//! MySQL database, a unique key prefix, a unique S3 prefix. A missing server fails the test
//! with the command that starts it — it never skips.
#![allow(dead_code)]

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
    assert!(
        std::env::var("AWS_ENDPOINT").is_ok(),
        "AWS_ENDPOINT is not set: the S3 tests need the SeaweedFS server; {HOW}"
    );
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
