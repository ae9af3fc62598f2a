//! Accounts, sessions and CSRF through HTTP.

mod common;

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
    let t = TestApp::with(|f| f.merge(("session_absolute_secs", 1))).await;
    t.register("alice").await;
    let token = session_cookie(&t).expect("session");
    assert!(token_authenticates(&t, &token).await);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(!token_authenticates(&t, &token).await);
}

#[rocket::async_test]
async fn idle_sessions_expire() {
    let t = TestApp::with(|f| f.merge(("session_idle_secs", 1))).await;
    t.register("alice").await;
    let token = session_cookie(&t).expect("session");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
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
