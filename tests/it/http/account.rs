//! `/account`: changing the password (every other session ends) and deleting the account
//! (user, photos, blobs, sessions and cached pages gone), each behind CSRF and the password,
//! under the login throttle. Runs on either profile (`TEST_PROFILE`).

use crate::common;

use common::{PASSWORD, TestApp, fixture, photo_id_from};
use rocket::http::{Cookie, Status};
use rocket::local::asynchronous::Client;
use stratus::auth::SESSION_COOKIE;

const NEW_PASSWORD: &str = "a brand new passphrase";

fn session_cookie(client: &Client) -> Option<String> {
    client.cookies().get(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Whether a request carrying only `token` as its session cookie is signed in.
async fn token_authenticates(t: &TestApp, token: &str) -> bool {
    let response = t.client.get("/account").cookie(Cookie::new(SESSION_COOKIE, token.to_owned())).dispatch().await;
    response.status() == Status::Ok
}

/// Another device signing in as `name`: a login of its own, whose cookie token is returned.
async fn another_device(t: &TestApp, name: &str) -> String {
    let name = stratus::domain::Username::parse(name).expect("name");
    let password = stratus::domain::Password::parse(PASSWORD).expect("password");
    let ip = std::net::IpAddr::from([192, 0, 2, 44]);
    let login = t.app().accounts.login(Some(name), Some(password), ip, None).await.expect("login");
    login.expect("the password is right").token
}

#[rocket::async_test]
async fn the_account_page_needs_a_session_and_every_form_carries_a_token() {
    let t = TestApp::new().await;
    assert_eq!(t.client.get("/account").dispatch().await.status(), Status::Unauthorized);
    t.register("alice").await;
    let (status, html) = t.get_text("/account").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("action=\"/account/password\"") && html.contains("action=\"/account/delete\""));
    assert_eq!(html.matches("<form").count(), html.matches("name=\"csrf\"").count());
    assert!(html.contains("href=\"/u/alice\""), "links to the person's own photos");
}

#[rocket::async_test]
async fn changing_the_password_ends_every_other_session_and_keeps_this_one_under_a_new_id() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let before = session_cookie(&t.client).expect("session");
    let elsewhere = another_device(&t, "alice").await;
    assert!(token_authenticates(&t, &elsewhere).await, "the other device is signed in");

    let csrf = t.csrf_from("/account").await;
    let response =
        t.post_form("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/account"));
    drop(response);

    let after = session_cookie(&t.client).expect("still signed in");
    assert_ne!(after, before, "a new session id");
    let (status, html) = t.get_text("/account").await;
    assert_eq!(status, Status::Ok, "this browser continues");
    assert!(html.contains("Your password is changed."), "and is told so, once");
    assert!(!t.get_text("/account").await.1.contains("Your password is changed."));
    assert!(!token_authenticates(&t, &before).await, "the old id is dead");
    assert!(!token_authenticates(&t, &elsewhere).await, "the other device is signed out");

    t.logout().await;
    assert_eq!(t.login("alice", PASSWORD).await, Status::Unauthorized, "the old password is gone");
    assert_eq!(t.login("alice", NEW_PASSWORD).await, Status::SeeOther, "the new one works");
}

