//! `/admin/traffic`: the latest windows of requests per client, read from where the access
//! log goes (the fleet's Redis Stream or Kinesis Data Stream, or this instance's log file)
//! with `stratus traffic`'s window computation.

use std::io::SeekFrom;
use std::path::PathBuf;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::remote::kinesis::{Kinesis, Start};
use crate::remote::redis::Redis;
use crate::traffic::kinesis::ShardReader;
use crate::traffic::{Event, Windows, stream_page};

/// How much of the end of a log file is read for the page.
const FILE_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// At most this many stream entries per refresh.
const STREAM_ENTRIES: usize = 50_000;
/// A refresh reads a Kinesis stream's shards for at most this long (each page is one call per
/// shard), so that a busy stream costs the page a bounded wait.
const KINESIS_READING: std::time::Duration = std::time::Duration::from_secs(3);
/// Windows shown, and clients per window.
const WINDOWS_SHOWN: usize = 6;
const CLIENTS_SHOWN: usize = 10;

pub enum TrafficSource {
    Stream { redis: Redis, key: String },
    Kinesis(Kinesis),
    File(PathBuf),
}

#[derive(Debug, Serialize)]
pub struct ClientBar {
    pub client_ip: String,
    pub request_count: u64,
    /// Percent of the busiest client across the windows shown, for the bar's width.
    pub percent: u64,
}

#[derive(Debug, Serialize)]
pub struct WindowView {
    pub window_start: String,
    pub total: u64,
    pub clients: Vec<ClientBar>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("reading the access log stream: {0}")]
    Stream(#[from] crate::remote::RemoteError),
    #[error("reading the access log file: {0}")]
    File(#[from] std::io::Error),
}

/// The lines of every shard that arrived since `since`, as many as [`KINESIS_READING`] and
/// [`STREAM_ENTRIES`] allow.
async fn read_kinesis(kinesis: &Kinesis, since: i64) -> Result<Vec<Vec<u8>>, crate::remote::RemoteError> {
    let stop_at = tokio::time::Instant::now() + KINESIS_READING;
    let mut shards = ShardReader::open(kinesis.clone(), Start::Since(since)).await?;
    let mut lines = Vec::new();
    while !shards.caught_up() && lines.len() < STREAM_ENTRIES && tokio::time::Instant::now() < stop_at {
        for record in shards.read(STREAM_ENTRIES - lines.len()).await? {
            lines.extend(record.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        }
    }
    Ok(lines)
}

pub struct TrafficService {
    source: Option<TrafficSource>,
    window_secs: u64,
}

impl TrafficService {
    pub fn new(source: Option<TrafficSource>, window_secs: u64) -> Self {
        Self { source, window_secs: window_secs.max(1) }
    }

    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// Where the numbers come from, in words; `None` when no access log is kept.
    pub fn source_name(&self) -> Option<String> {
        match &self.source {
            Some(TrafficSource::Stream { key, .. }) => Some(format!("Redis Stream {key} (every instance)")),
            Some(TrafficSource::Kinesis(kinesis)) => {
                Some(format!("Kinesis Data Stream {} (every instance)", kinesis.stream()))
            }
            Some(TrafficSource::File(path)) => Some(format!("{} (this instance)", path.display())),
            None => None,
        }
    }

    /// The latest windows, newest first. `Ok(None)` when no access log is kept.
    pub async fn recent(&self) -> Result<Option<Vec<WindowView>>, super::ServiceError> {
        Ok(self.read_recent().await?)
    }

    async fn read_recent(&self) -> Result<Option<Vec<WindowView>>, TrafficError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let now = crate::domain::now_unix();
        let since = now - (WINDOWS_SHOWN as i64 + 1) * self.window_secs as i64;
        let lines: Vec<Vec<u8>> = match source {
            TrafficSource::Stream { redis, key } => {
                // Stream ids start with the append time in milliseconds: a range by time.
                let start = format!("{}-0", since.max(0) * 1000);
                stream_page(redis, key, &start, STREAM_ENTRIES)
                    .await?
                    .into_iter()
                    .filter_map(|(_, line)| line)
                    .collect()
            }
            TrafficSource::Kinesis(kinesis) => read_kinesis(kinesis, since).await?,
            TrafficSource::File(path) => {
                let mut file = match tokio::fs::File::open(path).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Vec::new())),
                    Err(e) => return Err(e.into()),
                };
                let length = file.metadata().await?.len();
                file.seek(SeekFrom::Start(length.saturating_sub(FILE_TAIL_BYTES))).await?;
                let mut tail = Vec::new();
                file.read_to_end(&mut tail).await?;
                tail.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
            }
        };
        let mut windows = Windows::new(self.window_secs, 0);
        for line in &lines {
            if let Event::Request(time, ip) = Event::parse(line, now)
                && time >= since
            {
                windows.add(time, &ip);
            }
        }
        let mut views: Vec<WindowView> = Vec::new();
        for row in windows.close_all() {
            if views.last().is_none_or(|w| w.window_start != row.window_start) {
                views.push(WindowView { window_start: row.window_start.clone(), total: 0, clients: Vec::new() });
            }
            if let Some(view) = views.last_mut() {
                view.total += row.request_count;
                if view.clients.len() < CLIENTS_SHOWN {
                    view.clients.push(ClientBar {
                        client_ip: row.client_ip,
                        request_count: row.request_count,
                        percent: 0,
                    });
                }
            }
        }
        views.reverse();
        views.truncate(WINDOWS_SHOWN);
        let busiest = views.iter().flat_map(|w| &w.clients).map(|c| c.request_count).max().unwrap_or(1).max(1);
        for client in views.iter_mut().flat_map(|w| &mut w.clients) {
            client.percent = (client.request_count * 100).div_ceil(busiest);
        }
        Ok(Some(views))
    }
}
