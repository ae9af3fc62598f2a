//! `/architecture`: the deployment drawn from the effective settings, the roster and this
//! instance's metrics, on the `TEST_PROFILE` profile. Hosts and names only, never a secret.

use crate::common;

use common::{TestApp, services};
use rocket::http::{Header, Status};

fn is_fleet() -> bool {
    common::profile() == "fleet"
}

/// The text of the figures table's row `name`.
fn figure<'a>(html: &'a str, name: &str) -> &'a str {
    let marker = format!("<th scope=\"row\">{name}</th><td>");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no figure {name}")) + marker.len();
    let end = html[start..].find("</td>").expect("cell end") + start;
    &html[start..end]
}

#[tokio::test]
async fn the_page_draws_this_instance_and_its_backends() {
    let t = TestApp::with(|f| f.merge(("instance_id", "teacher-1"))).await;
    let (status, front) = t.get_text("/").await;
    assert_eq!(status, Status::Ok);
    assert!(front.contains("<a href=\"/architecture\">"), "linked from the footer panel");

    let response = t.client.get("/architecture").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(rocket::http::ContentType::HTML));
    let csp = response.headers().get_one("Content-Security-Policy").expect("csp").to_owned();
    let html = response.into_string().await.expect("body");
    assert!(csp.contains("script-src 'self'"));
    assert!(!html.contains("<script>") && !html.contains(" style="), "no inline script or style");

    // An accessible SVG, the drawing instance highlighted and named in the table.
    assert!(html.contains("role=\"img\" aria-labelledby=\"arch-title arch-desc\""));
    assert!(html.contains("<title id=\"arch-title\">") && html.contains("<desc id=\"arch-desc\">"));
    assert_eq!(html.matches("<g class=\"box this\">").count(), 1, "exactly one instance is this one");
    assert!(html.contains("teacher-1 (this page)"));
    assert!(html.contains("<tr class=\"this\">\n      <td>teacher-1 <strong>(drew this page)</strong></td>"));
    assert!(!html.contains("Load balancer"), "no proxy in front of a direct request");

    let expected: Vec<String> = if is_fleet() {
        let tls = std::env::var("TEST_FLEET_TLS").is_ok_and(|v| v == "1");
        let over_tls = |kind: &str| if tls { format!("{kind} over TLS") } else { kind.to_owned() };
        let kv = match std::env::var("TEST_FLEET_KV").as_deref() {
            Ok("memcached") => vec![over_tls("memcached")],
            Ok("redis-cluster") => vec![over_tls("Redis Cluster")],
            Ok("mixed") => vec![over_tls("Redis Cluster"), over_tls("memcached")],
            _ => vec![over_tls("Redis")],
        };
        let port = if tls { 3307 } else { 3306 };
        let database = format!("127.0.0.1:{port}, database stratus_t_");
        [vec!["MySQL (MariaDB)".to_owned(), "S3 bucket".to_owned(), database], kv].concat()
    } else {
        ["SQLite file", "Local directory", "moka, in this process", "in this process"].map(str::to_owned).to_vec()
    };
    for text in &expected {
        assert!(html.contains(text), "the page names {text:?}");
    }
    assert!(html.contains("Access log</td><td>off</td>"));
}

#[tokio::test]
async fn the_figures_are_this_instances_own() {
    let t = TestApp::new().await;
    let (_, html) = t.get_text("/architecture").await;
    assert_eq!(figure(&html, "Front page cache hits"), "— (no front page listed)");
    assert_eq!(figure(&html, "Uploads"), "0.0/min");

    // Front pages: the first fills the cache, the next four hit it.
    for _ in 0..5 {
        assert_eq!(t.get_text("/").await.0, Status::Ok);
    }
    assert_eq!(t.register("figures").await, Status::SeeOther);
    let photo = common::fixture("valid", "one-pixel.png");
    assert_eq!(t.upload("p.png", &photo, "counted").await.status(), Status::SeeOther);
    let (_, html) = t.get_text("/architecture").await;
    let hits = figure(&html, "Front page cache hits");
    let percent: u32 = hits.trim_end_matches('%').parse().unwrap_or_else(|_| panic!("a ratio, not {hits:?}"));
    assert!((50..=90).contains(&percent), "4 of 5 anonymous lists hit, then pages signed in: {percent}%");
    let uploads: f64 = figure(&html, "Uploads").trim_end_matches("/min").parse().expect("uploads/min");
    assert!(uploads > 0.0, "the accepted upload counts");
    let queries: f64 = figure(&html, "Database queries").trim_end_matches("/s").parse().expect("queries/s");
    assert!(queries > 0.0, "registering and uploading queried the database");
    assert!(figure(&html, "p90 latency").starts_with("≤ "), "requests were timed");
}

