//! The Redis Stream sink, level 6's Kinesis stand-in: every instance appends its lines to one Redis Stream, bounded
//! in entries (`XADD … MAXLEN ~`) and in bytes: the Redis that holds the Stream usually holds
//! the sessions and the cache too, and a flood of requests must not push them out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::QUEUE_LINES;
use crate::access_log::line::STREAM_FIELD;
use crate::metrics::Metrics;
use crate::remote::redis::Redis;

/// At most this many lines per round trip.
const BATCH: usize = 256;

/// The Stream's memory is measured at least this often while lines flow...
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// ... and also whenever this instance has appended this share of the byte bound since the last
/// measurement, so that a flood overshoots by at most that much per instance.
const MEASURE_SHARE: u64 = 16;

/// Trimming aims this far below the bound, so that one trim lasts a while.
const TRIM_TO_PERCENT: u64 = 80;

/// Where the Stream lives and how large it may grow.
pub struct StreamSink {
    pub redis: Redis,
    pub key: String,
    /// About this many entries (`MAXLEN ~`).
    pub max_entries: u64,
    /// About this many bytes of Redis memory (`MEMORY USAGE`), checked as lines are appended.
    pub max_bytes: u64,
}

impl StreamSink {
    /// Starts the writer task; its queue is bounded, and what does not fit is dropped and
    /// counted in `stratus_access_log_dropped_total{destination="stream"}`.
    pub fn spawn(self, metrics: Arc<Metrics>) -> mpsc::Sender<String> {
        let (sender, mut lines) = mpsc::channel::<String>(QUEUE_LINES);
        tokio::spawn(async move {
            let dropped = metrics.access_log_dropped.with_label_values(&["stream"]);
            let mut batch = Vec::with_capacity(BATCH);
            let (mut measured_at, mut appended_since) = (Instant::now(), 0u64);
            while lines.recv_many(&mut batch, BATCH).await > 0 {
                let mut pipeline = redis::pipe();
                for line in &batch {
                    // `~`: trimmed in whole nodes, which costs Redis almost nothing.
                    pipeline
                        .cmd("XADD")
                        .arg(&self.key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(self.max_entries)
                        .arg("*")
                        .arg(STREAM_FIELD)
                        .arg(line)
                        .ignore();
                    appended_since += line.len() as u64;
                }
                if let Err(e) = self.redis.pipeline::<()>(&pipeline).await {
                    dropped.inc_by(batch.len() as u64);
                    tracing::debug!(error = %e, lines = batch.len(), "access log stream: lines dropped");
                }
                batch.clear();
                if measured_at.elapsed() >= MEASURE_EVERY || appended_since >= self.max_bytes / MEASURE_SHARE {
                    if let Err(e) = self.trim_to_bytes().await {
                        tracing::debug!(error = %e, "access log stream: measuring its size failed");
                    }
                    (measured_at, appended_since) = (Instant::now(), 0);
                }
            }
        });
        sender
    }

    /// Trims the Stream when it takes more than `max_bytes`, to about 80 % of that, in
    /// proportion to its entries (entries of a flood are larger than the usual ones, so the
    /// proportion is measured, not assumed).
    async fn trim_to_bytes(&self) -> Result<(), crate::remote::RemoteError> {
        let usage: Option<u64> = self.redis.query(redis::cmd("MEMORY").arg("USAGE").arg(&self.key)).await?;
        let Some(usage) = usage.filter(|&usage| usage > self.max_bytes) else {
            return Ok(());
        };
        let entries: u64 = self.redis.query(redis::cmd("XLEN").arg(&self.key)).await?;
        let keep = entries.saturating_mul(self.max_bytes / 100 * TRIM_TO_PERCENT) / usage;
        tracing::info!(usage, entries, keep, "access log stream over its byte bound: trimming");
        self.redis.query::<u64>(redis::cmd("XTRIM").arg(&self.key).arg("MAXLEN").arg(keep)).await?;
        Ok(())
    }
}
