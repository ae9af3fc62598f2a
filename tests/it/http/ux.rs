//! Forms that forgive, one-time messages, delete that asks first, the teaching panel, page
//! metadata and compression, through HTTP.

use crate::common;

use std::io::Read;

use common::{PASSWORD, Part, TestApp, csrf_in, fixture, multipart, photo_id_from};
use rocket::http::uri::Host;
use rocket::http::{Accept, Cookie, Header, Status};
use rocket::local::asynchronous::LocalResponse;

const TYPED_PASSWORD: &str = "a-Secret-never-echoed-91";

async fn body(response: LocalResponse<'_>) -> String {
    response.into_string().await.unwrap_or_default()
}

fn title(html: &str) -> &str {
    html.split("<title>").nth(1).and_then(|s| s.split("</title>").next()).unwrap_or_default()
}

/// A refused form comes back as itself: same action, normal header and footer, no HTTP words.
fn assert_form_again(html: &str, action: &str, page_title: &str) {
    assert!(html.contains(&format!("action=\"{action}\"")), "the form again:\n{html}");
    assert!(html.contains("<nav aria-label=\"Account\">"), "the normal header");
    assert!(html.contains("class=\"teaching\""), "the normal footer");
    assert_eq!(title(html), format!("Error: {page_title} · Stratus"));
    assert!(!html.contains("Unprocessable") && !html.contains("Conflict") && !html.contains("Back to the photos"));
    assert!(!html.contains(TYPED_PASSWORD), "a password is never sent back");
}