#[tokio::test]
async fn secrets_never_appear() {
    let secret_key = "an-app-secret-key-that-must-stay-hidden-42";
    let cdn_password = "cdn-password-xyzzy";
    let mut database = None;
    if is_fleet() {
        // A real MySQL user with a password, so the URL the app connects with carries one.
        use mysql_async::prelude::Queryable;
        let url = services::fresh_mysql_database().await;
        let (server, name) = url.rsplit_once('/').expect("db url");
        let user = services::unique("u").chars().take(16).collect::<String>();
        let pool = mysql_async::Pool::new(server);
        let mut conn = pool.get_conn().await.expect("mysql");
        for host in ["%", "localhost", "127.0.0.1"] {
            conn.query_drop(format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'db-pass-plugh'"))
                .await
                .expect("user");
            conn.query_drop(format!("GRANT ALL ON {name}.* TO '{user}'@'{host}'")).await.expect("grant");
        }
        drop(conn);
        pool.disconnect().await.ok();
        database = Some(format!("mysql://{user}:db-pass-plugh@127.0.0.1:3306/{name}"));
    }
    let t = TestApp::with(|f| {
        let f = f
            .merge(("secret_key", secret_key))
            .merge(("media_base_url", format!("https://cdnuser:{cdn_password}@cdn.example.com/media")));
        match &database {
            Some(url) => f.merge(("database_url", url.clone())),
            None => f,
        }
    })
    .await;
    let (status, html) = t.get_text("/architecture").await;
    assert_eq!(status, Status::Ok);
    assert!(html.contains("cdn.example.com"), "the CDN's host is shown");
    let mut secrets = vec![secret_key, cdn_password, "cdnuser", "db-pass-plugh"];
    let aws = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    if !aws.is_empty() {
        secrets.push(&aws);
    }
    for secret in secrets {
        assert!(!html.contains(secret), "{secret:?} leaked into the page");
    }
    if is_fleet() {
        assert!(html.contains("127.0.0.1:3306, database stratus_t_"), "the database's host and name are shown");
        let user = database.as_deref().and_then(|u| u.split_once("://")).and_then(|(_, r)| r.split_once(':'));
        assert!(!html.contains(user.expect("user").0), "not even the database user");
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_drawn_as_the_load_balancer() {
    let t = TestApp::with(|f| f.merge(("trusted_proxies", vec!["10.0.0.0/8"]))).await;
    let through = |peer: &str| {
        t.client
            .get("/architecture")
            .remote(peer.parse().expect("addr"))
            .header(Header::new("X-Forwarded-For", "203.0.113.7"))
    };
    let html = through("10.0.0.5:41000").dispatch().await.into_string().await.expect("body");
    assert!(html.contains("<g class=\"box proxy\">"), "the load balancer box");
    assert!(html.contains("<td>Load balancer</td>"), "and its row in the table");
    // The same header from an untrusted peer is a client's claim, not a load balancer.
    let html = through("198.51.100.1:5000").dispatch().await.into_string().await.expect("body");
    assert!(!html.contains("Load balancer"));
}

#[tokio::test]
async fn the_level_and_what_the_next_one_changes() {
    let t = TestApp::with(|f| f.merge(("stratus_level", "4"))).await;
    let (_, html) = t.get_text("/architecture").await;
    assert!(html.contains("This is <strong>level 4</strong>: a cache between the web servers"));
    assert!(html.contains("Next, <strong>level 5</strong>"));
    assert!(html.contains("<tr><td><code>media_base_url</code></td><td><code>(default)</code></td><td><code>https:&#x2f;&#x2f;d111111abcdef8.cloudfront.net</code></td></tr>"));
    assert!(html.contains("<li class=\"current\" aria-current=\"step\"><strong>Level 4</strong>"));
    assert_eq!(html.matches("aria-current=\"step\"").count(), 1);

    let t = TestApp::with(|f| f.merge(("stratus_level", "6"))).await;
    let (_, html) = t.get_text("/architecture").await;
    assert!(html.contains("This is the last level."));
}
