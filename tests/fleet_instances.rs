//! Several real `stratus` processes of the fleet profile on loopback, sharing MySQL, S3
//! (SeaweedFS) and Redis, behave as one site.

mod common;

use common::fleet::{Browser, start};
use common::services;

#[tokio::test]
async fn two_instances_behave_as_one_site() {
    let data = tempfile::tempdir().expect("dir");
    let shared = [
        ("ROCKET_DATABASE_URL", services::fresh_mysql_database().await),
        ("ROCKET_STORAGE_URL", format!("s3://{}/{}", services::s3_bucket(), services::unique("t-"))),
        ("ROCKET_CACHE_URL", services::redis_url()),
        ("ROCKET_SESSION_URL", services::redis_url()),
        ("ROCKET_KEY_PREFIX", services::unique("t:") + ":"),
        ("ROCKET_SECRET_KEY", "fleet-test-secret-key-shared-by-all-instances".to_owned()),
    ];
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
