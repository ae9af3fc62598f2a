//! Level 6's Kinesis stand-in: every instance appends its lines to one Redis Stream.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::remote::redis::Redis;

/// At most this many lines per round trip.
const BATCH: usize = 256;

pub fn spawn(redis: Redis, key: String, max_len: u64, metrics: Arc<Metrics>) -> mpsc::Sender<String> {
    let (sender, mut lines) = mpsc::channel::<String>(super::QUEUE_LINES);
    tokio::spawn(async move {
        let dropped = metrics.access_log_dropped.with_label_values(&["stream"]);
        let mut batch = Vec::with_capacity(BATCH);
        while lines.recv_many(&mut batch, BATCH).await > 0 {
            let mut pipeline = redis::pipe();
            for line in &batch {
                // `~`: trimmed in whole nodes, which costs Redis almost nothing.
                pipeline
                    .cmd("XADD")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(max_len)
                    .arg("*")
                    .arg(super::STREAM_FIELD)
                    .arg(line)
                    .ignore();
            }
            if let Err(e) = redis.pipeline::<()>(&pipeline).await {
                dropped.inc_by(batch.len() as u64);
                tracing::debug!(error = %e, lines = batch.len(), "access log stream: lines dropped");
            }
            batch.clear();
        }
    });
    sender
}
