//! The `Counters` contract (the login throttle's slots), run against every implementation.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::Time;
use stratus::clock::ManualClock;
use stratus::remote::memcached::Memcached;
use stratus::remote::redis::Redis;
use stratus::session::{Counters, MemcachedCounters, MemoryCounters, RedisCounters};

/// `a` and `b` are two handles on the same backend (two instances of the app).
pub async fn counters_contract(a: Arc<dyn Counters>, b: Arc<dyn Counters>, time: &Time) {
    let minute = Duration::from_secs(60);
    assert_eq!(a.taken("k").await.expect("taken"), 0);
    a.release("k").await.expect("release on an absent key is Ok");
    assert_eq!(a.taken("k").await.expect("taken"), 0, "release creates nothing");

    // Up to the limit, then refused without counting; shared between handles.
    for i in 0..3 {
        assert!(a.acquire("k", 5, minute).await.expect("acquire"), "slot {i} on a");
    }
    assert!(b.acquire("k", 5, minute).await.expect("acquire"), "slot 3 on b");
    assert!(b.acquire("k", 5, minute).await.expect("acquire"), "slot 4 on b");
    assert!(!a.acquire("k", 5, minute).await.expect("acquire"), "full on a");
    assert!(!b.acquire("k", 5, minute).await.expect("acquire"), "full on b");
    assert_eq!(a.taken("k").await.expect("taken"), 5, "a refused acquire takes nothing");

    // A slot given back can be taken once more, by either handle.
    b.release("k").await.expect("release");
    assert_eq!(a.taken("k").await.expect("taken"), 4);
    assert!(a.acquire("k", 5, minute).await.expect("acquire"));
    assert!(!b.acquire("k", 5, minute).await.expect("acquire"));
    assert_eq!(a.taken("other").await.expect("taken"), 0, "keys are independent");
    assert!(!a.acquire("zero", 0, minute).await.expect("acquire"), "a limit of 0 allows nothing");

    // Releasing never goes below zero: extra releases do not buy extra slots.
    assert!(a.acquire("floor", 1, minute).await.expect("acquire"));
    for _ in 0..3 {
        a.release("floor").await.expect("release");
    }
    assert_eq!(a.taken("floor").await.expect("taken"), 0);
    assert!(a.acquire("floor", 1, minute).await.expect("acquire"));
    assert!(!b.acquire("floor", 1, minute).await.expect("acquire"), "still one slot");

    // A burst from both handles at once: exactly `limit` winners, however they interleave.
    let attempts = (0..60).map(|i| {
        let counters = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { counters.acquire("burst", 7, minute).await.expect("acquire") }
    });
    let granted = futures::future::join_all(attempts).await.into_iter().filter(|taken| *taken).count();
    assert_eq!(granted, 7, "at most the limit, and no fewer");
    assert_eq!(a.taken("burst").await.expect("taken"), 7);

    // The window ends: a full key starts over. memcached keeps whole seconds, so the window
    // is 2 s and the wait allows for its rounding.
    assert!(a.acquire("short", 1, Duration::from_secs(2)).await.expect("acquire"));
    assert!(!a.acquire("short", 1, Duration::from_secs(2)).await.expect("acquire"));
    time.pass(Duration::from_millis(3100)).await;
    assert_eq!(a.taken("short").await.expect("taken"), 0, "expired");
    a.release("short").await.expect("release after expiry");
    assert!(b.acquire("short", 1, Duration::from_secs(2)).await.expect("acquire"), "a new window");
}

#[tokio::test]
async fn memory_counters_meet_the_contract() {
    let clock = Arc::new(ManualClock::new());
    let counters: Arc<dyn Counters> =
        Arc::new(MemoryCounters::with_clock(MemoryCounters::DEFAULT_MAX_KEYS, clock.clone()));
    counters_contract(counters.clone(), counters, &Time::Manual(clock)).await;
}

#[tokio::test]
async fn redis_counters_meet_the_contract() {
    common::needs!(Redis);
    let prefix = common::services::unique("t:");
    let a = Redis::connect(&common::services::redis_url()).await.expect("redis");
    let b = Redis::connect(&common::services::redis_url()).await.expect("redis");
    counters_contract(
        Arc::new(RedisCounters::new(a, &prefix)),
        Arc::new(RedisCounters::new(b, &prefix)),
        &Time::Server,
    )
    .await;
}

#[tokio::test]
async fn redis_cluster_counters_meet_the_contract() {
    common::needs!(RedisCluster);
    let url = common::services::redis_cluster_url();
    let connect = || async {
        Redis::connect(&url).await.unwrap_or_else(|e| panic!("no Redis Cluster at {url} ({e}); tests/services.sh"))
    };
    let prefix = common::services::unique("t:");
    let (a, b) = (connect().await, connect().await);
    counters_contract(
        Arc::new(RedisCounters::new(a, &prefix)),
        Arc::new(RedisCounters::new(b, &prefix)),
        &Time::Server,
    )
    .await;
}

#[tokio::test]
async fn memcached_counters_meet_the_contract() {
    common::needs!(Memcached);
    let url = common::services::memcached_url();
    let prefix = common::services::unique("t:");
    let a = Arc::new(Memcached::connect(&url).await.expect("memcached"));
    let b = Arc::new(Memcached::connect(&url).await.expect("memcached"));
    counters_contract(
        Arc::new(MemcachedCounters::new(a, &prefix)),
        Arc::new(MemcachedCounters::new(b, &prefix)),
        &Time::Server,
    )
    .await;
}

/// An address-rotating flood cannot grow the in-process counters past their bound, and the
/// counts already held are neither forgotten nor reset by it.
#[tokio::test]
async fn memory_counters_stay_bounded_under_a_flood_of_keys() {
    let counters = MemoryCounters::new(100);
    let minute = Duration::from_secs(60);
    assert!(counters.acquire("victim", 1, minute).await.expect("acquire"));
    let mut refused = 0;
    for i in 0..10_000 {
        if !counters.acquire(&format!("flood-{i}"), 10, minute).await.expect("acquire") {
            refused += 1;
        }
    }
    assert_eq!(counters.len(), 100, "never more than the bound");
    assert_eq!(refused, 10_000 - 99, "new keys past the bound are refused (fail closed)");
    assert!(!counters.acquire("victim", 1, minute).await.expect("acquire"), "the held count survived the flood");
    assert_eq!(counters.taken("victim").await.expect("taken"), 1);

    // Expired windows make room again (swept at most once a second).
    let clock = Arc::new(ManualClock::new());
    let short = MemoryCounters::with_clock(10, clock.clone());
    for i in 0..10 {
        assert!(short.acquire(&format!("old-{i}"), 1, Duration::from_millis(200)).await.expect("acquire"));
    }
    assert!(!short.acquire("new", 1, minute).await.expect("acquire"), "full of live windows");
    clock.advance(Duration::from_millis(300));
    assert!(!short.acquire("new", 1, minute).await.expect("acquire"), "expired, but swept once a second at most");
    clock.advance(Duration::from_millis(800));
    assert!(short.acquire("new", 1, minute).await.expect("acquire"), "expired windows were swept");
    assert_eq!(short.len(), 1);
}
