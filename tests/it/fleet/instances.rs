//! Several real `stratus` processes of the fleet profile on loopback, sharing MySQL, S3
//! (SeaweedFS) and Redis, behave as one site.

use crate::common;

use common::fleet::{Browser, shared_settings, start};
use common::services;

#[tokio::test]
async fn two_instances_behave_as_one_site() {
    common::needs!(Mysql, Redis, S3);
    let data = tempfile::tempdir().expect("dir");
    let shared = shared_settings(&services::redis_url()).await;
    let a = start("a", &shared, data.path()).await;
    let b = start("b", &shared, data.path()).await;
    let mut browser = Browser::default();

    // Register on A: logged in on B.
    let csrf = browser.csrf(&format!("{}/register", a.base)).await;
    let fields = [("username", "roamer"), ("password", common::PASSWORD), ("csrf", csrf.as_str())];
    assert_eq!(browser.post_form(&format!("{}/register", a.base), &fields).await.0, 303);
    let (_, page_b, headers) = browser.get(&format!("{}/", b.base)).await;
    assert!(page_b.contains("Signed in as <strong>roamer</strong>"), "the session crossed instances");
    assert!(headers.get("x-served-by").and_then(|v| v.to_str().ok()).is_some_and(|v| v.ends_with("(b)")));

    // Warm both front-page caches, then upload on B: A shows it at the next request.
    browser.get(&format!("{}/", a.base)).await;
    let (_, _, headers) = browser.get(&format!("{}/", a.base)).await;
    assert_eq!(headers.get("x-cache").and_then(|v| v.to_str().ok()), Some("HIT"));
    let csrf = browser.csrf(&format!("{}/", b.base)).await;
    let photo = common::fixture("valid", "progressive.jpg");
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::Text("caption", "shared by B"),
        common::Part::File("photo", "p.jpg", "image/jpeg", &photo),
    ]);
    let (status, location) = browser.post(&format!("{}/photos", b.base), &content_type.to_string(), body).await;
    assert_eq!(status, 303);
    let id = location.expect("location").trim_start_matches("/photos/").to_owned();
    let (_, page_a, headers) = browser.get(&format!("{}/", a.base)).await;
    assert!(page_a.contains(&id), "A's front page shows B's upload at once");
    assert_eq!(
        headers.get("x-cache").and_then(|v| v.to_str().ok()),
        Some("MISS"),
        "B's upload invalidated the shared cache"
    );

    // Delete on A: gone from B's page and cache.
    browser.get(&format!("{}/", b.base)).await;
    let csrf = browser.csrf(&format!("{}/photos/{id}", a.base)).await;
    assert_eq!(browser.post_form(&format!("{}/photos/{id}/delete", a.base), &[("csrf", &csrf)]).await.0, 303);
    let (_, page_b, _) = browser.get(&format!("{}/", b.base)).await;
    assert!(!page_b.contains(&id), "B no longer shows the deleted photo");
    assert_eq!(browser.get(&format!("{}/photos/{id}", b.base)).await.0, 404);

    // Log out on A: the cookie is dead on B.
    let stolen = browser.cookies.clone();
    let csrf = browser.csrf(&format!("{}/", a.base)).await;
    assert_eq!(browser.post_form(&format!("{}/logout", a.base), &[("csrf", &csrf)]).await.0, 303);
    let mut replay = Browser { cookies: stolen };
    let (_, page_b, _) = replay.get(&format!("{}/", b.base)).await;
    assert!(!page_b.contains("Signed in as"), "the old cookie no longer authenticates on B");
}

/// The `id` cells of `/architecture`'s instances table.
fn listed_instances(html: &str) -> Vec<String> {
    let start = html.find("id=\"instances\"").expect("instances table");
    let table = &html[start..start + html[start..].find("</table>").expect("table end")];
    table
        .split("<tr")
        .skip(2)
        .filter_map(|row| row.split_once("<td>").map(|(_, rest)| rest))
        .map(|cell| cell.split(['<', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// Two real instances sharing memcached (which cannot list keys) both appear on each one's
/// `/architecture`, each highlighting itself; a killed one is still listed until it has missed
/// the stated number of beats, and gone soon after.
#[tokio::test]
async fn the_diagram_shows_every_live_instance_and_drops_a_killed_one() {
    common::needs!(Mysql, Memcached, S3);
    use std::time::{Duration, Instant};
    use stratus::service::{BEAT, MISSED_BEATS};

    let data = tempfile::tempdir().expect("dir");
    let shared = shared_settings(&services::memcached_url()).await;
    let a = start("a", &shared, data.path()).await;
    let b = start("b", &shared, data.path()).await;
    let mut browser = Browser::default();
    let page = async |browser: &mut Browser, base: &str| browser.get(&format!("{base}/architecture")).await.1;

    // Both announce themselves within a beat or two.
    let deadline = Instant::now() + BEAT * 3;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen = listed_instances(&page(&mut browser, &a.base).await);
        if seen == ["a", "b"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, ["a", "b"], "A lists both instances");
    let on_b = page(&mut browser, &b.base).await;
    assert_eq!(listed_instances(&on_b), ["a", "b"], "so does B");
    assert!(on_b.contains("<td>b <strong>(drew this page)</strong></td>") && on_b.contains("b (this page)"));
    assert!(!on_b.contains("<td>a <strong>(drew this page)"));

    // Killed (no goodbye): listed while its last beat is within the ttl, gone after it.
    drop(b);
    let killed = Instant::now();
    assert_eq!(listed_instances(&page(&mut browser, &a.base).await), ["a", "b"], "not dropped at once");
    let ttl = BEAT * MISSED_BEATS;
    while listed_instances(&page(&mut browser, &a.base).await).len() == 2 {
        assert!(killed.elapsed() < ttl + Duration::from_secs(2), "B still listed {:?} after it died", killed.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone_after = killed.elapsed();
    assert!(
        gone_after >= ttl - BEAT - Duration::from_millis(500),
        "B dropped off before missing its beats: {gone_after:?}"
    );
    assert_eq!(listed_instances(&page(&mut browser, &a.base).await), ["a"]);
}

/// Scale-in (SIGTERM): the draining instance takes itself off the roster within a beat, not
/// after the missed beats a killed one needs.
#[tokio::test]
async fn a_draining_instance_leaves_the_diagram_within_a_beat() {
    common::needs!(Mysql, Redis, S3);
    use std::time::{Duration, Instant};
    use stratus::service::BEAT;

    let data = tempfile::tempdir().expect("dir");
    let mut shared = shared_settings(&services::redis_url()).await;
    // Long enough that only leaving the roster, not exiting, can explain B's absence.
    shared.push(("ROCKET_DRAIN_SECS", "10".to_owned()));
    let a = start("a", &shared, data.path()).await;
    let b = start("b", &shared, data.path()).await;
    let mut browser = Browser::default();
    let deadline = Instant::now() + BEAT * 3;
    while listed_instances(&browser.get(&format!("{}/architecture", a.base)).await.1) != ["a", "b"] {
        assert!(Instant::now() < deadline, "both instances listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.terminate();
    let terminated = Instant::now();
    while listed_instances(&browser.get(&format!("{}/architecture", a.base)).await.1).len() == 2 {
        assert!(
            terminated.elapsed() < BEAT + Duration::from_secs(1),
            "B still listed {:?} after SIGTERM",
            terminated.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.get(&format!("{}/healthz", b.base)).await.0, 200, "B is still up, draining");
}
