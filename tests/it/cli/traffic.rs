//! `stratus traffic`: exact counts per client per window, from a file, stdin and a Redis Stream.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

const T0: i64 = 1_795_831_200; // 2026-11-28T02:00:00Z

fn line(unix: i64, ip: &str) -> String {
    let line = stratus::access_log::AccessLine {
        request_time: stratus::access_log::apache_time(unix),
        client_ip: ip.into(),
        client_hostname: ip.into(),
        server_ip: "10.0.0.1".into(),
        request: "/".into(),
        http_method: "GET".into(),
        status: "200".into(),
        size: "4096".into(),
        user_agent: "ab/2.3".into(),
        referer: "-".into(),
    };
    serde_json::to_string(&line).expect("json")
}

/// A log with known counts: edges at :00, :09, :10, :19, :20, a line in another time zone, and
/// a line that is not an access log line.
fn known_log() -> String {
    let mut lines = Vec::new();
    for _ in 0..42 {
        lines.push(line(T0 + 10, "203.0.113.7"));
    }
    lines.push(line(T0, "198.51.100.2"));
    lines.push(line(T0 + 9, "198.51.100.2"));
    lines.push(line(T0 + 19, "198.51.100.2"));
    lines.push(line(T0 + 20, "2001:db8::1"));
    lines.push("not an access log line".into());
    // 03:00:25 +0100 is 02:00:25 UTC.
    lines.push(line(T0 + 25, "2001:db8::1").replace("[28/Nov/2026:02:00:25 +0000]", "[28/Nov/2026:03:00:25 +0100]"));
    lines.join("\n") + "\n"
}

const EXPECTED_10S: &str = r#"{"window_start":"2026-11-28T02:00:00Z","client_ip":"198.51.100.2","request_count":2}
{"window_start":"2026-11-28T02:00:10Z","client_ip":"203.0.113.7","request_count":42}
{"window_start":"2026-11-28T02:00:10Z","client_ip":"198.51.100.2","request_count":1}
{"window_start":"2026-11-28T02:00:20Z","client_ip":"2001:db8::1","request_count":2}
"#;

/// The known log with hostile lines mixed in: invalid UTF-8 (alone, and inside an otherwise
/// good line), a line dated 9999, one dated 1970, a JSON line without the ten fields, a 100 KB
/// line, blank and CRLF-ended lines, and a counted line whose client is a terminal escape.
fn hostile_log() -> Vec<u8> {
    let mut log = known_log().into_bytes();
    let mut add = |line: &[u8]| {
        log.extend_from_slice(line);
        log.push(b'\n');
    };
    add(b"\xff\xfe\x00 not text");
    let mut broken = line(T0 + 3, "198.51.100.2").into_bytes();
    let at = broken.len() - 5;
    broken[at] = 0xc3; // the start of a two-byte character, followed by an ASCII byte
    add(&broken);
    add(line(T0 + 4, "6.6.6.6").replace("2026:02:00:04", "9999:02:00:04").as_bytes());
    add(line(T0 + 4, "7.7.7.7").replace("28/Nov/2026:02:00:04", "01/Jan/1970:00:00:04").as_bytes());
    add(br#"{"request_time":"[28/Nov/2026:02:00:05 +0000]","client_ip":"8.8.8.8"}"#);
    add("x".repeat(100 * 1024).as_bytes());
    add(b"");
    add(b"   ");
    add((line(T0 + 6, "192.0.2.9") + "\r").as_bytes());
    add(line(T0 + 5, "\u{1b}[31mred").as_bytes());
    log
}

const EXPECTED_HOSTILE: &str = r#"{"window_start":"2026-11-28T02:00:00Z","client_ip":"198.51.100.2","request_count":2}
{"window_start":"2026-11-28T02:00:00Z","client_ip":"\u001b[31mred","request_count":1}
{"window_start":"2026-11-28T02:00:00Z","client_ip":"192.0.2.9","request_count":1}
{"window_start":"2026-11-28T02:00:10Z","client_ip":"203.0.113.7","request_count":42}
{"window_start":"2026-11-28T02:00:10Z","client_ip":"198.51.100.2","request_count":1}
{"window_start":"2026-11-28T02:00:20Z","client_ip":"2001:db8::1","request_count":2}
"#;

const SKIPPED_HOSTILE: &str = "skipped 5 lines that are not access log lines, 2 dated more than 5 minutes ahead of this clock or ten years behind it, 0 that came after their window closed";

fn traffic(args: &[&str], stdin: Option<&str>) -> (String, String) {
    traffic_bytes(args, stdin.unwrap_or_default().as_bytes())
}

fn traffic_bytes(args: &[&str], stdin: &[u8]) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .arg("traffic")
        .args(args)
        .env("STRATUS_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write");
    drop(input);
    let output = child.wait_with_output().expect("wait");
    let (out, err) =
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(output.status.success(), "{err}");
    (out, err)
}

