//! Level 6 on AWS: a Kinesis Data Stream, through the AWS SDK, which finds the region and the
//! credentials by the standard chain (environment, profile, web identity, container or
//! instance role), signs with SigV4, retries throttled calls with backoff, and reads the
//! endpoint overrides `AWS_ENDPOINT_URL_KINESIS` and `AWS_ENDPOINT_URL` (the S3 store does not
//! read the first, so pointing Kinesis elsewhere leaves S3 alone).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};

use super::RemoteError;

/// A Kinesis stream's name as the service accepts it: 1–128 of `a-z A-Z 0-9 _ . -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName(String);

impl StreamName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if (1..=128).contains(&name.len()) && name.chars().all(allowed) {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!("{name:?} is not a Kinesis stream name (1 to 128 of a-z, A-Z, 0-9, _ . -)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StreamName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// No single attempt of a call waits longer than this for its answer...
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and no call, retries included, longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a shard is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest record the stream still holds.
    Oldest,
    /// Records added from now on.
    Latest,
    /// Records that arrived at or after this Unix time.
    Since(i64),
}

/// One page of a shard: its records' data, the iterator for the next page (`None` once a
/// closed shard is read to its end), and whether the page reached the newest record.
pub struct Page {
    pub records: Vec<Vec<u8>>,
    pub last_sequence: Option<String>,
    pub next: Option<String>,
    pub caught_up: bool,
}

/// A stream, and the client that reaches it.
#[derive(Clone)]
pub struct Kinesis {
    client: aws_sdk_kinesis::Client,
    stream: StreamName,
}

fn sdk_error<E: std::error::Error + 'static>(error: E) -> RemoteError {
    RemoteError::Kinesis(DisplayErrorContext(error).to_string())
}

impl Kinesis {
    /// The stream, reached as the standard AWS chain says; `endpoint` overrides the
    /// endpoint that chain would pick. Fails when no region is configured anywhere.
    pub async fn connect(stream: StreamName, endpoint: Option<&str>) -> Result<Self, RemoteError> {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        if shared.region().is_none() {
            return Err(RemoteError::Kinesis(
                "no AWS region: set AWS_REGION, a profile's region, or run on an instance that has one".into(),
            ));
        }
        let mut config = aws_sdk_kinesis::config::Builder::from(&shared);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(Self { client: aws_sdk_kinesis::Client::from_conf(config.build()), stream })
    }

    pub fn stream(&self) -> &StreamName {
        &self.stream
    }

    /// Sends `records` (partition key, data) in one `PutRecords` call. `Ok` holds, in the
    /// order sent, the error code of each record the stream refused (`None` for one it took);
    /// `Err` when the whole call failed (after the SDK's retries of throttled calls).
    pub async fn put_records(&self, records: &[(String, &[u8])]) -> Result<Vec<Option<String>>, RemoteError> {
        let entries = records
            .iter()
            .map(|(key, data)| {
                PutRecordsRequestEntry::builder().partition_key(key).data(Blob::new(*data)).build().map_err(sdk_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .put_records()
            .stream_name(self.stream.as_str())
            .set_records(Some(entries))
            .send()
            .await
            .map_err(sdk_error)?;
        if output.records().len() != records.len() {
            return Err(RemoteError::Kinesis(format!(
                "PutRecords answered for {} records of {}",
                output.records().len(),
                records.len()
            )));
        }
        Ok(output.records().iter().map(|entry| entry.error_code().map(str::to_owned)).collect())
    }

    /// Every shard of the stream, open and closed (a closed one still holds its records
    /// until they expire), by id.
    pub async fn shards(&self) -> Result<Vec<String>, RemoteError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // With a token the call must not name the stream again.
            let call = match &token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(self.stream.as_str()),
            };
            let output = call.send().await.map_err(sdk_error)?;
            shards.extend(output.shards().iter().map(|shard| shard.shard_id().to_owned()));
            match output.next_token() {
                Some(next) => token = Some(next.to_owned()),
                None => return Ok(shards),
            }
        }
    }

    /// An iterator over `shard` from `start`, or from just after `after` (a sequence number
    /// read before) when given.
    pub async fn iterator(&self, shard: &str, start: Start, after: Option<&str>) -> Result<String, RemoteError> {
        let call = self.client.get_shard_iterator().stream_name(self.stream.as_str()).shard_id(shard);
        let call = match (after, start) {
            (Some(sequence), _) => {
                call.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(sequence)
            }
            (None, Start::Oldest) => call.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (None, Start::Latest) => call.shard_iterator_type(ShardIteratorType::Latest),
            (None, Start::Since(unix)) => {
                call.shard_iterator_type(ShardIteratorType::AtTimestamp).timestamp(DateTime::from_secs(unix))
            }
        };
        let output = call.send().await.map_err(sdk_error)?;
        output
            .shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| RemoteError::Kinesis(format!("no iterator for shard {shard}")))
    }

    /// Up to `limit` records from `iterator`. `Ok(None)` when the iterator expired (they
    /// last five minutes): open a new one after the last record read.
    pub async fn page(&self, iterator: &str, limit: i32) -> Result<Option<Page>, RemoteError> {
        let output = match self.client.get_records().shard_iterator(iterator).limit(limit).send().await {
            Ok(output) => output,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_expired_iterator_exception()) => return Ok(None),
            Err(e) => return Err(sdk_error(e)),
        };
        let records: Vec<Vec<u8>> = output.records().iter().map(|record| record.data().as_ref().to_vec()).collect();
        Ok(Some(Page {
            caught_up: records.is_empty() && output.millis_behind_latest().unwrap_or(0) == 0,
            last_sequence: output.records().last().map(|record| record.sequence_number().to_owned()),
            next: output.next_shard_iterator().map(str::to_owned),
            records,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_what_kinesis_accepts() {
        assert_eq!(StreamName::parse("stratus-access_log.1").expect("name").as_str(), "stratus-access_log.1");
        assert!(StreamName::parse(&"s".repeat(128)).is_ok());
        for bad in ["", "a/b", "a b", "ünï", "arn:aws:kinesis:us-east-1:1:stream/x", &"s".repeat(129)] {
            assert!(StreamName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
