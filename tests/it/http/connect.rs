//! Pages that connect: a person's page, the way back from older pages, a photo's neighbours
//! and its original, and the owner's words about a photo (caption, text alternative). Runs on
//! either profile (`TEST_PROFILE`).

use crate::common;

use common::{TestApp, fixture, photo_id_from};
use rocket::http::Status;

async fn upload_n(t: &TestApp, n: usize, label: &str) -> Vec<String> {
    let jpeg = fixture("valid", "progressive.jpg");
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(photo_id_from(&t.upload("p.jpg", &jpeg, &format!("{label} {i}")).await));
    }
    ids
}

fn photo_links(html: &str) -> Vec<String> {
    html.match_indices("href=\"/photos/").map(|(i, m)| html[i + m.len()..].chars().take(26).collect()).collect()
}

/// The `href` of the `<a>` carrying `rel="{rel}"`, if any.
fn rel_link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("\" rel=\"{rel}\""))?;
    let start = html[..at].rfind("<a href=\"")? + "<a href=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&#x2f;", "/").replace("&amp;", "&"))
}

#[rocket::async_test]
async fn a_persons_page_lists_only_their_photos_with_keyset_pages_both_ways() {
    let t = TestApp::with(|f| f.merge(("front_page_size", 2))).await;
    t.register("alice").await;
    let hers: Vec<String> = upload_n(&t, 5, "alice").await.into_iter().rev().collect();
    t.logout().await;
    t.register("bob").await;
    let his = upload_n(&t, 2, "bob").await;

    let (status, html) = t.get_text("/u/alice").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("Photos by alice"));
    assert_eq!(photo_links(&html), hers[0..2], "newest first, hers only");
    assert_eq!(rel_link(&html, "prev"), None, "the first page has nothing newer");
    let older = rel_link(&html, "next").expect("older link");
    assert_eq!(older, format!("/u/alice?before={}", hers[1]));

    let html = t.get_text(&older).await.1;
    assert_eq!(photo_links(&html), hers[2..4]);
    assert!(html.contains("Older photos by alice"), "says where you are");
    assert_eq!(rel_link(&html, "prev").as_deref(), Some("/u/alice"), "back to her first page");
    let last = rel_link(&html, "next").expect("older again");
    let html = t.get_text(&last).await.1;
    assert_eq!(photo_links(&html), hers[4..5]);
    assert_eq!(rel_link(&html, "next"), None, "no older link on the last page");
    assert_eq!(rel_link(&html, "prev"), Some(format!("/u/alice?before={}", hers[1])), "back one page");

    assert_eq!(t.get_text("/u/ALICE").await.0, Status::Ok, "names match ignoring case");
    assert_eq!(photo_links(&t.get_text("/u/bob").await.1), his.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(t.get_text("/u/nobody").await.0, Status::NotFound);
    assert_eq!(t.get_text("/u/not%20a%20name").await.0, Status::NotFound);
    // As on the front page, a `before` that is no photo id is ignored: the first page.
    let (status, html) = t.get_text("/u/alice?before=garbage").await;
    assert_eq!((status, photo_links(&html)), (Status::Ok, hers[0..2].to_vec()));
}

#[rocket::async_test]
async fn owner_names_link_to_their_page() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = upload_n(&t, 1, "linked").await.remove(0);
    let front = t.get_text("/").await.1;
    assert!(front.contains("<a href=\"/u/alice\">alice</a>"), "{front}");
    let photo = t.get_text(&format!("/photos/{id}")).await.1;
    assert!(photo.contains("<a href=\"/u/alice\">alice</a>"));
}

#[rocket::async_test]
async fn older_front_pages_link_back_to_newer_ones() {
    let t = TestApp::with(|f| f.merge(("front_page_size", 2))).await;
    t.register("alice").await;
    let newest_first: Vec<String> = upload_n(&t, 5, "p").await.into_iter().rev().collect();

    let first = t.get_text("/").await.1;
    assert!(first.contains("Latest photos") && rel_link(&first, "prev").is_none());
    let second_url = rel_link(&first, "next").expect("older");
    let second = t.get_text(&second_url).await.1;
    assert!(second.contains("<title>Older photos"), "the title says where you are");
    assert!(second.contains("Uploaded from <time class=\"ago\" datetime="), "and the dates it covers");
    assert!(second.contains(" UTC\">now</time> back to"), "how long ago in words, the exact time as the tooltip");
    assert_eq!(rel_link(&second, "prev").as_deref(), Some("/"));
    assert!(second.contains("<link rel=\"prev\" href=\"/\">"), "for browsers and crawlers too");
    let third = t.get_text(&rel_link(&second, "next").expect("older")).await.1;
    assert_eq!(photo_links(&third), newest_first[4..5]);
    assert_eq!(rel_link(&third, "prev"), Some(format!("/?before={}", newest_first[1])));
    // The way back is the photos just newer, whatever was uploaded since.
    let page = t.get_text(&format!("/?before={}", newest_first[2])).await.1;
    assert_eq!(photo_links(&page), newest_first[3..5]);
    assert_eq!(rel_link(&page, "prev"), Some(format!("/?before={}", newest_first[0])));
    let back = t.get_text(&format!("/?before={}", newest_first[0])).await.1;
    assert_eq!(photo_links(&back), newest_first[1..3]);
    // Past the oldest photo: nothing listed, and the way back is the start.
    let past = t.get_text(&format!("/?before={}", newest_first[4])).await.1;
    assert!(photo_links(&past).is_empty());
    assert_eq!(rel_link(&past, "prev").as_deref(), Some("/"));
}