/// `content` as a log file: its directory (kept while the test runs) and its path.
fn log_file(content: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("access.log");
    std::fs::write(&log, content).expect("log");
    let path = log.to_string_lossy().to_string();
    (dir, path)
}

/// A Redis Stream under a fresh key holding `lines` as entries (field `line`), and its key.
async fn stream_of<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> String {
    let key = common::services::unique("t:traffic-");
    let redis = redis::Client::open(common::services::redis_url()).expect("redis");
    let mut conn = redis.get_multiplexed_async_connection().await.expect("connect");
    for line in lines {
        redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("line")
            .arg(line)
            .query_async::<String>(&mut conn)
            .await
            .expect("xadd");
    }
    key
}

#[test]
fn counts_per_client_per_window_are_exact_from_a_file_and_stdin() {
    let (_dir, path) = log_file(known_log().as_bytes());

    let (json, said) = traffic(&["--file", &path, "--format", "json"], None);
    assert_eq!(json, EXPECTED_10S);
    assert!(said.contains("skipped 1 lines that are not access log lines"), "{said}");
    assert_eq!(traffic(&["--file", "-", "--format", "json"], Some(&known_log())).0, EXPECTED_10S);

    let (minute, _) = traffic(&["--file", &path, "--format", "json", "--window", "1m"], None);
    assert_eq!(
        minute,
        r#"{"window_start":"2026-11-28T02:00:00Z","client_ip":"203.0.113.7","request_count":42}
{"window_start":"2026-11-28T02:00:00Z","client_ip":"198.51.100.2","request_count":3}
{"window_start":"2026-11-28T02:00:00Z","client_ip":"2001:db8::1","request_count":2}
"#
    );
    let (table, _) = traffic(&["--file", &path], None);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["window_start", "client_ip", "requests"]);
    assert_eq!(rows[2], ["2026-11-28T02:00:10Z", "203.0.113.7", "42"]);
    assert_eq!(rows.len(), 5);
}

#[test]
fn hostile_lines_are_skipped_and_counted_from_a_file_and_stdin() {
    let (_dir, path) = log_file(&hostile_log());
    let (json, said) = traffic(&["--file", &path, "--format", "json"], None);
    assert_eq!(json, EXPECTED_HOSTILE);
    assert!(said.contains(SKIPPED_HOSTILE), "{said}");
    let (json, said) = traffic_bytes(&["--file", "-", "--format", "json"], &hostile_log());
    assert_eq!(json, EXPECTED_HOSTILE);
    assert!(said.contains(SKIPPED_HOSTILE), "{said}");
    let (table, _) = traffic(&["--file", &path], None);
    assert!(!table.contains('\u{1b}'), "no raw escape reaches the terminal: {table:?}");
    assert!(table.contains("\\u{1b}[31mred"), "{table}");
}

