//! The `SessionStore` contract, run against every implementation.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::Time;
use stratus::clock::ManualClock;
use stratus::domain::{UserId, Username};
use stratus::session::{MemorySessions, SessionData, SessionStore};

const LIFETIME: Duration = Duration::from_secs(3600);

fn someone(name: &str) -> SessionData {
    SessionData {
        user_id: UserId::from_ulid(ulid::Ulid::new()),
        username: Username::parse(name).expect("name"),
        created_at: 1_700_000_000,
    }
}

/// `destroy_all_of` ends every session of one user and no other's, including sessions an
/// earlier call already ended or that expired, and sessions created afterwards are new.
pub async fn user_index_contract(store: Arc<dyn SessionStore>, prefix: &str) {
    let (alice, bob) = (someone("alice"), someone("bob"));
    let idle = Duration::from_secs(60);
    store.destroy_all_of(alice.user_id).await.expect("nobody's sessions: Ok");
    let alices: Vec<String> = (0..3).map(|i| format!("{prefix}alice-{i}")).collect();
    for key in &alices {
        store.create(key, &alice, idle, LIFETIME).await.expect("create");
    }
    let bobs = format!("{prefix}bob-0");
    store.create(&bobs, &bob, idle, LIFETIME).await.expect("create");
    // One of hers already logged out: the index may still name it.
    store.destroy(&alices[0]).await.expect("destroy");
    // A record replaced under the same key is still hers once.
    store.create(&alices[1], &alice, idle, LIFETIME).await.expect("create again");

    store.destroy_all_of(alice.user_id).await.expect("destroy all of alice");
    for key in &alices {
        assert_eq!(store.get(key).await.expect("get"), None, "{key} ended");
        assert!(!store.touch(key, idle).await.expect("touch"), "{key} cannot be revived by a touch");
    }
    assert_eq!(store.get(&bobs).await.expect("get"), Some(bob.clone()), "bob's session is not hers");
    store.destroy_all_of(alice.user_id).await.expect("again: idempotent");

    let fresh = format!("{prefix}alice-new");
    store.create(&fresh, &alice, idle, LIFETIME).await.expect("a new login");
    assert_eq!(store.get(&fresh).await.expect("get"), Some(alice.clone()), "a later session lives");
    store.destroy_all_of(alice.user_id).await.expect("destroy all again");
    assert_eq!(store.get(&fresh).await.expect("get"), None, "and a later call ends it too");
    store.destroy_all_of(bob.user_id).await.expect("destroy all of bob");
    assert_eq!(store.get(&bobs).await.expect("get"), None);

    // Many logins and logouts (a list that must be pruned, where a backend keeps one): the
    // sessions still alive are all still found.
    let many: Vec<String> = (0..80).map(|i| format!("{prefix}alice-many-{i}")).collect();
    for (i, key) in many.iter().enumerate() {
        store.create(key, &alice, idle, LIFETIME).await.expect("create");
        if i % 10 != 0 {
            store.destroy(key).await.expect("log out");
        }
    }
    let last = format!("{prefix}alice-last");
    store.create(&last, &alice, idle, LIFETIME).await.expect("create");
    store.destroy_all_of(alice.user_id).await.expect("destroy all");
    for key in many.iter().step_by(10).chain([&last]) {
        assert_eq!(store.get(key).await.expect("get"), None, "{key} ended");
    }
}

pub async fn session_contract(store: Arc<dyn SessionStore>, prefix: &str, time: &Time) {
    user_index_contract(store.clone(), prefix).await;
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

    store.create(&key, &data, Duration::from_secs(60), LIFETIME).await.expect("create");
    assert_eq!(store.get(&key).await.expect("get"), Some(data.clone()));
    assert!(store.touch(&key, Duration::from_secs(60)).await.expect("touch"));
    store.destroy(&key).await.expect("destroy");
    assert_eq!(store.get(&key).await.expect("get"), None);
    store.destroy(&key).await.expect("destroy is idempotent");

    // Idle expiry, and touch extending it. memcached keeps time in whole seconds, so a TTL of
    // N seconds may end after N-1: the margins allow for it.
    store.create(&key, &data, Duration::from_secs(3), LIFETIME).await.expect("create");
    time.pass(Duration::from_millis(1200)).await;
    assert!(store.touch(&key, Duration::from_secs(3)).await.expect("touch"), "still alive");
    time.pass(Duration::from_millis(1500)).await;
    assert!(store.get(&key).await.expect("get").is_some(), "touch extended the idle ttl");
    time.pass(Duration::from_millis(3100)).await;
    assert_eq!(store.get(&key).await.expect("get"), None, "expired after idling");
}

#[tokio::test]
async fn memory_sessions_meet_the_contract() {
    let clock = Arc::new(ManualClock::new());
    session_contract(Arc::new(MemorySessions::with_clock(clock.clone())), "", &Time::Manual(clock)).await;
}

#[tokio::test]
async fn redis_sessions_meet_the_contract() {
    common::needs!(Redis);
    let redis = stratus::remote::redis::Redis::connect(&common::services::redis_url()).await.expect("redis");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "", &Time::Server).await;
}

#[tokio::test]
async fn redis_cluster_sessions_meet_the_contract() {
    common::needs!(RedisCluster);
    let url = common::services::redis_cluster_url();
    let redis = stratus::remote::redis::Redis::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no Redis Cluster at {url} ({e}); start it with tests/services.sh"));
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "", &Time::Server).await;
}

#[tokio::test]
async fn memcached_sessions_meet_the_contract() {
    common::needs!(Memcached);
    let memcached =
        stratus::remote::memcached::Memcached::connect(&common::services::memcached_url()).await.expect("memcached");
    let prefix = common::services::unique("t:");
    session_contract(
        Arc::new(stratus::session::MemcachedSessions::new(Arc::new(memcached), &prefix)),
        "",
        &Time::Server,
    )
    .await;
}

#[tokio::test]
async fn redis_sessions_over_tls_meet_the_contract() {
    common::needs!(RedisTls);
    let (url, trust) = (common::services::redis_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis over TLS");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "", &Time::Server).await;
}

#[tokio::test]
async fn redis_cluster_sessions_over_tls_meet_the_contract() {
    common::needs!(RedisClusterTls);
    let (url, trust) = (common::services::redis_cluster_tls_url(), common::services::tls_trust());
    let redis = stratus::remote::redis::Redis::connect_with(&url, &trust).await.expect("Redis Cluster over TLS");
    let prefix = common::services::unique("t:");
    session_contract(Arc::new(stratus::session::RedisSessions::new(redis, &prefix)), "", &Time::Server).await;
}

#[tokio::test]
async fn memcached_sessions_over_tls_meet_the_contract() {
    common::needs!(MemcachedTls);
    let (url, trust) = (common::services::memcached_tls_url(), common::services::tls_trust());
    let memcached = stratus::remote::memcached::Memcached::connect_with(&url, &trust).await.expect("memcached TLS");
    let prefix = common::services::unique("t:");
    session_contract(
        Arc::new(stratus::session::MemcachedSessions::new(Arc::new(memcached), &prefix)),
        "",
        &Time::Server,
    )
    .await;
}
