//! The `Cache` contract, run against every implementation that keeps values.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::Time;
use stratus::cache::{Cache, MemoryCache, NoCache};
use stratus::clock::ManualClock;

pub async fn cache_contract(cache: Arc<dyn Cache>, prefix: &str, time: &Time) {
    let key = format!("{prefix}contract:a");
    let other = format!("{prefix}contract:b");
    cache.ping().await.expect("ping");
    assert_eq!(cache.get(&key).await.expect("get"), None);
    cache.delete(&key).await.expect("delete absent is Ok");

    cache.set(&key, Bytes::from_static(b"one"), Duration::from_secs(60)).await.expect("set");
    cache.set(&other, Bytes::from_static(b"other"), Duration::from_secs(60)).await.expect("set");
    assert_eq!(cache.get(&key).await.expect("get").as_deref(), Some(&b"one"[..]));
    cache.set(&key, Bytes::from_static(b"two"), Duration::from_secs(60)).await.expect("replace");
    assert_eq!(cache.get(&key).await.expect("get").as_deref(), Some(&b"two"[..]));

    let many = cache.get_many(&[&other, &format!("{prefix}contract:absent"), &key]).await.expect("get_many");
    assert_eq!(many, vec![Some(Bytes::from_static(b"other")), None, Some(Bytes::from_static(b"two"))], "in key order");

    cache.delete(&key).await.expect("delete");
    assert_eq!(cache.get(&key).await.expect("get"), None);
    assert_eq!(cache.get(&other).await.expect("get").as_deref(), Some(&b"other"[..]), "other keys untouched");

    let binary: Vec<u8> = (0..=255).collect();
    cache.set(&key, Bytes::from(binary.clone()), Duration::from_secs(60)).await.expect("binary");
    assert_eq!(cache.get(&key).await.expect("get").as_deref(), Some(binary.as_slice()));

    cache.set(&key, Bytes::from_static(b"brief"), Duration::from_secs(1)).await.expect("set with ttl");
    // memcached keeps whole seconds: a 1 s ttl may end up to a second late.
    time.pass(Duration::from_millis(2100)).await;
    assert_eq!(cache.get(&key).await.expect("get"), None, "expires after its ttl");
    cache.delete(&other).await.expect("cleanup");
}

#[tokio::test]
async fn memory_cache_meets_the_contract() {
    let clock = Arc::new(ManualClock::new());
    let cache = MemoryCache::with_clock(1024 * 1024, clock.clone());
    cache_contract(Arc::new(cache), "", &Time::Manual(clock)).await;
}

#[tokio::test]
async fn no_cache_always_misses() {
    let cache = NoCache;
    cache.set("k", Bytes::from_static(b"v"), Duration::from_secs(60)).await.expect("set");
    assert_eq!(cache.get("k").await.expect("get"), None);
    cache.delete("k").await.expect("delete");
    cache.ping().await.expect("ping");
}

#[tokio::test]
async fn redis_cache_meets_the_contract() {
    common::needs!(Redis);
    let redis = stratus::remote::redis::Redis::connect(&common::services::redis_url()).await.expect("redis");
    cache_contract(Arc::new(stratus::cache::RedisCache::new(redis)), &common::services::unique("t:"), &Time::Server)
        .await;
}

#[tokio::test]
async fn redis_cluster_cache_meets_the_contract() {
    common::needs!(RedisCluster);
    let url = common::services::redis_cluster_url();
    let redis = stratus::remote::redis::Redis::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no Redis Cluster at {url} ({e}); start it with tests/services.sh"));
    cache_contract(Arc::new(stratus::cache::RedisCache::new(redis)), &common::services::unique("t:"), &Time::Server)
        .await;
}

#[tokio::test]
async fn memcached_cache_meets_the_contract() {
    common::needs!(Memcached);
    let memcached =
        stratus::remote::memcached::Memcached::connect(&common::services::memcached_url()).await.expect("memcached");
    let cache = stratus::cache::MemcachedCache::new(Arc::new(memcached));
    cache_contract(Arc::new(cache), &common::services::unique("t:"), &Time::Server).await;
}

#[tokio::test]
async fn memcached_spreads_keys_over_servers() {
    common::needs!(Memcached);
    // The same server twice under two names is still two "nodes" to the client: every key
    // must be found where it was put, whichever node the hash picks.
    let url = common::services::memcached_url().replace("127.0.0.1", "localhost")
        + ","
        + &common::services::memcached_url()["memcache://".len()..];
    let memcached = stratus::remote::memcached::Memcached::connect(&url).await.expect("two nodes");
    let cache = stratus::cache::MemcachedCache::new(Arc::new(memcached));
    let prefix = common::services::unique("t:");
    for i in 0..20 {
        cache.set(&format!("{prefix}{i}"), Bytes::from(vec![i as u8]), Duration::from_secs(60)).await.expect("set");
    }
    for i in 0..20 {
        assert_eq!(cache.get(&format!("{prefix}{i}")).await.expect("get").as_deref(), Some(&[i as u8][..]));
    }
}

#[tokio::test]
async fn redis_cache_over_tls_meets_the_contract() {
    common::needs!(RedisTls);
    let (url, trust) = (common::services::redis_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis over TLS");
    cache_contract(Arc::new(stratus::cache::RedisCache::new(redis)), &common::services::unique("t:"), &Time::Server)
        .await;
}

#[tokio::test]
async fn redis_cluster_cache_over_tls_meets_the_contract() {
    common::needs!(RedisClusterTls);
    let (url, trust) = (common::services::redis_cluster_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis Cluster over TLS");
    cache_contract(Arc::new(stratus::cache::RedisCache::new(redis)), &common::services::unique("t:"), &Time::Server)
        .await;
}

#[tokio::test]
async fn memcached_cache_over_tls_meets_the_contract() {
    common::needs!(MemcachedTls);
    let (url, trust) = (common::services::memcached_tls_url(), common::services::tls_trust());
    let memcached = stratus::remote::memcached::Memcached::connect_with(&url, &trust).await.expect("memcached TLS");
    let cache = stratus::cache::MemcachedCache::new(Arc::new(memcached));
    cache_contract(Arc::new(cache), &common::services::unique("t:"), &Time::Server).await;
}