#[tokio::test]
async fn hostile_entries_of_the_redis_stream_are_skipped_and_counted() {
    common::needs!(Redis);
    let log = hostile_log();
    let key = stream_of(log.split(|&b| b == b'\n')).await;
    let redis = redis::Client::open(common::services::redis_url()).expect("redis");
    let mut conn = redis.get_multiplexed_async_connection().await.expect("connect");
    // An entry without the line field, as another writer might add.
    redis::cmd("XADD").arg(&key).arg("*").arg("other").arg("x").query_async::<String>(&mut conn).await.expect("xadd");
    let url = common::services::redis_url();
    let (json, said) =
        tokio::task::spawn_blocking(move || traffic(&["--stream", &url, "--key", &key, "--format", "json"], None))
            .await
            .expect("run");
    assert_eq!(json, EXPECTED_HOSTILE);
    assert!(said.contains(&SKIPPED_HOSTILE.replace("skipped 5", "skipped 6")), "{said}");
}

#[tokio::test]
async fn counts_are_the_same_read_from_the_redis_stream() {
    common::needs!(Redis);
    let key = stream_of(known_log().lines().map(str::as_bytes)).await;
    let url = common::services::redis_url();
    let (json, _) =
        tokio::task::spawn_blocking(move || traffic(&["--stream", &url, "--key", &key, "--format", "json"], None))
            .await
            .expect("run");
    assert_eq!(json, EXPECTED_10S);
}

#[test]
fn follow_prints_each_window_once_the_clock_has_passed_it() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("access.log");
    let now = stratus::domain::now_unix();
    // A forged line from the far future must not hold the windows open.
    let forged = line(now - 20, "6.6.6.6").replace(&stratus::access_log::apache_time(now - 20)[8..12], "9999");
    std::fs::write(&log, line(now - 30, "192.0.2.1") + "\n" + &forged + "\n").expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["traffic", "--follow", "--window", "1s", "--grace", "1s", "--format", "json", "--file"])
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // A line arriving now, for a window that ends in a second or two, written in two parts
    // cut inside a two-byte character, as a writer may leave it for a moment.
    let arriving = line(stratus::domain::now_unix() + 1, "192.0.2.2").replace("ab/2.3", "ab/é");
    let cut = arriving.find('é').expect("é") + 1;
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).expect("append");
    file.write_all(&arriving.as_bytes()[..cut]).expect("write");
    file.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    file.write_all(&arriving.as_bytes()[cut..]).expect("write");
    file.write_all(b"\n").expect("write");
    std::thread::sleep(std::time::Duration::from_millis(4000));
    child.kill().ok();
    let output = child.wait_with_output().expect("wait");
    let printed = String::from_utf8_lossy(&output.stdout);
    let ips: Vec<&str> = printed
        .lines()
        .map(|l| l.split("\"client_ip\":\"").nth(1).unwrap_or("").split('"').next().unwrap_or(""))
        .collect();
    assert_eq!(ips, ["192.0.2.1", "192.0.2.2"], "{printed}");
}

/// `lines` put as records of a fresh three-shard Kinesis stream; its name.
async fn kinesis_stream_of(records: &[Vec<u8>]) -> String {
    let stream = common::kinesis::fresh_stream(3).await;
    common::kinesis::put(&stream, records).await;
    stream
}

/// Runs `stratus traffic --stream kinesis://STREAM` (moto is found as on any machine, through
/// `AWS_ENDPOINT_URL_KINESIS`).
async fn traffic_from_kinesis(stream: String) -> (String, String) {
    let url = format!("kinesis://{stream}");
    tokio::task::spawn_blocking(move || traffic(&["--stream", &url, "--format", "json"], None)).await.expect("run")
}

#[tokio::test]
async fn counts_are_the_same_read_from_every_shard_of_a_kinesis_stream() {
    common::needs!(Kinesis);
    let log = known_log();
    let lines: Vec<&str> = log.lines().collect();
    // The sink sends a record per line; other shippers batch lines into one record.
    let mut records: Vec<Vec<u8>> = vec![lines[..10].join("\n").into_bytes()];
    records.extend(lines[10..].iter().map(|l| l.as_bytes().to_vec()));
    let stream = kinesis_stream_of(&records).await;
    let held = common::kinesis::records(&stream).await;
    assert!(held.iter().filter(|(_, records)| !records.is_empty()).count() >= 2, "spread over shards: {held:?}");
    let (json, said) = traffic_from_kinesis(stream).await;
    assert_eq!(json, EXPECTED_10S);
    assert!(said.contains("skipped 1 lines that are not access log lines"), "{said}");
}

