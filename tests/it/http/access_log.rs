//! Level 6: the JSON access log (tutorial field layout) in a file and in a Redis Stream.

use crate::common;

use std::time::Duration;

use common::{TestApp, services};
use rocket::http::Header;

/// Every line as a JSON object, once `count` lines have arrived (the writer is asynchronous).
async fn lines_of(path: &std::path::Path, count: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            return text
                .lines()
                .map(|line| match serde_json::from_str(line) {
                    Ok(serde_json::Value::Object(map)) => map,
                    other => panic!("not a JSON object: {line} ({other:?})"),
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} lines in {}", path.display());
}

#[rocket::async_test]
async fn one_json_line_per_request_with_exactly_the_tutorial_fields() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("logs/access.log");
    let t = TestApp::with(|f| {
        f.merge(("access_log", log.to_string_lossy().to_string()))
            .merge(("trusted_proxies", vec!["10.0.0.0/8"]))
            .merge(("address", "127.0.0.1"))
    })
    .await;
    let via_balancer = t
        .client
        .get("/?before=01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .remote("10.0.0.5:41000".parse().expect("addr"))
        .header(Header::new("X-Forwarded-For", "203.0.113.7"))
        .header(Header::new("User-Agent", "ab/2.3"))
        .header(Header::new("Referer", "https://example.org/from"))
        .dispatch()
        .await;
    let page_bytes = via_balancer.into_bytes().await.expect("body").len();
    t.client
        .get("/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .remote("198.51.100.1:5000".parse().expect("addr"))
        .header(Header::new("X-Forwarded-For", "1.2.3.4"))
        .dispatch()
        .await;
    t.client.post("/login").remote("198.51.100.1:5000".parse().expect("addr")).dispatch().await;

    let lines = lines_of(&log, 3).await;
    assert_eq!(lines.len(), 3);
    for line in &lines {
        common::assert_tutorial_fields(line);
        assert!(line.values().all(serde_json::Value::is_string), "all values are strings: {line:?}");
        let time = line["request_time"].as_str().expect("time");
        assert!(stratus::access_log::parse_apache_time(time).is_some(), "{time}");
        assert_eq!(line["server_ip"], "127.0.0.1");
    }
    let (front, photo, login) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(front["client_ip"], "203.0.113.7", "X-Forwarded-For from a trusted proxy");
    assert_eq!(front["client_hostname"], "203.0.113.7");
    assert_eq!(front["request"], "/", "the path, without the query");
    assert_eq!(front["http_method"], "GET");
    assert_eq!(front["status"], "200");
    assert_eq!(front["size"], page_bytes.to_string());
    assert_eq!(front["userAgent"], "ab/2.3");
    assert_eq!(front["referer"], "https://example.org/from");
    assert_eq!(photo["client_ip"], "198.51.100.1", "a forged header from an untrusted peer is ignored");
    assert_eq!(photo["status"], "404");
    assert_eq!(photo["userAgent"], "-");
    assert_eq!(photo["referer"], "-");
    assert_eq!(login["http_method"], "POST");
}

#[rocket::async_test]
async fn lines_go_to_a_redis_stream_and_a_dead_redis_never_fails_a_request() {
    common::needs!(Redis);
    let key = services::unique("t:access-");
    let proxy = common::proxy::Proxy::start(services::redis_url().trim_start_matches("redis://")).await;
    let t = TestApp::with(|f| {
        f.merge(("access_log_stream", format!("redis://{}", proxy.addr))).merge(("access_log_stream_key", key.clone()))
    })
    .await;
    for _ in 0..5 {
        assert_eq!(t.client.get("/healthz").dispatch().await.status().code, 200);
    }
    let redis = redis::Client::open(services::redis_url()).expect("redis");
    let mut conn = redis.get_multiplexed_async_connection().await.expect("connect");
    let mut entries: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for _ in 0..50 {
        entries = redis::cmd("XRANGE").arg(&key).arg("-").arg("+").query_async(&mut conn).await.expect("xrange");
        if entries.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entries.len(), 5);
    for (_, fields) in &entries {
        assert_eq!(fields[0].0, "line");
        let line: serde_json::Value = serde_json::from_str(&fields[0].1).expect("json");
        assert_eq!(line["request"], "/healthz");
    }

    proxy.cut();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(t.client.get("/healthz").dispatch().await.status().code, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "requests are not slowed: {:?}", started.elapsed());
    let mut dropped = 0.0;
    for _ in 0..50 {
        let text = t.client.get("/metrics").dispatch().await.into_string().await.unwrap_or_default();
        dropped = text
            .lines()
            .find_map(|l| l.strip_prefix(r#"stratus_access_log_dropped_total{destination="stream"} "#))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if dropped >= 20.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dropped >= 20.0, "dropped lines are counted: {dropped}");
    redis::cmd("DEL").arg(&key).query_async::<i64>(&mut conn).await.expect("cleanup");
}

#[rocket::async_test]
async fn the_admin_sees_requests_per_client_in_the_latest_windows() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("access.log");
    let t = TestApp::with(|f| f.merge(("access_log", log.to_string_lossy().to_string()))).await;
    assert_eq!(t.client.get("/admin/traffic").dispatch().await.status().code, 401);
    t.register("alice").await;
    assert_eq!(t.client.get("/admin/traffic").dispatch().await.status().code, 403, "not the admin");
    t.logout().await;
    t.register("boss").await;
    grant_admin(&t, "Boss").await;
    for _ in 0..7 {
        t.client.get("/healthz").remote("203.0.113.7:1000".parse().expect("addr")).dispatch().await;
    }
    t.client.get("/healthz").remote("198.51.100.9:1000".parse().expect("addr")).dispatch().await;
    // The eight lines before these already satisfy a count of 8: wait for these eight.
    let from_test_clients = |lines: &[serde_json::Map<String, serde_json::Value>]| {
        lines.iter().filter(|l| l["client_ip"] == "203.0.113.7" || l["client_ip"] == "198.51.100.9").count()
    };
    for _ in 0..50 {
        if from_test_clients(&lines_of(&log, 1).await) >= 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let response = t.client.get("/admin/traffic").dispatch().await;
    assert_eq!(response.status().code, 200);
    let html = response.into_string().await.expect("html");
    assert!(html.contains(r#"<meta http-equiv="refresh""#), "refreshes itself");
    assert!(html.contains("10-second windows"));
    let row = |ip: &str| {
        let at = html.find(&format!("<code>{ip}</code>")).unwrap_or_else(|| panic!("{ip} missing: {html}"));
        html[at..].split("class=\"count\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or("").to_owned()
    };
    assert!(!row("203.0.113.7").is_empty());
    assert_eq!(common::traffic_total(&html, "203.0.113.7"), 7);
    assert_eq!(common::traffic_total(&html, "198.51.100.9"), 1);
    assert!(html.contains("<rect width=\"100\""), "the busiest client's bar is full width");
}

/// What `stratus admin grant NAME` does.
async fn grant_admin(t: &TestApp, name: &str) {
    let name = stratus::domain::Username::parse(name).expect("name");
    assert!(t.app().accounts.set_admin(&name, true).await.expect("grant"), "{name} exists");
}

#[rocket::async_test]
async fn without_an_access_log_the_admin_page_says_how_to_keep_one() {
    let t = TestApp::new().await;
    t.register("boss").await;
    grant_admin(&t, "boss").await;
    let html = t.client.get("/admin/traffic").dispatch().await.into_string().await.expect("html");
    assert!(html.contains("No access log is kept"), "{html}");
}

#[rocket::async_test]
async fn a_flood_of_huge_headers_stays_within_the_streams_byte_bound() {
    common::needs!(Redis);
    let key = services::unique("t:access-flood-");
    let t = TestApp::with(|f| {
        f.merge(("access_log_stream", services::redis_url()))
            .merge(("access_log_stream_key", key.clone()))
            .merge(("access_log_stream_max_mb", 1))
    })
    .await;
    let huge = "u".repeat(400 * 1024);
    for _ in 0..1000 {
        let response = t
            .client
            .get("/healthz")
            .header(Header::new("User-Agent", huge.clone()))
            .header(Header::new("Referer", huge.clone()))
            .dispatch()
            .await;
        assert_eq!(response.status().code, 200);
    }
    let redis = redis::Client::open(services::redis_url()).expect("redis");
    let mut conn = redis.get_multiplexed_async_connection().await.expect("connect");
    // Every line arrived (or was trimmed away): the writer's last batch is done when the Stream's
    // last entry stops changing.
    let mut last_id = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let newest: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .expect("xrevrange");
        let id = newest.first().map(|(id, _)| id.clone()).unwrap_or_default();
        if !id.is_empty() && id == last_id {
            break;
        }
        last_id = id;
    }
    let usage: u64 = redis::cmd("MEMORY").arg("USAGE").arg(&key).query_async(&mut conn).await.expect("memory usage");
    let entries: u64 = redis::cmd("XLEN").arg(&key).query_async(&mut conn).await.expect("xlen");
    // The documented worst case for one writing instance: the bound plus what it may append
    // between two measurements (1/16 of it), with 2 % for `MEMORY USAGE` being an estimate.
    let documented = 1024 * 1024 * 17 / 16;
    assert!(usage <= documented * 102 / 100, "the Stream takes {usage} bytes for {entries} entries");
    assert!(entries >= 100, "trimmed to the bound, not emptied: {entries}");
    let sample: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(20)
        .query_async(&mut conn)
        .await
        .expect("xrange");
    for (_, fields) in &sample {
        let line = &fields[0].1;
        assert!(line.len() <= stratus::access_log::MAX_LINE_BYTES, "{} bytes", line.len());
        let line: serde_json::Value = serde_json::from_str(line).expect("json");
        let agent = line["userAgent"].as_str().expect("agent");
        assert!(agent.starts_with("uuu") && agent.ends_with(stratus::access_log::TRUNCATION_MARK), "{agent}");
        assert!(line["referer"].as_str().expect("referer").ends_with(stratus::access_log::TRUNCATION_MARK));
    }
    redis::cmd("DEL").arg(&key).query_async::<i64>(&mut conn).await.expect("cleanup");
}

#[rocket::async_test]
async fn head_requests_are_logged_as_head_and_every_forwarded_line_is_read() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("access.log");
    let t = TestApp::with(|f| {
        f.merge(("access_log", log.to_string_lossy().to_string())).merge(("trusted_proxies", vec!["10.0.0.0/8"]))
    })
    .await;
    assert_eq!(t.client.head("/healthz").dispatch().await.status().code, 200);
    // Two header lines, as haproxy sends them: the client's own, then the proxy's.
    t.client
        .get("/healthz")
        .remote("10.0.0.5:41000".parse().expect("addr"))
        .header(Header::new("X-Forwarded-For", "6.6.6.6"))
        .header(Header::new("X-Forwarded-For", "203.0.113.7:5123"))
        .dispatch()
        .await;
    let lines = lines_of(&log, 2).await;
    assert_eq!(lines[0]["http_method"], "HEAD");
    assert_eq!(lines[1]["client_ip"], "203.0.113.7", "the proxy's line, not the client's, port dropped");
}
