//! Level 6 on AWS: the access log shipped to a Kinesis Data Stream (moto's, found through
//! `AWS_ENDPOINT_URL_KINESIS` while the fleet profile's S3 store keeps its own endpoint), read
//! back by `/admin/traffic`, and named on `/architecture`.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestApp;
use rocket::http::{Header, Status};

type Line = (String, serde_json::Map<String, serde_json::Value>);

/// Every record of `stream` as a JSON object with its shard, once `done` holds of them (the
/// sink sends at least every second).
async fn lines_when(stream: &str, done: impl Fn(&[Line]) -> bool) -> Vec<Line> {
    let mut lines = Vec::new();
    for _ in 0..60 {
        lines = common::kinesis::records(stream)
            .await
            .into_iter()
            .flat_map(|(shard, records)| records.into_iter().map(move |r| (shard.clone(), r)))
            .map(|(shard, record)| match serde_json::from_slice(&record) {
                Ok(serde_json::Value::Object(map)) => (shard, map),
                other => panic!("not a JSON object: {:?} ({other:?})", String::from_utf8_lossy(&record)),
            })
            .collect();
        if done(&lines) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never arrived; {} lines in {stream}: {lines:?}", lines.len());
}

fn from(lines: &[Line], ip: &str) -> usize {
    lines.iter().filter(|(_, line)| line["client_ip"] == ip).count()
}

async fn app_logging_to(stream: &str) -> TestApp {
    let url = format!("kinesis://{stream}");
    TestApp::with(|f| {
        f.merge(("access_log_stream", url))
            .merge(("trusted_proxies", vec!["10.0.0.0/8"]))
            .merge(("address", "127.0.0.1"))
    })
    .await
}

#[rocket::async_test]
async fn every_line_arrives_with_the_ten_string_fields_spread_over_the_shards() {
    common::needs!(Kinesis);
    let stream = common::kinesis::fresh_stream(2).await;
    let t = app_logging_to(&stream).await;
    // In the fleet profile the photo goes to S3 (SeaweedFS), whose endpoint Kinesis's must not move.
    assert_eq!(t.register("shipper").await, Status::SeeOther);
    let photo = common::fixture("valid", "one-pixel.png");
    assert_eq!(t.upload("p.png", &photo, "shipped").await.status(), Status::SeeOther);
    for i in 0..30 {
        let response = t
            .client
            .get(format!("/healthz?n={i}"))
            .remote("10.0.0.5:41000".parse().expect("addr"))
            .header(Header::new("X-Forwarded-For", format!("203.0.113.{i}")))
            .header(Header::new("User-Agent", "ab/2.3"))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok);
    }
    let probes_in = |lines: &[Line]| lines.iter().filter(|(_, line)| line["request"] == "/healthz").count();
    let lines = lines_when(&stream, |lines| probes_in(lines) >= 30).await;
    let probes: Vec<_> = lines.iter().filter(|(_, line)| line["request"] == "/healthz").collect();
    assert_eq!(probes.len(), 30, "each request once");
    for (_, line) in &lines {
        common::assert_tutorial_fields(line);
        assert!(line.values().all(serde_json::Value::is_string), "all values are strings: {line:?}");
        assert_eq!(line["server_ip"], "127.0.0.1");
    }
    let clients: BTreeSet<_> = probes.iter().map(|(_, line)| line["client_ip"].as_str().unwrap_or("")).collect();
    assert_eq!(clients.len(), 30, "the forwarded client of each: {clients:?}");
    assert!(probes.iter().all(|(_, line)| line["userAgent"] == "ab/2.3" && line["status"] == "200"));
    let shards: BTreeSet<_> = probes.iter().map(|(shard, _)| shard.as_str()).collect();
    assert_eq!(shards.len(), 2, "partition keys spread the lines over both shards");
    let upload = lines.iter().find(|(_, line)| line["http_method"] == "POST" && line["request"] == "/photos");
    assert_eq!(upload.map(|(_, line)| line["status"].clone()), Some("303".into()), "the upload was stored");
}

#[rocket::async_test]
async fn a_missing_stream_never_fails_or_slows_a_request() {
    common::needs!(Kinesis);
    let t = app_logging_to(&common::services::unique("stratus-t-missing-")).await;
    let started = std::time::Instant::now();
    for _ in 0..50 {
        assert_eq!(t.client.get("/healthz").dispatch().await.status(), Status::Ok);
    }
    assert!(started.elapsed() < Duration::from_secs(2), "requests are not slowed: {:?}", started.elapsed());
}

#[rocket::async_test]
async fn the_admin_sees_requests_per_client_read_back_from_the_stream() {
    common::needs!(Kinesis);
    let stream = common::kinesis::fresh_stream(3).await;
    let t = app_logging_to(&stream).await;
    t.register("boss").await;
    let name = stratus::domain::Username::parse("boss").expect("name");
    assert!(t.app().accounts.set_admin(&name, true).await.expect("grant"));
    for _ in 0..7 {
        t.client.get("/healthz").remote("203.0.113.7:1000".parse().expect("addr")).dispatch().await;
    }
    t.client.get("/healthz").remote("198.51.100.9:1000".parse().expect("addr")).dispatch().await;
    lines_when(&stream, |lines| from(lines, "203.0.113.7") == 7 && from(lines, "198.51.100.9") == 1).await;

    let html = t.client.get("/admin/traffic").dispatch().await.into_string().await.expect("html");
    assert!(html.contains(&format!("Kinesis Data Stream {stream}")), "names its source: {html}");
    assert_eq!(common::traffic_total(&html, "203.0.113.7"), 7, "{html}");
    assert_eq!(common::traffic_total(&html, "198.51.100.9"), 1);
}

#[rocket::async_test]
async fn the_architecture_names_the_stream_and_nothing_secret() {
    common::needs!(Kinesis);
    let stream = common::kinesis::fresh_stream(1).await;
    let t = app_logging_to(&stream).await;
    let (_, html) = t.get_text("/architecture").await;
    assert!(html.contains(&format!("Kinesis Data Stream {stream}")), "{html}");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(secret.is_empty() || !html.contains(&secret), "no credentials on the page");
    assert!(!html.contains(&common::kinesis::endpoint()), "nor the endpoint");
}