#[tokio::test]
async fn hostile_records_of_a_kinesis_stream_are_skipped_and_counted() {
    common::needs!(Kinesis);
    let log = hostile_log();
    let records: Vec<Vec<u8>> = log.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let stream = kinesis_stream_of(&records).await;
    let (json, said) = traffic_from_kinesis(stream).await;
    assert_eq!(json, EXPECTED_HOSTILE);
    assert!(said.contains(SKIPPED_HOSTILE), "{said}");
}

#[tokio::test]
async fn a_missing_kinesis_stream_is_a_clear_error() {
    common::needs!(Kinesis);
    let url = format!("kinesis://{}", common::services::unique("stratus-t-missing-"));
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_stratus")).args(["traffic", "--stream", &url]).output().expect("run")
    })
    .await
    .expect("run");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("reading the Kinesis stream") && said.contains("ResourceNotFound"), "{said}");
    let bad = Command::new(env!("CARGO_BIN_EXE_stratus")).args(["traffic", "--stream", "kinesis://a b"]).output();
    let bad = bad.expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a Kinesis stream name"));
    let dir = tempfile::tempdir().expect("dir");
    let nowhere = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["traffic", "--stream", "kinesis://s"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run");
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("no AWS region"), "{nowhere:?}");
}

#[tokio::test]
async fn follow_on_kinesis_counts_from_now_and_prints_each_window_once_final() {
    common::needs!(Kinesis);
    let now = stratus::domain::now_unix();
    let stream = kinesis_stream_of(&[line(now - 30, "192.0.2.1").into_bytes()]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stratus"))
        .args(["traffic", "--follow", "--window", "1s", "--grace", "1s", "--format", "json", "--stream"])
        .arg(format!("kinesis://{stream}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let arriving = stratus::domain::now_unix();
    common::kinesis::put(
        &stream,
        &[line(arriving, "192.0.2.2").into_bytes(), line(arriving, "192.0.2.2").into_bytes()],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
    child.kill().ok();
    let output = child.wait_with_output().expect("wait");
    let printed = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = printed.lines().collect();
    assert_eq!(rows.len(), 1, "only what arrived after the start: {printed}");
    assert!(rows[0].contains(r#""client_ip":"192.0.2.2","request_count":2"#), "{printed}");
}

/// Scale-in with Kinesis: the lines of the last requests, still waiting for a fuller batch
/// when the server stops, are sent before the process exits.
#[tokio::test]
async fn a_stopping_server_sends_its_last_lines_to_kinesis_before_it_exits() {
    common::needs!(Kinesis);
    let stream = common::kinesis::fresh_stream(1).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.current_dir(dir.path())
        .env("ROCKET_DATA_DIR", dir.path().join("data"))
        .env("ROCKET_ACCESS_LOG_STREAM", format!("kinesis://{stream}"))
        .env("ROCKET_DRAIN_SECS", "0")
        .env("ROCKET_SEED_DEMO", "false")
        .env("STRATUS_LOG", "error")
        // Its 404s for the marked paths are logged as errors: not this test's output.
        .stderr(Stdio::null());
    let (mut child, base) = common::process::spawn_listening(&mut cmd, None, std::time::Duration::from_secs(10)).await;
    for path in ["/last-1", "/last-2", "/last-3"] {
        reqwest::get(format!("{base}{path}")).await.ok();
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(status.success(), "{status:?}");
    let held: Vec<String> = common::kinesis::records(&stream)
        .await
        .into_iter()
        .flat_map(|(_, records)| records)
        .map(|r| String::from_utf8_lossy(&r).into_owned())
        .collect();
    for path in ["/last-1", "/last-2", "/last-3"] {
        assert!(held.iter().any(|line| line.contains(&format!("\"request\":\"{path}\""))), "{path} missing: {held:?}");
    }
}