#[rocket::async_test]
async fn a_refused_password_change_changes_nothing_and_says_why_on_the_form() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let token = session_cookie(&t.client).expect("session");
    let csrf = t.csrf_from("/account").await;

    let response = t
        .post_form("/account/password", &[("current", "not my password"), ("new", NEW_PASSWORD), ("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    let html = response.into_string().await.unwrap_or_default();
    assert!(html.contains("id=\"current-error\"") && html.contains("not your current password"), "{html}");
    assert!(html.contains("action=\"/account/password\""), "the form is shown again");

    let response = t.post_form("/account/password", &[("current", PASSWORD), ("new", "short"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert!(response.into_string().await.unwrap_or_default().contains("id=\"new-error\""));

    let response = t.post_form("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD)]).await;
    assert_eq!(response.status(), Status::Forbidden, "no token: refused");
    let response =
        t.post_form("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD), ("csrf", "forged")]).await;
    assert_eq!(response.status(), Status::Forbidden, "a forged token: refused");
    drop(response);

    assert_eq!(session_cookie(&t.client).as_deref(), Some(token.as_str()), "same session");
    assert!(token_authenticates(&t, &token).await);
    t.logout().await;
    assert_eq!(t.login("alice", NEW_PASSWORD).await, Status::Unauthorized);
    assert_eq!(t.login("alice", PASSWORD).await, Status::SeeOther, "the password is unchanged");

    // Signed out, the forms are refused before anything is checked.
    t.logout().await;
    let csrf = t.csrf_from("/login").await;
    let response =
        t.post_form("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let response = t.post_form("/account/delete", &[("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn wrong_passwords_on_the_account_page_meet_the_login_throttle() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let csrf = t.csrf_from("/account").await;
    for i in 0..10 {
        let response = t.post_form("/account/delete", &[("password", "wrong-password"), ("csrf", &csrf)]).await;
        assert_eq!(response.status(), Status::Forbidden, "attempt {i}");
    }
    let response = t.post_form("/account/delete", &[("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::TooManyRequests, "even the right password waits");
    let response =
        t.post_form("/account/password", &[("current", PASSWORD), ("new", NEW_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::TooManyRequests, "the same counter for every password check");
    drop(response);
    assert_eq!(t.get_text("/account").await.0, Status::Ok, "the account is still there");
}

#[rocket::async_test]
async fn deleting_the_account_removes_the_user_photos_blobs_sessions_and_cached_pages() {
    let t = TestApp::new().await;
    t.register("bob").await;
    let bobs = photo_id_from(&t.upload("b.jpg", &fixture("valid", "progressive.jpg"), "bob stays").await);
    t.logout().await;
    t.register("alice").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let mut hers = Vec::new();
    for i in 0..3 {
        hers.push(photo_id_from(&t.upload("a.jpg", &jpeg, &format!("alice {i}")).await));
    }
    let elsewhere = another_device(&t, "alice").await;
    let here = session_cookie(&t.client).expect("session");
    // The front page is cached with her photos on it.
    assert!(t.get_text("/").await.1.contains(&hers[0]));
    assert_eq!(t.client.get("/").dispatch().await.headers().get_one("X-Cache"), Some("HIT"));
    let blobs_before = t.stored_files().await;
    assert_eq!(blobs_before.len(), 12, "three blobs per photo (original, two thumbnails): {blobs_before:?}");
    // Her blobs are in this instance's media cache (the thumbnails) or streamed (the originals).
    let her_blobs: Vec<&String> = blobs_before.iter().filter(|key| hers.iter().any(|id| key.contains(id))).collect();
    assert_eq!(her_blobs.len(), 9);
    for key in &her_blobs {
        assert_eq!(t.client.get(format!("/media/{key}")).dispatch().await.status(), Status::Ok, "{key}");
    }

    let csrf = t.csrf_from("/account").await;
    let response = t.post_form("/account/delete", &[("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/"));
    drop(response);

    let front = t.client.get("/").dispatch().await;
    assert_ne!(front.headers().get_one("X-Cache"), Some("HIT"), "the cached page was invalidated");
    let html = front.into_string().await.unwrap_or_default();
    assert!(html.contains("Your account and all your photos are deleted."), "said on the next page");
    assert!(hers.iter().all(|id| !html.contains(id.as_str())) && html.contains(&bobs));
    assert_eq!(session_cookie(&t.client), None, "the cookie is removed");
    assert!(!token_authenticates(&t, &here).await && !token_authenticates(&t, &elsewhere).await, "sessions gone");
    let repo = &t.app().backends.repo;
    let name = stratus::domain::Username::parse("alice").expect("name");
    assert!(repo.user_by_name(&name).await.expect("db").is_none(), "the user row is gone");
    assert_eq!(t.photo_count().await, 1, "only bob's photo is left");
    let blobs_after = t.stored_files().await;
    assert_eq!(blobs_after.len(), 3, "only bob's blobs are left: {blobs_after:?}");
    assert!(blobs_after.iter().all(|key| key.contains(&bobs)), "{blobs_after:?}");
    for key in &her_blobs {
        let status = t.client.get(format!("/media/{key}")).dispatch().await.status();
        assert_eq!(status, Status::NotFound, "{key} is gone from the store and the media cache");
    }
    for id in &hers {
        assert_eq!(t.get_text(&format!("/photos/{id}")).await.0, Status::NotFound);
    }
    assert_eq!(t.get_text("/u/alice").await.0, Status::NotFound, "her page is gone");

    // The name is free again, and the old password opens nothing.
    assert_eq!(t.login("alice", PASSWORD).await, Status::Unauthorized);
    assert_eq!(t.register("alice").await, Status::SeeOther);
}

#[rocket::async_test]
async fn a_wrong_password_deletes_nothing() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "kept").await);
    let csrf = t.csrf_from("/account").await;
    let response = t.post_form("/account/delete", &[("password", "not the password"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Forbidden);
    assert!(response.into_string().await.unwrap_or_default().contains("id=\"password-error\""));
    let response = t.post_form("/account/delete", &[("password", PASSWORD), ("csrf", "forged")]).await;
    assert_eq!(response.status(), Status::Forbidden);
    drop(response);
    assert_eq!(t.get_text(&format!("/photos/{id}")).await.0, Status::Ok);
    assert_eq!(t.stored_files().await.len(), 3);
    assert_eq!(t.get_text("/account").await.0, Status::Ok);
}