#[rocket::async_test]
async fn a_photo_page_links_its_neighbours_and_its_original() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let ids = upload_n(&t, 3, "n").await;
    let middle = t.get_text(&format!("/photos/{}", ids[1])).await.1;
    assert_eq!(rel_link(&middle, "prev"), Some(format!("/photos/{}", ids[2])), "newer photo");
    assert_eq!(rel_link(&middle, "next"), Some(format!("/photos/{}", ids[0])), "older photo");
    assert!(middle.contains(&format!("<link rel=\"next\" href=\"/photos/{}\">", ids[0])));
    let newest = t.get_text(&format!("/photos/{}", ids[2])).await.1;
    assert_eq!(rel_link(&newest, "prev"), None);
    let oldest = t.get_text(&format!("/photos/{}", ids[0])).await.1;
    assert_eq!(rel_link(&oldest, "next"), None);

    // The full-size original: both links are the stored original (not the thumbnail), served
    // whole. Presigned S3 URLs differ by the second they were signed in, so the page's own
    // link is the one fetched.
    let href = |label: &str| {
        let end = newest.find(label).expect(label);
        let start = newest[..end].rfind("<a href=\"").expect("link") + "<a href=\"".len();
        let attr = &newest[start..end];
        attr[..attr.find('"').expect("quote")].replace("&#x2f;", "/").replace("&amp;", "&")
    };
    let (full, download) = (href(">View full size</a>"), href(" download>Download original</a>"));
    assert!(full.contains(&format!("photos/{}", ids[2])), "the original's key: {full}");
    assert_eq!(full.split('?').next(), download.split('?').next(), "the same blob");
    let json: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=1").await.1).expect("json");
    let (status, content_type, body) = t.fetch(&full).await;
    assert_eq!((status, content_type.as_deref()), (200, Some("image/jpeg")));
    assert_eq!(body.len() as u64, json["photos"][0]["bytes"].as_u64().expect("bytes"));
}

#[rocket::async_test]
async fn the_owner_edits_the_caption_and_text_alternative_and_nobody_else_can() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let id = upload_n(&t, 1, "before").await.remove(0);
    t.get_text("/").await;
    let page = format!("/photos/{id}");
    let csrf = t.csrf_from(&page).await;
    let edit = format!("/photos/{id}/caption");
    assert!(t.get_text(&page).await.1.contains(&format!("action=\"{edit}\"")), "the owner sees the form");
    let response = t.post_form(&edit, &[("caption", "  after  "), ("alt", "A red boat"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some(page.as_str()));
    drop(response);
    let html = t.get_text(&page).await.1;
    assert!(html.contains("<h1>after</h1>") && html.contains("alt=\"A red boat\""), "{html}");
    assert!(html.contains("The caption is saved."), "said once on the next page");
    let front = t.client.get("/").dispatch().await;
    assert_ne!(front.headers().get_one("X-Cache"), Some("HIT"), "the cached front page was dropped");
    assert!(front.into_string().await.unwrap_or_default().contains("alt=\"A red boat\""));

    let long = "x".repeat(201);
    let response = t.post_form(&edit, &[("caption", &long), ("alt", ""), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let response = t.post_form(&edit, &[("caption", "ok"), ("alt", &"y".repeat(501)), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let response = t.post_form(&edit, &[("caption", "forged"), ("alt", ""), ("csrf", "nope")]).await;
    assert_eq!(response.status(), Status::Forbidden);
    let response =
        t.post_form("/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV/caption", &[("caption", "x"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::NotFound);
    drop(response);

    t.logout().await;
    t.register("mallory").await;
    let html = t.get_text(&page).await.1;
    assert!(!html.contains(&format!("action=\"/photos/{id}/caption\"")), "no edit form for others");
    let csrf = t.csrf_from(&page).await;
    let response = t.post_form(&edit, &[("caption", "mine now"), ("alt", ""), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Forbidden);
    drop(response);
    t.logout().await;
    let response = t.post_form(&edit, &[("caption", "anonymous"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Unauthorized);
    drop(response);
    assert!(t.get_text(&page).await.1.contains("<h1>after</h1>"), "unchanged by the refusals");
}

#[rocket::async_test]
async fn an_upload_keeps_its_text_alternative() {
    let t = TestApp::new().await;
    t.register("alice").await;
    let csrf = t.csrf_from("/").await;
    let jpeg = fixture("valid", "progressive.jpg");
    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::Text("caption", "Harbour"),
        common::Part::Text("alt", "Fishing boats moored at dusk"),
        common::Part::File("photo", "p.jpg", "image/jpeg", &jpeg),
    ]);
    let response = t.client.post("/photos").header(content_type).body(body).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let id = photo_id_from(&response);
    drop(response);
    let html = t.get_text(&format!("/photos/{id}")).await.1;
    assert!(html.contains("alt=\"Fishing boats moored at dusk\""));
    let json = t.get_text("/api/photos").await.1;
    assert!(json.contains("\"alt\":\"Fishing boats moored at dusk\""), "{json}");

    let (content_type, body) = common::multipart(&[
        common::Part::Text("csrf", &csrf),
        common::Part::Text("alt", &"z".repeat(501)),
        common::Part::File("photo", "p.jpg", "image/jpeg", &jpeg),
    ]);
    let response = t.client.post("/photos").header(content_type).body(body).dispatch().await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    drop(response);
    assert_eq!(t.photo_count().await, 1, "nothing stored for the refused one");
}
