//! The `Roster` contract (instance heartbeats), run against every implementation: two
//! handles on one backend stand for two instances of the app.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::Time;
use stratus::clock::ManualClock;
use stratus::remote::memcached::Memcached;
use stratus::remote::redis::Redis;
use stratus::session::{InstanceBeat, MemcachedRoster, MemoryRoster, RedisRoster, Roster};

fn beat(id: &str, requests_per_sec: f64) -> InstanceBeat {
    InstanceBeat {
        id: id.to_owned(),
        address: format!("host-{id}:8000"),
        started_at: 1_700_000_000,
        beat_at: stratus::domain::now_unix(),
        requests_per_sec,
        in_flight: 2,
        level: Some("4".into()),
    }
}

fn ids(beats: &[InstanceBeat]) -> Vec<&str> {
    beats.iter().map(|b| b.id.as_str()).collect()
}

pub async fn roster_contract(a: Arc<dyn Roster>, b: Arc<dyn Roster>, time: &Time) {
    let minute = Duration::from_secs(60);
    assert!(a.list().await.expect("list").is_empty(), "a fresh roster lists nobody");
    a.leave("nobody").await.expect("leaving when absent is Ok");

    // Each handle announces an instance; both see both, with every field as sent.
    a.beat(&beat("a", 1.5), minute).await.expect("beat a");
    b.beat(&beat("b", 0.0), minute).await.expect("beat b");
    let seen = b.list().await.expect("list");
    assert_eq!(ids(&seen), ["a", "b"]);
    assert_eq!(seen[0], beat("a", 1.5).clone_with_time(seen[0].beat_at));
    assert_eq!(ids(&a.list().await.expect("list")), ["a", "b"]);

    // A later beat replaces the earlier one: never listed twice, newest figures win.
    for i in 0..3 {
        a.beat(&beat("a", f64::from(i) * 10.0), minute).await.expect("beat a again");
    }
    let seen = b.list().await.expect("list");
    assert_eq!(ids(&seen), ["a", "b"]);
    assert_eq!(seen[0].requests_per_sec, 20.0);

    // Leaving is at once, seen by the other handle, and idempotent.
    b.leave("a").await.expect("leave a from the other handle");
    assert_eq!(ids(&a.list().await.expect("list")), ["b"]);
    a.leave("a").await.expect("leave again");

    // Ten instances beating through one handle are all listed, sorted.
    for i in 0..10 {
        a.beat(&beat(&format!("n{i:02}"), 1.0), minute).await.expect("beat");
    }
    let seen = b.list().await.expect("list");
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[0].id, "b");
    assert_eq!(seen[10].id, "n09");
    for i in 0..10 {
        b.leave(&format!("n{i:02}")).await.expect("leave");
    }

    // Missed beats: an instance whose ttl passes without a beat drops off by itself, while
    // one that keeps beating stays. memcached counts whole seconds on a clock that ticks once a
    // second, so a 2 s ttl lasts between 1 and 2 s there: the busy one beats every 0.5 s, and
    // the quiet one is looked for 3 s after its only beat.
    let short = Duration::from_secs(2);
    a.beat(&beat("quiet", 1.0), short).await.expect("beat");
    b.beat(&beat("busy", 1.0), short).await.expect("beat");
    time.pass(Duration::from_millis(500)).await;
    assert_eq!(ids(&a.list().await.expect("list")), ["b", "busy", "quiet"], "still within its ttl");
    for _ in 0..5 {
        b.beat(&beat("busy", 1.0), short).await.expect("beat");
        time.pass(Duration::from_millis(500)).await;
    }
    assert_eq!(ids(&b.list().await.expect("list")), ["b", "busy"], "the silent one is gone, the busy one stays");

    // A gone instance that beats again is back.
    a.beat(&beat("quiet", 1.0), short).await.expect("beat");
    assert_eq!(ids(&b.list().await.expect("list")), ["b", "busy", "quiet"]);
}

trait WithTime {
    fn clone_with_time(&self, beat_at: i64) -> InstanceBeat;
}

impl WithTime for InstanceBeat {
    fn clone_with_time(&self, beat_at: i64) -> InstanceBeat {
        InstanceBeat { beat_at, ..self.clone() }
    }
}

#[tokio::test]
async fn memory_roster_meets_the_contract() {
    let clock = Arc::new(ManualClock::new());
    let roster: Arc<dyn Roster> = Arc::new(MemoryRoster::with_clock(clock.clone()));
    roster_contract(roster.clone(), roster, &Time::Manual(clock)).await;
}

#[tokio::test]
async fn redis_roster_meets_the_contract() {
    common::needs!(Redis);
    let prefix = common::services::unique("t:");
    let a = Redis::connect(&common::services::redis_url()).await.expect("redis");
    let b = Redis::connect(&common::services::redis_url()).await.expect("redis");
    roster_contract(Arc::new(RedisRoster::new(a, &prefix)), Arc::new(RedisRoster::new(b, &prefix)), &Time::Server)
        .await;
}

#[tokio::test]
async fn redis_cluster_roster_meets_the_contract() {
    common::needs!(RedisCluster);
    let url = common::services::redis_cluster_url();
    let connect = || async {
        Redis::connect(&url).await.unwrap_or_else(|e| panic!("no Redis Cluster at {url} ({e}); tests/services.sh"))
    };
    let prefix = common::services::unique("t:");
    let (a, b) = (connect().await, connect().await);
    roster_contract(Arc::new(RedisRoster::new(a, &prefix)), Arc::new(RedisRoster::new(b, &prefix)), &Time::Server)
        .await;
}

#[tokio::test]
async fn memcached_roster_meets_the_contract() {
    common::needs!(Memcached);
    let url = common::services::memcached_url();
    let prefix = common::services::unique("t:");
    let a = Arc::new(Memcached::connect(&url).await.expect("memcached"));
    let b = Arc::new(Memcached::connect(&url).await.expect("memcached"));
    roster_contract(
        Arc::new(MemcachedRoster::new(a, &prefix)),
        Arc::new(MemcachedRoster::new(b, &prefix)),
        &Time::Server,
    )
    .await;
}

/// memcached's slots: once all are taken, one more instance is refused with an error (not
/// silently dropped), and a slot freed by a leaving instance is taken again.
#[tokio::test]
async fn memcached_roster_slots_are_bounded_and_reused() {
    common::needs!(Memcached);
    let url = common::services::memcached_url();
    let prefix = common::services::unique("t:");
    let roster = MemcachedRoster::new(Arc::new(Memcached::connect(&url).await.expect("memcached")), &prefix);
    let minute = Duration::from_secs(60);
    for i in 0..MemcachedRoster::SLOTS {
        roster.beat(&beat(&format!("i{i:02}"), 1.0), minute).await.expect("a free slot");
    }
    assert!(roster.beat(&beat("one-too-many", 1.0), minute).await.is_err(), "no slot left");
    assert_eq!(roster.list().await.expect("list").len(), MemcachedRoster::SLOTS);
    roster.leave("i05").await.expect("leave");
    roster.beat(&beat("late", 1.0), minute).await.expect("the freed slot");
    let listed = roster.list().await.expect("list");
    assert_eq!(listed.len(), MemcachedRoster::SLOTS);
    assert!(listed.iter().any(|b| b.id == "late") && !listed.iter().any(|b| b.id == "i05"));
}
