//! The `SessionStore` contract, run against every implementation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use stratus::domain::{UserId, Username};
use stratus::session::{MemorySessions, SessionData, SessionStore};

pub async fn session_contract(store: Arc<dyn SessionStore>, prefix: &str) {
    let key = format!("{prefix}session-a");
    let data = SessionData {
        user_id: UserId::from_ulid(ulid::Ulid::new()),
        username: Username::parse("alice").expect("name"),
        created_at: 1_700_000_000,
    };
    store.ping().await.expect("ping");
    assert_eq!(store.get(&key).await.expect("get"), None);
    assert!(!store.touch(&key, Duration::from_secs(60)).await.expect("touch absent"), "touch creates nothing");
    assert_eq!(store.get(&key).await.expect("get"), None);
    store.destroy(&key).await.expect("destroy absent is Ok");

    store.create(&key, &data, Duration::from_secs(60)).await.expect("create");
    assert_eq!(store.get(&key).await.expect("get"), Some(data.clone()));
    assert!(store.touch(&key, Duration::from_secs(60)).await.expect("touch"));
    store.destroy(&key).await.expect("destroy");
    assert_eq!(store.get(&key).await.expect("get"), None);
    store.destroy(&key).await.expect("destroy is idempotent");

    // Idle expiry, and touch extending it. memcached keeps time in whole seconds, so a TTL of
    // N seconds may end after N-1: the margins allow for it.
    store.create(&key, &data, Duration::from_secs(3)).await.expect("create");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(store.touch(&key, Duration::from_secs(3)).await.expect("touch"), "still alive");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(store.get(&key).await.expect("get").is_some(), "touch extended the idle ttl");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(store.get(&key).await.expect("get"), None, "expired after idling");
}

#[tokio::test]
async fn memory_sessions_meet_the_contract() {
    session_contract(Arc::new(MemorySessions::new()), "").await;
}

#[tokio::test]
async fn redis_sessions_meet_the_contract() {
    let redis = stratus::remote::redis::Redis::connect(&common::services::redis_url()).await.expect("redis");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "").await;
}

#[tokio::test]
async fn redis_cluster_sessions_meet_the_contract() {
    let url = common::services::redis_cluster_url();
    let redis = stratus::remote::redis::Redis::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no Redis Cluster at {url} ({e}); start it with tests/services.sh"));
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "").await;
}

#[tokio::test]
async fn memcached_sessions_meet_the_contract() {
    let memcached =
        stratus::remote::memcached::Memcached::connect(&common::services::memcached_url()).await.expect("memcached");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::MemcachedSessions::new(Arc::new(memcached), &prefix)), "").await;
}

#[tokio::test]
async fn redis_sessions_over_tls_meet_the_contract() {
    let (url, trust) = (common::services::redis_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis over TLS");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "").await;
}

#[tokio::test]
async fn redis_cluster_sessions_over_tls_meet_the_contract() {
    let (url, trust) = (common::services::redis_cluster_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis Cluster over TLS");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "").await;
}

#[tokio::test]
async fn memcached_sessions_over_tls_meet_the_contract() {
    let (url, trust) = (common::services::memcached_tls_url(), common::services::tls_trust());
    let memcached = stratus::remote::memcached::Memcached::connect_with(&url, &trust).await.expect("memcached TLS");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::MemcachedSessions::new(Arc::new(memcached), &prefix)), "").await;
}
