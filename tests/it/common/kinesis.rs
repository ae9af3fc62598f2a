//! moto's Kinesis (tests/services.sh starts it and exports `AWS_ENDPOINT_URL_KINESIS`, which
//! the app under test reads as it would on any machine): a fresh stream per test, and an
//! independent reader of what a stream holds.
#![allow(dead_code)]

use aws_config::BehaviorVersion;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_KINESIS").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!("AWS_ENDPOINT_URL_KINESIS is not set: the Kinesis tests need moto's server; tests/run.sh starts it (or `source tests/services.sh`)")
    })
}

pub async fn client() -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint()).load().await;
    Client::new(&config)
}

/// A fresh, active stream of `shards` shards; its name.
pub async fn fresh_stream(shards: i32) -> String {
    let name = super::services::unique("stratus-t-");
    let client = client().await;
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(shards)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto's Kinesis at {}: {e:?}", endpoint()));
    for _ in 0..50 {
        let summary = client.describe_stream_summary().stream_name(&name).send().await.expect("describe");
        if summary.stream_description_summary().is_some_and(|s| *s.stream_status() == StreamStatus::Active) {
            return name;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stream {name} did not become active");
}

/// Puts each record as it is (random partition keys, 500 to a call).
pub async fn put(stream: &str, records: &[Vec<u8>]) {
    let client = client().await;
    for chunk in records.chunks(500) {
        let entries = chunk
            .iter()
            .map(|data| {
                let key = super::services::unique("k");
                PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(Blob::new(data.clone()))
                    .build()
                    .expect("entry")
            })
            .collect();
        let output = client.put_records().stream_name(stream).set_records(Some(entries)).send().await.expect("put");
        assert_eq!(output.failed_record_count(), Some(0));
    }
}

/// Every record the stream holds, by shard, from the oldest.
pub async fn records(stream: &str) -> Vec<(String, Vec<Vec<u8>>)> {
    let client = client().await;
    let shards = client.list_shards().stream_name(stream).send().await.expect("list shards");
    let mut all = Vec::new();
    for shard in shards.shards() {
        let iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator");
        let mut iterator = iterator.shard_iterator().map(str::to_owned);
        let mut data = Vec::new();
        while let Some(current) = iterator {
            let page = client.get_records().shard_iterator(current).send().await.expect("get records");
            if page.records().is_empty() {
                break;
            }
            data.extend(page.records().iter().map(|r| r.data().as_ref().to_vec()));
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
        all.push((shard.shard_id().to_owned(), data));
    }
    all
}
