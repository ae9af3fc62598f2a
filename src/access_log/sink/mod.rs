//! Where lines go: this instance's own destination (stdout or a file) and the stream every
//! instance of a fleet appends to (a Redis Stream or a Kinesis Data Stream). Each sink is a
//! task behind a bounded queue.

mod file;
mod kinesis;
mod redis;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use self::redis::StreamSink;
pub use file::{Destination, spawn as spawn_file};
pub use kinesis::{KinesisSink, Retry};

use super::Stream;
use crate::metrics::Metrics;

/// Lines waiting for a slow destination; beyond this they are dropped and counted.
const QUEUE_LINES: usize = 16 * 1024;

/// How large a Redis Stream may grow (a Kinesis Data Stream bounds itself by its retention).
#[derive(Debug, Clone, Copy)]
pub struct StreamBounds {
    /// About this many entries (`MAXLEN ~`).
    pub max_entries: u64,
    /// About this many bytes of Redis memory.
    pub max_bytes: u64,
}

/// The stream every instance appends its lines to.
pub enum SharedSink {
    Redis(StreamSink),
    Kinesis(KinesisSink),
}

impl SharedSink {
    /// The sink writing to `stream`, a Redis Stream kept within `bounds`.
    pub fn new(stream: Stream, bounds: StreamBounds) -> Self {
        match stream {
            Stream::Redis { redis, key } => SharedSink::Redis(StreamSink {
                redis,
                key,
                max_entries: bounds.max_entries,
                max_bytes: bounds.max_bytes,
            }),
            Stream::Kinesis(kinesis) => SharedSink::Kinesis(KinesisSink { kinesis, retry: Retry::default() }),
        }
    }

    /// The stream this sink writes to, where every instance's lines are read back.
    pub fn stream(&self) -> Stream {
        match self {
            SharedSink::Redis(sink) => Stream::Redis { redis: sink.redis.clone(), key: sink.key.clone() },
            SharedSink::Kinesis(sink) => Stream::Kinesis(sink.kinesis.clone()),
        }
    }

    /// The writer's queue, and the task to wait for at exit when it holds lines back.
    pub(super) fn spawn(
        self,
        metrics: Arc<Metrics>,
        closing: watch::Receiver<bool>,
    ) -> (mpsc::Sender<String>, Option<JoinHandle<()>>) {
        match self {
            SharedSink::Redis(sink) => (sink.spawn(metrics), None),
            SharedSink::Kinesis(sink) => {
                let (queue, writer) = sink.spawn(metrics, closing);
                (queue, Some(writer))
            }
        }
    }
}
