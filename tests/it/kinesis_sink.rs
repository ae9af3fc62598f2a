//! The Kinesis sink's batching and retries, against a fake Kinesis (a small HTTP server that
//! speaks `PutRecords` as the real one does) that refuses records and throttles calls.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use stratus::access_log::{KinesisSink, Retry};
use stratus::metrics::Metrics;
use stratus::remote::kinesis::{Kinesis, StreamName};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the fake answers to one `PutRecords` call.
enum Answer {
    /// 400 `ProvisionedThroughputExceededException` for the whole call.
    Throttle,
    /// 200, refusing (with a per-record error code) the records marked `true`.
    Refuse(Vec<bool>),
}

#[derive(Default)]
struct Seen {
    /// Every call: its records as (partition key, data).
    calls: Vec<Vec<(String, String)>>,
    /// What the fake took, in order.
    accepted: Vec<String>,
}

type Decide = dyn Fn(usize, &[String]) -> Answer + Send + Sync;

/// A fake Kinesis on a free port; `decide` answers call number n (from 0) given its lines.
async fn fake(decide: impl Fn(usize, &[String]) -> Answer + Send + Sync + 'static) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let decide: Arc<Decide> = Arc::new(decide);
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, decide.clone(), shared.clone()));
        }
    });
    (url, seen)
}

