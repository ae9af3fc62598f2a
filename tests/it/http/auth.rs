//! Accounts, sessions and CSRF through HTTP.

use crate::common;

use common::{PASSWORD, TestApp, csrf_in};
use rocket::http::{Cookie, Status};
use stratus::auth::SESSION_COOKIE;

fn session_cookie(t: &TestApp) -> Option<String> {
    t.client.cookies().get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Whether a request carrying only `token` as its session cookie is logged in.
async fn token_authenticates(t: &TestApp, token: &str) -> bool {
    let response = t.client.get("/").cookie(Cookie::new(SESSION_COOKIE, token.to_owned())).dispatch().await;
    response.into_string().await.unwrap_or_default().contains("Signed in as")
}

#[rocket::async_test]
async fn register_logs_in_and_shows_the_upload_form() {
    let t = TestApp::new().await;
    let csrf = t.csrf_from("/register").await;
    let response = t.post_form("/register", &[("username", "alice"), ("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/"));
    let set_cookie: Vec<_> = response.headers().get("Set-Cookie").collect();
    let session = set_cookie.iter().find(|c| c.starts_with(SESSION_COOKIE)).expect("session cookie set");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Path=/"),
        "{session}"
    );
    let token = session.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v).expect("value");
    assert!(token.len() >= 43, "at least 256 bits, base64: {token}");

    let (_, html) = t.get_text("/").await;
    assert!(html.contains("Signed in as <strong>alice</strong>"));
    assert!(html.contains("action=\"/photos\"") && html.contains("action=\"/logout\""));
    assert!(!html.contains(token), "the raw session id never reaches a page");
}

