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
