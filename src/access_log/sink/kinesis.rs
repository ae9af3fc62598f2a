//! The Kinesis sink, level 6 on AWS: every instance ships its lines to one Kinesis Data Stream with
//! `PutRecords`, one record per line, in batches of at most 500 records sent at least every
//! second. Records a call refuses (a shard over its throughput, an internal failure) and
//! whole calls that fail are tried again with exponential backoff; a record refused
//! `attempts` times is dropped and counted. While a batch waits, new lines wait in the
//! bounded queue, and what does not fit there is dropped and counted: never a slower request.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::QUEUE_LINES;
use crate::access_log::line::MAX_LINE_BYTES;
use crate::metrics::Metrics;
use crate::remote::kinesis::Kinesis;

/// `PutRecords` takes at most this many records...
const MAX_RECORDS: usize = 500;
/// ... of at most this many bytes in all, partition keys included.
const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Hex digits of a partition key: 128 random bits.
const KEY_LEN: usize = 32;

// Lines are bounded (`line::MAX_LINE_BYTES`), so a full batch always fits one request and
// only the record count has to be watched.
const _: () = assert!(MAX_RECORDS * (MAX_LINE_BYTES + KEY_LEN) <= MAX_REQUEST_BYTES);

/// The first line of a batch waits at most this long for others to join it.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How records that did not get in are tried again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The wait after a call that left records behind; it doubles with each such call in a
    /// row...
    pub first: Duration,
    /// ... up to this. Each wait is drawn uniformly below its bound (full jitter), so that
    /// the instances of a fleet throttled together do not come back together.
    pub cap: Duration,
    /// A record that did not get in this many times is dropped and counted.
    pub attempts: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self { first: Duration::from_millis(100), cap: Duration::from_secs(5), attempts: 10 }
    }
}

impl Retry {
    fn wait(&self, failing_calls: u32) -> Duration {
        let bound = self.first.saturating_mul(1 << failing_calls.saturating_sub(1).min(16)).min(self.cap);
        bound.mul_f64(rand::random::<f64>())
    }
}

/// The stream and how refused records are retried.
pub struct KinesisSink {
    pub kinesis: Kinesis,
    pub retry: Retry,
}

/// A line on its way, and how many times it did not get in.
struct Pending {
    line: String,
    failures: u32,
}

/// Resolves once `closing` turns true; never when its sender is gone without that.
async fn closed_signal(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|closed| *closed).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A random partition key: the records of a flood from one client spread over every shard
/// (the windows are counted by each line's own time, so no order between records is needed).
fn partition_key() -> String {
    format!("{:0width$x}", rand::random::<u128>(), width = KEY_LEN)
}

impl KinesisSink {
    /// Starts the writer task; its queue is bounded, and what does not fit, or does not get
    /// into the stream after `retry.attempts` tries, is counted in
    /// `stratus_access_log_dropped_total{destination="stream"}`. Once `closing` turns true
    /// the task sends what is queued without waiting for fuller batches, then ends.
    pub fn spawn(
        self,
        metrics: Arc<Metrics>,
        closing: watch::Receiver<bool>,
    ) -> (mpsc::Sender<String>, JoinHandle<()>) {
        let (sender, lines) = mpsc::channel::<String>(QUEUE_LINES);
        let dropped = metrics.access_log_dropped.with_label_values(&["stream"]);
        (sender, tokio::spawn(self.run(lines, dropped, closing)))
    }

    async fn run(self, mut lines: mpsc::Receiver<String>, dropped: IntCounter, mut closing: watch::Receiver<bool>) {
        let mut batch: Vec<Pending> = Vec::with_capacity(MAX_RECORDS);
        let mut failing_calls = 0;
        loop {
            let retrying = !batch.is_empty();
            let closed = *closing.borrow();
            if !retrying {
                let first = if closed {
                    lines.try_recv().ok()
                } else {
                    tokio::select! {
                        line = lines.recv() => line,
                        () = closed_signal(&mut closing) => continue,
                    }
                };
                match first {
                    Some(line) => batch.push(Pending { line, failures: 0 }),
                    None => return,
                }
            }
            // A batch being retried has waited already, and at exit nothing waits: they take
            // only what is queued now.
            let flush_at = if retrying || closed { Instant::now() } else { Instant::now() + FLUSH_EVERY };
            while batch.len() < MAX_RECORDS {
                tokio::select! {
                    line = tokio::time::timeout_at(flush_at, lines.recv()) => match line {
                        Ok(Some(line)) => batch.push(Pending { line, failures: 0 }),
                        Ok(None) | Err(_) => break,
                    },
                    () = closed_signal(&mut closing), if !closed => break,
                }
            }
            batch = self.send(batch, &dropped).await;
            if batch.is_empty() {
                failing_calls = 0;
            } else {
                failing_calls += 1;
                tokio::time::sleep(self.retry.wait(failing_calls)).await;
            }
        }
    }

    /// One `PutRecords` call; returns the records to try again.
    async fn send(&self, batch: Vec<Pending>, dropped: &IntCounter) -> Vec<Pending> {
        let records: Vec<(String, &[u8])> = batch.iter().map(|p| (partition_key(), p.line.as_bytes())).collect();
        let refused: Vec<bool> = match self.kinesis.put_records(&records).await {
            Ok(codes) => {
                let failed = codes.iter().flatten().count();
                if failed > 0 {
                    let first = codes.iter().flatten().next().map_or("", String::as_str);
                    tracing::debug!(failed, of = codes.len(), code = first, "access log stream: records refused");
                }
                codes.iter().map(Option::is_some).collect()
            }
            Err(e) => {
                tracing::debug!(error = %e, lines = batch.len(), "access log stream: PutRecords failed");
                vec![true; batch.len()]
            }
        };
        let mut again = Vec::new();
        let mut given_up = 0;
        for (mut pending, refused) in batch.into_iter().zip(refused) {
            if !refused {
                continue;
            }
            pending.failures += 1;
            if pending.failures >= self.retry.attempts {
                given_up += 1;
            } else {
                again.push(pending);
            }
        }
        if given_up > 0 {
            dropped.inc_by(given_up);
            tracing::warn!(lines = given_up, stream = %self.kinesis.stream(), "access log stream: lines dropped after retries");
        }
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_each_drawn_below_its_bound() {
        let retry = Retry::default();
        for (failing_calls, bound_ms) in [(1, 100), (2, 200), (3, 400), (7, 5000), (40, 5000)] {
            let bound = Duration::from_millis(bound_ms);
            let waits: Vec<Duration> = (0..200).map(|_| retry.wait(failing_calls)).collect();
            assert!(waits.iter().all(|w| *w <= bound), "{failing_calls}: {waits:?}");
            assert!(waits.iter().any(|w| *w > bound / 2) && waits.iter().any(|w| *w < bound / 2), "jittered");
        }
    }
}