async fn serve(socket: tokio::net::TcpStream, decide: Arc<Decide>, seen: Arc<Mutex<Seen>>) {
    let mut socket = BufReader::new(socket);
    loop {
        let (mut length, mut target) = (0usize, String::new());
        loop {
            let mut header = String::new();
            if socket.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().expect("length"),
                    "x-amz-target" => target = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        socket.read_exact(&mut body).await.expect("body");
        assert_eq!(target, "Kinesis_20131202.PutRecords");
        let request: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(request["StreamName"], "fake-stream");
        let records: Vec<(String, String)> = request["Records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                let data = base64::engine::general_purpose::STANDARD.decode(r["Data"].as_str().expect("data"));
                (
                    r["PartitionKey"].as_str().expect("key").to_owned(),
                    String::from_utf8(data.expect("b64")).expect("utf8"),
                )
            })
            .collect();
        let lines: Vec<String> = records.iter().map(|(_, line)| line.clone()).collect();
        let (status, answer) = {
            let mut seen = seen.lock().expect("lock");
            let answer = decide(seen.calls.len(), &lines);
            seen.calls.push(records);
            match answer {
                Answer::Throttle => (
                    "400 Bad Request",
                    serde_json::json!({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded for stream fake-stream"}),
                ),
                Answer::Refuse(refused) => {
                    let mut entries = Vec::new();
                    for (line, refused) in lines.iter().zip(&refused) {
                        if *refused {
                            entries.push(serde_json::json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}));
                        } else {
                            seen.accepted.push(line.clone());
                            entries.push(serde_json::json!({"SequenceNumber": "1", "ShardId": "shardId-000000000000"}));
                        }
                    }
                    let failed = refused.iter().filter(|r| **r).count();
                    ("200 OK", serde_json::json!({"FailedRecordCount": failed, "Records": entries}))
                }
            }
        };
        let body = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fake\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.get_mut().write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A sink writing to the fake at `url`, with short waits between retries; its queue and the
/// metrics its drops are counted in.
async fn sink(url: &str, attempts: u32) -> (tokio::sync::mpsc::Sender<String>, Arc<Metrics>) {
    let kinesis = Kinesis::connect(StreamName::parse("fake-stream").expect("name"), Some(url)).await.expect("client");
    let metrics = Arc::new(Metrics::new("test", "t").expect("metrics"));
    let retry = Retry { first: Duration::from_millis(10), cap: Duration::from_millis(40), attempts };
    // Never closing: the sender goes away at once, which must not end or spin the writer.
    let (_, never) = tokio::sync::watch::channel(false);
    (KinesisSink { kinesis, retry }.spawn(metrics.clone(), never).0, metrics)
}

/// The whole access log as the app starts it, shipping to the fake at `url` with the default
/// retries and writing no file; and the metrics its drops are counted in.
async fn access_log(url: &str) -> (stratus::access_log::AccessLog, Arc<Metrics>) {
    let kinesis = Kinesis::connect(StreamName::parse("fake-stream").expect("name"), Some(url)).await.expect("client");
    let metrics = Arc::new(Metrics::new("test", "t").expect("metrics"));
    let log = stratus::access_log::AccessLog::start(
        stratus::access_log::Destination::Off,
        Some(stratus::access_log::SharedSink::Kinesis(KinesisSink { kinesis, retry: Retry::default() })),
        stratus::net::TrustedProxies::parse(&[]).expect("no proxies"),
        [127, 0, 0, 1].into(),
        metrics.clone(),
    );
    (log, metrics)
}

fn dropped(metrics: &Metrics) -> u64 {
    metrics.access_log_dropped.with_label_values(&["stream"]).get()
}

/// Waits until `done` holds of what the fake saw (at most 20 s).
async fn until(seen: &Mutex<Seen>, done: impl Fn(&Seen) -> bool) {
    for _ in 0..200 {
        if done(&seen.lock().expect("lock")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the fake never saw what was expected");
}

/// How many times each line was taken.
fn taken(seen: &Seen) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in &seen.accepted {
        *counts.entry(line.clone()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn refused_records_and_throttled_calls_are_retried_until_every_line_is_in_once() {
    common::needs!(AwsEnvironment);
    // The first call has every other record refused, the second is throttled whole (the SDK
    // retries it), then everything is taken.
    let (url, seen) = fake(|call, lines| match call {
        0 => Answer::Refuse((0..lines.len()).map(|i| i % 2 == 0).collect()),
        1 => Answer::Throttle,
        _ => Answer::Refuse(vec![false; lines.len()]),
    })
    .await;
    let (queue, metrics) = sink(&url, 10).await;
    let sent: Vec<String> = (0..1200).map(|i| format!("line {i}")).collect();
    for line in &sent {
        queue.try_send(line.clone()).expect("queued");
    }
    until(&seen, |s| s.accepted.len() >= 1200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().expect("lock");
    let taken = taken(&seen);
    assert_eq!(taken.len(), 1200, "every line got in");
    assert!(taken.values().all(|&n| n == 1), "and only once");
    assert_eq!(seen.calls[0].len(), 500, "a batch is 500 records at most");
    assert!(seen.calls.iter().all(|call| call.len() <= 500));
    assert_eq!(seen.calls[1], seen.calls[2], "the throttled call was sent again as it was");
    assert!(
        seen.calls[1].iter().any(|(_, line)| line == "line 0"),
        "refused records go first: {:?}",
        &seen.calls[1][..3]
    );
    let keys: std::collections::BTreeSet<&str> = seen.calls.iter().flatten().map(|(key, _)| key.as_str()).collect();
    assert!(keys.len() > 1400, "random partition keys, one per record sent: {}", keys.len());
    assert!(keys.iter().all(|key| key.len() == 32 && key.chars().all(|c| c.is_ascii_hexdigit())));
    assert_eq!(dropped(&metrics), 0);
}

#[tokio::test]
async fn calls_that_keep_failing_are_retried_with_backoff_and_lose_nothing() {
    common::needs!(AwsEnvironment);
    // Four throttled calls in a row: more than the SDK retries on its own (three attempts).
    let (url, seen) =
        fake(|call, lines| if call < 4 { Answer::Throttle } else { Answer::Refuse(vec![false; lines.len()]) }).await;
    let (queue, metrics) = sink(&url, 10).await;
    for i in 0..10 {
        queue.try_send(format!("line {i}")).expect("queued");
    }
    until(&seen, |s| s.accepted.len() >= 10).await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.calls.len(), 5);
    assert!(taken(&seen).values().all(|&n| n == 1));
    assert_eq!(dropped(&metrics), 0);
}

#[tokio::test]
async fn a_record_refused_every_time_is_dropped_and_counted_after_its_attempts() {
    common::needs!(AwsEnvironment);
    let (url, seen) = fake(|_, lines| Answer::Refuse(lines.iter().map(|l| l.contains("poison")).collect())).await;
    let (queue, metrics) = sink(&url, 4).await;
    for line in ["a", "b", "poison", "c"] {
        queue.try_send(line.to_owned()).expect("queued");
    }
    for _ in 0..100 {
        if dropped(&metrics) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dropped(&metrics), 1);
    let seen = seen.lock().expect("lock");
    let tries = seen.calls.iter().flatten().filter(|(_, line)| line == "poison").count();
    assert_eq!(tries, 4, "tried exactly `attempts` times");
    assert_eq!(taken(&seen), ["a", "b", "c"].into_iter().map(|l| (l.to_owned(), 1)).collect());
}

#[tokio::test]
async fn a_lone_line_goes_out_within_a_second() {
    common::needs!(AwsEnvironment);
    let (url, seen) = fake(|_, lines| Answer::Refuse(vec![false; lines.len()])).await;
    let (queue, _metrics) = sink(&url, 10).await;
    // The client is ready (its first call resolves credentials and the endpoint).
    queue.try_send("warm-up".into()).expect("queued");
    until(&seen, |s| s.accepted.len() == 1).await;
    let started = Instant::now();
    queue.try_send("alone".into()).expect("queued");
    until(&seen, |s| s.accepted.len() == 2).await;
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(1500), "flushed within a second: {waited:?}");
}

#[tokio::test]
async fn a_kinesis_that_never_answers_costs_a_request_nothing_and_the_overflow_is_counted() {
    common::needs!(AwsEnvironment);
    // Takes connections and requests, and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (log, metrics) = access_log(&url).await;
    let started = Instant::now();
    for _ in 0..20_000 {
        log.record_refused(400, None, Some("GET"), Some("/"));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "20,000 lines logged in {took:?}");
    // The queue holds 16,384 lines and the writer has taken one batch of at most 500 from it.
    let overflow = dropped(&metrics);
    assert!((20_000 - 16_384 - 500..=20_000 - 16_384).contains(&overflow), "dropped {overflow}");
}

#[tokio::test]
async fn at_exit_the_lines_held_for_a_batch_are_sent_at_once() {
    common::needs!(AwsEnvironment);
    let (url, seen) = fake(|_, lines| Answer::Refuse(vec![false; lines.len()])).await;
    let (log, _) = access_log(&url).await;
    for path in ["/a", "/b", "/c"] {
        log.record_refused(400, None, Some("GET"), Some(path));
    }
    let started = Instant::now();
    log.close(Duration::from_secs(5)).await;
    let took = started.elapsed();
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.accepted.len(), 3, "every line was sent before close returned");
    assert!(took < Duration::from_millis(900), "without waiting for a fuller batch: {took:?}");
}