#[rocket::async_test]
async fn a_refused_registration_is_the_form_again_with_the_name_kept() {
    let t = TestApp::new().await;
    assert_eq!(t.register("alice").await, Status::SeeOther);
    t.logout().await;

    let csrf = t.csrf_from("/register").await;
    let response =
        t.post_form("/register", &[("username", "alice"), ("password", TYPED_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Conflict, "the status is kept");
    let html = body(response).await;
    assert_form_again(&html, "/register", "Register");
    assert!(html.contains("id=\"username-error\" role=\"alert\">That username is already taken"), "{html}");
    assert!(html.contains("value=\"alice\""), "the typed name is kept");
    assert!(html.contains("aria-invalid=\"true\" aria-describedby=\"username-error\""));

    // The re-shown form works: its token is good.
    let csrf = csrf_in(&html).expect("token");
    let response = t.post_form("/register", &[("username", "bob"), ("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    t.logout().await;

    let csrf = t.csrf_from("/register").await;
    let typed = "<b>no spaces</b>";
    let response =
        t.post_form("/register", &[("username", typed), ("password", TYPED_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = body(response).await;
    assert_form_again(&html, "/register", "Register");
    assert!(html.contains("value=\"&lt;b&gt;no spaces&lt;&#x2f;b&gt;\""), "kept, escaped");
    assert!(!html.contains(typed));

    let response = t.post_form("/register", &[("username", "carol"), ("password", "short"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = body(response).await;
    assert!(html.contains("id=\"password-error\""), "the message is by the password field");
    assert!(html.contains("value=\"carol\"") && !html.contains("value=\"short\""));
}

#[rocket::async_test]
async fn a_refused_login_is_the_form_again_and_never_echoes_the_password() {
    let t = TestApp::new().await;
    t.register("alice").await;
    t.logout().await;
    let csrf = t.csrf_from("/login").await;
    let response = t.post_form("/login", &[("username", "alice"), ("password", TYPED_PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let html = body(response).await;
    assert_form_again(&html, "/login", "Log in");
    assert!(html.contains("Wrong username or password.") && html.contains("value=\"alice\""));

    // A form without its token (an expired page) is shown again with a fresh one that works.
    let response = t.post_form("/login", &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), Status::Forbidden);
    let html = body(response).await;
    assert_form_again(&html, "/login", "Log in");
    let csrf = csrf_in(&html).expect("a fresh token");
    let response = t.post_form("/login", &[("username", "alice"), ("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn a_refused_upload_without_script_is_the_upload_form_again() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let (status, html) = t.get_text("/photos").await;
    assert_eq!(status, Status::Ok, "the upload form has a page of its own");
    assert!(html.contains("action=\"/photos\"") && html.contains("<h1 id=\"upload-title\">"));

    let response = t.upload("broken.jpg", &fixture("invalid", "truncated.jpg"), "Harbour at dusk").await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = body(response).await;
    assert!(html.contains("action=\"/photos\"") && html.contains("<nav aria-label=\"Account\">"));
    assert_eq!(title(&html), "Error: Share photos · Stratus");
    assert!(html.contains("id=\"photo-error\" role=\"alert\">"), "{html}");
    assert!(html.contains("value=\"Harbour at dusk\""), "the caption is kept");
    assert_eq!(t.photo_count().await, 0);

    // The text alternative is kept too, escaped as it is shown.
    let csrf = t.csrf_from("/photos").await;
    let (content_type, form) = multipart(&[
        Part::Text("csrf", &csrf),
        Part::Text("caption", "Harbour"),
        Part::Text("alt", "Boats <moored> at dusk"),
        Part::File("photo", "broken.jpg", "application/octet-stream", &fixture("invalid", "truncated.jpg")),
    ]);
    let response = t.client.post("/photos").header(content_type).body(form).dispatch().await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = body(response).await;
    assert!(html.contains("value=\"Boats &lt;moored&gt; at dusk\""), "the text alternative is kept");

    let response = t.upload("a.jpg", &fixture("valid", "progressive.jpg"), &"x".repeat(201)).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert!(body(response).await.contains("id=\"caption-error\""));

    // Scripts still get JSON.
    let csrf = t.csrf_from("/photos").await;
    let (content_type, form) = multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::File("photo", "x.jpg", "image/jpeg", &fixture("invalid", "truncated.jpg")),
    ]);
    let response = t.client.post("/photos").header(content_type).header(Accept::JSON).body(form).dispatch().await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    assert!(body(response).await.starts_with("{\"error\""));
}

#[rocket::async_test]
async fn error_pages_keep_the_header_and_speak_plainly() {
    let t = TestApp::new().await;
    let (status, html) = t.get_text("/no/such/page").await;
    assert_eq!(status, Status::NotFound);
    assert_eq!(title(&html), "Page not found · Stratus");
    assert!(html.contains("href=\"/login\"") && html.contains("class=\"teaching\""));
    t.register("alice").await;
    let html = t.get_text("/no/such/page").await.1;
    assert!(html.contains("Signed in as <strong>alice</strong>"), "the header knows who is signed in");
    assert!(csrf_in(&html).is_some(), "with a working Log out form");
}

#[rocket::async_test]
async fn every_change_says_so_once() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let notice = |html: &str| {
        html.split("<p class=\"notice\" role=\"status\">").nth(1).and_then(|s| s.split('<').next()).map(str::to_owned)
    };
    assert_eq!(
        notice(&t.get_text("/").await.1).as_deref(),
        Some("Welcome! Your account is ready and you are logged in.")
    );
    assert_eq!(notice(&t.get_text("/").await.1), None, "once");

    let response = t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "").await;
    let id = photo_id_from(&response);
    let page = format!("/photos/{id}");
    assert_eq!(notice(&t.get_text(&page).await.1).as_deref(), Some("Your photo is uploaded."));
    assert_eq!(notice(&t.get_text(&page).await.1), None);

    // Delete asks first: a page of its own without script, naming the photo.
    let (status, html) = t.get_text(&format!("/photos/{id}/delete")).await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains(&format!("action=\"/photos/{id}/delete\"")) && html.contains("Delete this photo?"));
    assert_eq!(t.photo_count().await, 1, "asking deletes nothing");
    let csrf = csrf_in(&html).expect("token");
    let response = t.post_form(&format!("/photos/{id}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(notice(&t.get_text("/").await.1).as_deref(), Some("The photo was deleted."));
    assert_eq!(notice(&t.get_text("/").await.1), None);

    t.logout().await;
    assert_eq!(notice(&t.get_text("/").await.1).as_deref(), Some("You are logged out."));
    assert_eq!(t.login("alice", PASSWORD).await, Status::SeeOther);
    assert_eq!(notice(&t.get_text("/").await.1).as_deref(), Some("You are logged in."));

    // A planted cookie can only name one of our sentences, never put words on the page.
    let planted = t.client.get("/").cookie(Cookie::new("stratus_notice", "<script>alert(1)</script>"));
    let html = body(planted.dispatch().await).await;
    assert_eq!(notice(&html), None);
    assert!(!html.contains("alert(1)"));
}

#[rocket::async_test]
async fn only_the_owner_is_asked_to_delete() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "").await);
    let html = t.get_text(&format!("/photos/{id}")).await.1;
    assert!(html.contains(&format!("href=\"/photos/{id}/delete\"")) && html.contains("<dialog id=\"confirm-delete\""));
    t.logout().await;
    assert_eq!(t.get_text(&format!("/photos/{id}/delete")).await.0, Status::Unauthorized);
    t.register("bob").await;
    assert_eq!(t.get_text(&format!("/photos/{id}/delete")).await.0, Status::Forbidden);
    assert_eq!(t.get_text("/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV/delete").await.0, Status::NotFound);
    assert!(!t.get_text(&format!("/photos/{id}")).await.1.contains("confirm-delete"));
}

#[rocket::async_test]
async fn the_teaching_panel_is_closed_unless_a_level_or_setting_opens_it() {
    let t = TestApp::new().await;
    let html = t.get_text("/").await.1;
    assert!(html.contains("<details class=\"teaching\">"), "closed by default");
    assert!(html.contains("Server-Timing"), "the front page sends Server-Timing and says so");
    t.register("alice").await;
    let id = photo_id_from(&t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "").await);
    let response = t.client.get(format!("/photos/{id}")).dispatch().await;
    assert!(response.headers().get_one("Server-Timing").is_none());
    let html = body(response).await;
    assert!(!html.contains("Server-Timing") && !html.contains("X-Cache"), "claims only what it carries");

    let opened = TestApp::with(|f| f.merge(("teaching_panel", true))).await;
    assert!(opened.get_text("/").await.1.contains("<details class=\"teaching\" open>"));
    let level = TestApp::with(|f| f.merge(("stratus_level", "0"))).await;
    assert!(level.get_text("/").await.1.contains("<details class=\"teaching\" open>"));
}

#[rocket::async_test]
async fn pages_describe_themselves_and_photo_pages_share_their_photo() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(photo_id_from(&t.upload("a.jpg", &jpeg, &format!("Peak {i}")).await));
        }
        ids
    };
    let html = t.get_text("/").await.1;
    assert!(html.contains("<meta name=\"description\" content=\"Stratus is a photo-sharing site"));
    // The stylesheet is a request of its own, made once: hashed and immutable, so every later
    // page is its HTML alone.
    assert!(!html.contains("<style"), "no inline CSS");
    let css =
        html.split("<link rel=\"stylesheet\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("CSS link");
    assert!(css.starts_with("/static/app.") && css.ends_with(".css"), "{css}");
    let response = t.client.get(css.to_owned()).dispatch().await;
    assert_eq!(response.headers().get_one("Cache-Control"), Some("public, max-age=31536000, immutable"));
    let csp = t.client.get("/").dispatch().await.headers().get_one("Content-Security-Policy").map(str::to_owned);
    assert!(csp.is_some_and(|csp| csp.contains("style-src 'self';")), "no inline style allowed");
    let images: Vec<&str> = html.split("<img ").skip(1).map(|s| s.split('>').next().unwrap_or_default()).collect();
    assert_eq!(images.len(), 6);
    assert!(images[0].contains("loading=\"eager\" fetchpriority=\"high\""), "{}", images[0]);
    assert!(images[1..4].iter().all(|i| i.contains("loading=\"eager\"") && !i.contains("fetchpriority")));
    assert!(images[4..].iter().all(|i| i.contains("loading=\"lazy\"")));

    let mut request = t.client.get(format!("/photos/{}", ids[0]));
    request.inner_mut().set_host(Host::parse("photos.example").expect("host"));
    let response = request.dispatch().await;
    let html = body(response).await.replace("&#x2f;", "/");
    assert!(html.contains("<meta name=\"description\" content=\"Peak 0 by alice, shared on Stratus.\">"));
    assert!(html.contains("<meta property=\"og:title\" content=\"Peak 0\">"));
    assert!(html.contains(&format!("<meta property=\"og:url\" content=\"http://photos.example/photos/{}\">", ids[0])));
    let image = html.split("<meta property=\"og:image\" content=\"").nth(1).and_then(|s| s.split('"').next());
    assert!(image.is_some_and(|u| u.starts_with("http://") || u.starts_with("https://")), "absolute: {image:?}");
}

fn decode(encoding: Option<&str>, bytes: &[u8]) -> String {
    let mut out = String::new();
    let decoded = match encoding {
        Some("br") => brotli::Decompressor::new(bytes, 4096).read_to_string(&mut out),
        Some("gzip") => flate2::read::GzDecoder::new(bytes).read_to_string(&mut out),
        None => return String::from_utf8_lossy(bytes).into_owned(),
        Some(other) => panic!("unexpected encoding {other}"),
    };
    decoded.expect("decodes");
    out
}

async fn get_encoded(t: &TestApp, uri: &str, accept: Option<&str>) -> (Option<String>, Option<String>, String) {
    let mut request = t.client.get(uri.to_owned());
    if let Some(accept) = accept {
        request = request.header(Header::new("Accept-Encoding", accept.to_owned()));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::Ok, "{uri}");
    let encoding = response.headers().get_one("Content-Encoding").map(str::to_owned);
    let vary = response.headers().get_one("Vary").map(str::to_owned);
    let bytes = response.into_bytes().await.unwrap_or_default();
    (encoding.clone(), vary, decode(encoding.as_deref(), &bytes))
}

#[rocket::async_test]
async fn html_css_and_js_are_compressed_when_the_client_accepts_it() {
    let t = TestApp::new().await;
    t.get_text("/").await;
    // From here on the anonymous front page is the memoised one: identical in every encoding.
    let (encoding, vary, plain) = get_encoded(&t, "/", None).await;
    assert_eq!((encoding, vary.as_deref()), (None, Some("Accept-Encoding")));
    for (accept, expected) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
    ] {
        let (encoding, vary, html) = get_encoded(&t, "/", Some(accept)).await;
        assert_eq!(encoding.as_deref(), expected, "{accept}");
        assert_eq!(vary.as_deref(), Some("Accept-Encoding"));
        assert_eq!(html, plain, "{accept}: the same page");
    }

    let html = t.get_text("/").await.1;
    let script = html.split("<script src=\"").nth(1).and_then(|s| s.split('"').next()).expect("app.js").to_owned();
    let (_, _, js) = get_encoded(&t, &script, None).await;
    let (encoding, vary, decoded) = get_encoded(&t, &script, Some("br, gzip")).await;
    assert_eq!((encoding.as_deref(), vary.as_deref()), (Some("br"), Some("Accept-Encoding")));
    assert_eq!(decoded, js);
    let (encoding, _, decoded) = get_encoded(&t, &script, Some("gzip")).await;
    assert_eq!((encoding.as_deref(), decoded), (Some("gzip"), js));

    // Signed-in pages (not memoised) are compressed too.
    t.register("alice").await;
    let (encoding, _, html) = get_encoded(&t, "/", Some("br")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert!(html.contains("Signed in as <strong>alice</strong>"));
}