#[rocket::async_test]
async fn register_rules_409_and_422() {
    let t = TestApp::new().await;
    assert_eq!(t.register("alice").await, Status::SeeOther);
    t.logout().await;
    assert_eq!(t.register("alice").await, Status::Conflict);
    assert_eq!(t.register("ALICE").await, Status::Conflict, "names are unique ignoring case");
    for bad in ["", "has space", &"x".repeat(33), "<b>"] {
        assert_eq!(t.register(bad).await, Status::UnprocessableEntity, "{bad:?}");
    }
    let csrf = t.csrf_from("/register").await;
    let response = t.post_form("/register", &[("username", "bob"), ("password", "short"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert!(response.into_string().await.unwrap_or_default().contains("at least 8 characters"));
    assert_eq!(t.login("bob", "short").await, Status::Unauthorized, "nothing was created");
}

#[rocket::async_test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let t = TestApp::new().await;
    t.register("alice").await;
    t.logout().await;
    let csrf = t.csrf_from("/login").await;
    let wrong =
        t.post_form("/login", &[("username", "alice"), ("password", "not the password"), ("csrf", &csrf)]).await;
    let (wrong_status, wrong_body) = (wrong.status(), wrong.into_string().await);
    let unknown =
        t.post_form("/login", &[("username", "nobody"), ("password", "not the password"), ("csrf", &csrf)]).await;
    assert_eq!(wrong_status, Status::Unauthorized);
    assert_eq!(unknown.status(), Status::Unauthorized);
    // The same page but for the name typed, which the form keeps.
    let wrong_body = wrong_body.map(|body| body.replace("value=\"alice\"", "value=\"nobody\""));
    assert_eq!(wrong_body, unknown.into_string().await);
    assert_eq!(t.login("alice", PASSWORD).await, Status::SeeOther);
}

#[rocket::async_test]
async fn login_rotates_the_session_and_logout_kills_it() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let first = session_cookie(&t).expect("session after register");
    assert_eq!(t.login("alice", PASSWORD).await, Status::SeeOther);
    let second = session_cookie(&t).expect("session after login");
    assert_ne!(first, second, "a new id at login");
    assert!(token_authenticates(&t, &second).await);

    assert_eq!(t.logout().await, Status::SeeOther);
    assert!(session_cookie(&t).is_none(), "cookie removed");
    // Checked last: a dead cookie makes the server expire it in this client's jar too.
    assert!(!token_authenticates(&t, &second).await, "the old cookie no longer authenticates");
    assert!(!token_authenticates(&t, &first).await, "the session replaced at login was destroyed");
}

#[rocket::async_test]
async fn csrf_is_required_on_every_post() {
    let t = TestApp::new().await;
    // No token at all, and a token that belongs to nobody.
    for csrf in [None, Some("forged")] {
        let mut fields = vec![("username", "eve"), ("password", PASSWORD)];
        if let Some(token) = csrf {
            fields.push(("csrf", token));
        }
        assert_eq!(t.post_form("/register", &fields).await.status(), Status::Forbidden);
        assert_eq!(t.post_form("/login", &fields).await.status(), Status::Forbidden);
    }
    assert_eq!(t.register("eve").await, Status::SeeOther, "no account was created by the refused posts");
    // An anonymous token does not work once logged in (it is bound to the anonymous nonce).
    let anon_csrf = {
        let fresh = TestApp::new().await;
        fresh.csrf_from("/login").await
    };
    assert_eq!(t.post_form("/logout", &[("csrf", &anon_csrf)]).await.status(), Status::Forbidden);
    assert!(t.get_text("/").await.1.contains("Signed in as"), "still logged in");
    assert_eq!(t.post_form("/logout", &[]).await.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn every_form_carries_a_csrf_input() {
    let t = TestApp::new().await;
    for page in ["/login", "/register"] {
        let html = t.get_text(page).await.1;
        assert_eq!(html.matches("<form").count(), html.matches("name=\"csrf\"").count(), "{page}");
    }
    t.register("alice").await;
    let id = common::photo_id_from(&t.upload("a.jpg", &common::fixture("valid", "progressive.jpg"), "").await);
    for page in ["/".to_owned(), format!("/photos/{id}")] {
        let html = t.get_text(&page).await.1;
        assert!(html.matches("<form").count() >= 1);
        assert_eq!(html.matches("<form").count(), html.matches("name=\"csrf\"").count(), "{page}");
        assert!(csrf_in(&html).is_some());
    }
}

#[rocket::async_test]
async fn viewing_pages_creates_no_server_state() {
    let t = TestApp::new().await;
    let response = t.client.get("/").dispatch().await;
    assert!(response.headers().get_one("Set-Cookie").is_none(), "anonymous front page sets no cookie");
    let response = t.client.get("/login").dispatch().await;
    let cookies: Vec<_> = response.headers().get("Set-Cookie").map(str::to_owned).collect();
    assert!(cookies.iter().all(|c| !c.starts_with(SESSION_COOKIE)), "{cookies:?}");
    assert!(cookies.iter().all(|c| c.contains("HttpOnly")));
}

#[rocket::async_test]
async fn ten_failed_logins_from_one_ip_then_429() {
    let t = TestApp::new().await;
    t.register("alice").await;
    t.logout().await;
    let csrf = t.csrf_from("/login").await;
    for i in 0..10 {
        let response =
            t.post_form("/login", &[("username", "alice"), ("password", "wrong-password"), ("csrf", &csrf)]).await;
        assert_eq!(response.status(), Status::Unauthorized, "attempt {i}");
    }
    let response = t.post_form("/login", &[("username", "alice"), ("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::TooManyRequests, "even the right password waits");
    assert!(session_cookie(&t).is_none());
}

#[rocket::async_test]
async fn sessions_expire_after_their_absolute_lifetime() {
    // The absolute lifetime is decided in process (from the session's creation time) on every
    // profile; idle expiry is kept far off so only the lifetime can end it.
    let (t, clock) =
        TestApp::with_clock(|f| f.merge(("session_absolute_secs", 60)).merge(("session_idle_secs", 3600))).await;
    t.register("alice").await;
    let token = session_cookie(&t).expect("session");
    clock.advance(std::time::Duration::from_secs(59));
    assert!(token_authenticates(&t, &token).await, "alive within its lifetime, however busy");
    clock.advance(std::time::Duration::from_secs(1));
    assert!(!token_authenticates(&t, &token).await, "gone at its lifetime");
}

#[rocket::async_test]
async fn idle_sessions_expire() {
    let (t, clock) = TestApp::with_clock(|f| f.merge(("session_idle_secs", 1))).await;
    t.register("alice").await;
    let token = session_cookie(&t).expect("session");
    match common::profile().as_str() {
        "single" => clock.advance(std::time::Duration::from_millis(1500)),
        // The shared server's own time to live ends the session: its clock is what is tested.
        _ => tokio::time::sleep(std::time::Duration::from_millis(1500)).await,
    }
    assert!(!token_authenticates(&t, &token).await);
}

#[rocket::async_test]
async fn a_malformed_password_never_logs_in() {
    // The decoy checked in place of a malformed password must not be a key to any account.
    let t = TestApp::new().await;
    let csrf = t.csrf_from("/register").await;
    let decoy = "decoy-password-never-matches";
    let response = t.post_form("/register", &[("username", "tricky"), ("password", decoy), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    t.logout().await;
    assert_eq!(t.login("tricky", "short").await, Status::Unauthorized);
    assert_eq!(t.login("tricky", decoy).await, Status::SeeOther);
}

/// One login attempt as `client` (through a trusted proxy), answering its status code.
async fn login_from(client: &rocket::local::asynchronous::Client, from: &str, user: &str, password: &str) -> u16 {
    use rocket::http::ContentType;
    let page = client.get("/login").dispatch().await.into_string().await.unwrap_or_default();
    let csrf = csrf_in(&page).expect("csrf");
    let body = format!(
        "username={}&password={}&csrf={}",
        common::urlencode(user),
        common::urlencode(password),
        common::urlencode(&csrf)
    );
    let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let response = client
        .post("/login")
        .remote(peer)
        .header(ContentType::Form)
        .header(rocket::http::Header::new("X-Forwarded-For", from.to_owned()))
        .body(body)
        .dispatch()
        .await;
    response.status().code
}

fn count(codes: &[u16], code: u16) -> usize {
    codes.iter().filter(|c| **c == code).count()
}

#[rocket::async_test]
async fn simultaneous_guesses_from_one_address_evaluate_at_most_the_limit() {
    let t = TestApp::with(|f| f.merge(("trusted_proxies", ["127.0.0.1"]))).await;
    t.register("alice").await;
    t.logout().await;
    let limit = 10;
    let burst = (0..50).map(|_| login_from(&t.client, "198.51.100.7", "alice", "wrong-password"));
    // The right password arrives inside the burst, after the burst's guesses took the slots.
    let right = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        login_from(&t.client, "198.51.100.7", "alice", PASSWORD).await
    };
    let (codes, right) = futures::join!(futures::future::join_all(burst), right);
    assert_eq!(count(&codes, 401), limit, "exactly `limit` passwords were checked: {codes:?}");
    assert_eq!(count(&codes, 429), 50 - limit, "{codes:?}");
    assert_eq!(right, 429, "the right password inside the burst does not log in");
    assert!(session_cookie(&t).is_none());
    // Another address is not affected, and a success gives its slot back.
    assert_eq!(login_from(&t.client, "198.51.100.8", "alice", PASSWORD).await, 303);
}

#[rocket::async_test]
async fn one_account_has_its_own_limit_across_rotating_addresses() {
    let t = TestApp::with(|f| f.merge(("trusted_proxies", ["127.0.0.1"]))).await;
    t.register("alice").await;
    t.logout().await;
    t.register("bob").await;
    t.logout().await;
    let limit = stratus::auth::PER_ACCOUNT_LIMIT as usize;
    // Each guess from its own address, so no address comes near its own limit; the account
    // name in any letter case is the same account.
    let client = &t.client;
    let guesses = (0..limit + 20).map(|i| {
        let name = if i % 2 == 0 { "alice" } else { "ALICE" };
        let from = format!("203.0.113.{}", i + 1);
        async move { login_from(client, &from, name, "wrong-password").await }
    });
    let codes = futures::future::join_all(guesses).await;
    assert_eq!(count(&codes, 401), limit, "{codes:?}");
    assert_eq!(count(&codes, 429), 20, "{codes:?}");

    let (status, body) = {
        use rocket::http::{ContentType, Header};
        let csrf = t.csrf_from("/login").await;
        let response = t
            .client
            .post("/login")
            .remote("127.0.0.1:40000".parse().expect("addr"))
            .header(ContentType::Form)
            .header(Header::new("X-Forwarded-For", "192.0.2.200"))
            .body(format!("username=alice&password={}&csrf={}", common::urlencode(PASSWORD), common::urlencode(&csrf)))
            .dispatch()
            .await;
        (response.status().code, response.into_string().await.unwrap_or_default())
    };
    assert_eq!(status, 429, "the right password from a fresh address waits too");
    assert!(body.contains("for this account"), "{body}");
    assert_eq!(login_from(&t.client, "192.0.2.200", "bob", PASSWORD).await, 303, "only that account is limited");
}

#[rocket::async_test]
async fn two_instances_sharing_the_session_server_share_the_limit() {
    // In the fleet profile the counters live in its shared server (Redis, a cluster or
    // memcached, per TEST_FLEET_KV); the single profile is pointed at Redis here, so two
    // instances are two processes' worth of state sharing one server either way.
    let dir = tempfile::tempdir().expect("dir");
    let mut figment = common::profile_figment(dir.path()).await.merge(("trusted_proxies", ["127.0.0.1"]));
    if common::profile() == "single" {
        common::needs!(Redis);
        figment = figment
            .merge(("session_url", common::services::redis_url()))
            .merge(("key_prefix", common::services::unique("t:") + ":"));
    }
    let a = rocket::local::asynchronous::Client::tracked(stratus::app(figment.clone())).await.expect("instance a");
    let b = rocket::local::asynchronous::Client::tracked(stratus::app(figment)).await.expect("instance b");
    let burst = (0..40).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        login_from(instance, "198.51.100.9", "nobody", "wrong-password")
    });
    let codes = futures::future::join_all(burst).await;
    assert_eq!(count(&codes, 401), 10, "one limit for both instances: {codes:?}");
    assert_eq!(count(&codes, 429), 30, "{codes:?}");
}

#[rocket::async_test]
async fn hsts_only_when_cookies_are_secure() {
    let plain = TestApp::new().await;
    let response = plain.client.get("/").dispatch().await;
    assert_eq!(response.headers().get_one("Strict-Transport-Security"), None);

    let https = TestApp::with(|f| f.merge(("cookie_secure", true))).await;
    for path in ["/", "/login", "/healthz", "/no-such-page"] {
        let response = https.client.get(path).dispatch().await;
        let hsts = response.headers().get_one("Strict-Transport-Security").unwrap_or_default().to_owned();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{path}: no max-age in {hsts:?}"));
        assert!(max_age >= 31_536_000, "{path}: at least a year: {hsts}");
        assert!(hsts.contains("includeSubDomains"), "{path}: {hsts}");
    }
}

#[rocket::async_test]
async fn admin_is_a_granted_role_never_a_name() {
    let t = TestApp::new().await;
    let traffic = async |t: &TestApp| t.client.get("/admin/traffic").dispatch().await.status().code;
    assert_eq!(traffic(&t).await, 401, "signed out");
    // Whatever name is registered first, in whatever case, it is not an admin.
    for name in ["admin", "Administrator", "ROOT"] {
        assert_eq!(t.register(name).await, Status::SeeOther, "{name}");
        assert_eq!(traffic(&t).await, 403, "{name} registered, not granted");
        t.logout().await;
    }
    assert_eq!(t.register("ADMIN").await, Status::Conflict, "the taken name cannot be re-registered in another case");

    let accounts = &t.app().accounts;
    let name = |n: &str| stratus::domain::Username::parse(n).expect("name");
    assert!(accounts.set_admin(&name("Admin"), true).await.expect("grant"), "granted, matched ignoring case");
    assert!(!accounts.set_admin(&name("nobody"), true).await.expect("grant"), "an unknown user is refused");
    assert_eq!(t.login("admin", PASSWORD).await, Status::SeeOther);
    assert_eq!(traffic(&t).await, 200, "the granted user");
    accounts.set_admin(&name("admin"), false).await.expect("revoke");
    assert_eq!(traffic(&t).await, 403, "a revoke acts on the live session at once");
    t.logout().await;
    assert_eq!(t.login("root", PASSWORD).await, Status::SeeOther);
    assert_eq!(traffic(&t).await, 403, "granting one user granted nobody else");
}

/// Password hashes and the secret key are readable by their owner only: `data_dir` 0700, the
/// database and its WAL/SHM files 0600, whether the directory is new or an older install
/// left it (and the database) world-readable.
#[rocket::async_test]
async fn data_dir_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
    let root = tempfile::tempdir().expect("dir");
    let fresh = root.path().join("fresh/data");
    let old = root.path().join("old");
    std::fs::create_dir(&old).expect("old dir");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(old.join("stratus.db"), b"").expect("an empty database, as an old install left it");
    std::fs::set_permissions(old.join("stratus.db"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for data in [fresh, old] {
        let figment = common::base_figment(&data);
        let client = rocket::local::asynchronous::Client::tracked(stratus::app(figment)).await.expect("app");
        let t = TestApp { client, dir: tempfile::tempdir().expect("unused") };
        assert_eq!(t.register("alice").await, Status::SeeOther);
        assert_eq!(mode(&data), 0o700, "{}", data.display());
        for file in ["stratus.db", "stratus.db-wal", "stratus.db-shm", "secret_key"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{}", data.join(file).display());
        }
    }
}
