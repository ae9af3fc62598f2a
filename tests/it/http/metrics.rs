//! Level 3: `/metrics` in Prometheus text format, with the signals an autoscaler reads.

use crate::common;

use common::{TestApp, fixture, photo_id_from};
use rocket::http::Status;

/// The value of the sample whose line starts with `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_text(t: &TestApp) -> String {
    let response = t.client.get("/metrics").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let content_type = response.content_type().expect("content type").to_string();
    assert!(content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"), "{content_type}");
    response.into_string().await.expect("body")
}

/// `promtool check metrics` (Debian package `prometheus`): required when tests/run.sh says so.
fn promtool_check(text: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("STRATUS_REQUIRE_PROMTOOL").is_none(),
            "promtool is missing: apt-get install prometheus"
        );
        return;
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("promtool");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}");
}

#[rocket::async_test]
async fn metrics_count_requests_cache_lookups_backends_and_uploads() {
    let t = TestApp::with(|f| f.merge(("instance_id", "web-7"))).await;
    t.register("metered").await;
    let jpeg = fixture("valid", "progressive.jpg");
    t.upload("b.gif", b"GIF89a not really", "refused").await;
    let id = photo_id_from(&t.upload("a.jpg", &jpeg, "counted").await);
    let before = metrics_text(&t).await;
    for _ in 0..3 {
        t.client.get("/").dispatch().await;
    }
    t.client.get(format!("/photos/{id}")).dispatch().await;
    t.client.get("/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV").dispatch().await;
    let text = metrics_text(&t).await;
    promtool_check(&text);
    let grew = |series: &str| sample(&text, series).unwrap_or(0.0) - sample(&before, series).unwrap_or(0.0);
    // The upload invalidated the cached list: one miss refills it, then hits.
    assert_eq!(grew(r#"stratus_front_page_cache_total{result="miss"}"#), 1.0, "{text}");
    assert_eq!(grew(r#"stratus_front_page_cache_total{result="hit"}"#), 2.0);
    assert_eq!(grew(r#"stratus_http_request_duration_seconds_count{method="GET",route="/",status="200"}"#), 3.0);
    // One series per route template, not per photo id.
    assert_eq!(
        sample(&text, r#"stratus_http_request_duration_seconds_count{method="GET",route="/photos/<id>",status="200"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"stratus_http_request_duration_seconds_count{method="GET",route="/photos/<id>",status="404"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&text, r#"stratus_uploads_total{reason="",result="accepted"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"stratus_uploads_total{reason="unusable_image",result="refused"}"#), Some(1.0));
    assert!(sample(&text, "stratus_upload_bytes_total").is_some_and(|b| b > 1000.0));
    assert!(sample(&text, r#"stratus_db_query_duration_seconds_count{operation="latest_photos"}"#).is_some());
    assert!(sample(&text, r#"stratus_db_query_duration_seconds_count{operation="insert_photo"}"#) == Some(1.0));
    // The original and its two thumbnails.
    assert_eq!(sample(&text, r#"stratus_store_operation_duration_seconds_count{operation="put"}"#), Some(3.0));
    // Only the /metrics request itself is in flight while it renders.
    assert_eq!(sample(&text, "stratus_http_requests_in_flight"), Some(1.0));
    let build = text.lines().find(|l| l.starts_with("stratus_build_info{")).expect("build info");
    assert!(build.contains(&format!("profile=\"{}\"", common::profile())) && build.contains("(web-7)"), "{build}");
    assert!(build.ends_with(" 1"));
}

#[rocket::async_test]
async fn simulated_latency_shows_in_the_latency_histogram() {
    let t = TestApp::with(|f| f.merge(("latency_ms", 120))).await;
    for _ in 0..2 {
        t.client.get("/").dispatch().await;
    }
    let text = metrics_text(&t).await;
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"stratus_http_request_duration_seconds_bucket{{method="GET",route="/",status="200",le="{le}"}}"#
            ),
        )
    };
    // Every front page took at least the 120 ms knob: none below 0.1 s, both by 0.25 s.
    assert_eq!(bucket("0.1"), Some(0.0), "{text}");
    assert_eq!(bucket("0.25"), Some(2.0));
}

#[rocket::async_test]
async fn metrics_can_be_turned_off() {
    let t = TestApp::with(|f| f.merge(("metrics", false))).await;
    assert_eq!(t.client.get("/metrics").dispatch().await.status(), Status::NotFound);
}
