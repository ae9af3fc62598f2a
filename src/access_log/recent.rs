//! `/admin/traffic`: the latest windows of requests per client, read back through the one
//! [`Reader`] from where the access log goes (the fleet's stream, or this instance's file),
//! with `stratus traffic`'s window computation.

use serde::Serialize;

use super::line::Event;
use super::source::{ReadError, Reader, Source, Start};
use super::windows::Windows;

/// At most this many lines per refresh...
const LINES_READ: usize = 50_000;
/// ... read for at most this long (a Kinesis stream costs one call per shard and page), so
/// that a busy source costs the page a bounded wait.
const READING: std::time::Duration = std::time::Duration::from_secs(3);
/// Windows shown, and clients per window.
const WINDOWS_SHOWN: usize = 6;
const CLIENTS_SHOWN: usize = 10;

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

pub struct TrafficService {
    source: Option<Source>,
    window_secs: u64,
}

impl TrafficService {
    /// The page over `source` (`None`: no access log is kept), in windows of `window_secs`.
    pub fn new(source: Option<Source>, window_secs: u64) -> Self {
        Self { source, window_secs: window_secs.max(1) }
    }

    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }

    /// Where the numbers come from, in words; `None` when no access log is kept.
    pub fn source_name(&self) -> Option<String> {
        self.source.as_ref().map(Source::describe)
    }

    /// The latest windows, newest first. `Ok(None)` when no access log is kept; no windows
    /// while the log file does not exist yet.
    pub async fn recent(&self) -> Result<Option<Vec<WindowView>>, ReadError> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let now = crate::domain::now_unix();
        let since = now - (WINDOWS_SHOWN as i64 + 1) * self.window_secs as i64;
        let mut reader = match Reader::open(source.clone(), Start::Since(since), false).await {
            Ok(reader) => reader,
            Err(e) if e.is_missing_file() => return Ok(Some(Vec::new())),
            Err(e) => return Err(e),
        };
        let stop_at = tokio::time::Instant::now() + READING;
        let mut windows = Windows::new(self.window_secs, 0);
        let mut read = 0;
        while read < LINES_READ && tokio::time::Instant::now() < stop_at {
            let Some(batch) = reader.next(LINES_READ - read).await? else {
                break;
            };
            read += batch.lines.len() + batch.unreadable as usize;
            for line in &batch.lines {
                if let Event::Request(time, ip) = Event::parse(line, now)
                    && time >= since
                {
                    windows.add(time, &ip);
                }
            }
        }
        Ok(Some(views(&mut windows)))
    }
}

/// The windows newest first, each with its busiest clients and their bars.
fn views(windows: &mut Windows) -> Vec<WindowView> {
    let mut views: Vec<WindowView> = Vec::new();
    for row in windows.close_all() {
        if views.last().is_none_or(|w| w.window_start != row.window_start) {
            views.push(WindowView { window_start: row.window_start.clone(), total: 0, clients: Vec::new() });
        }
        if let Some(view) = views.last_mut() {
            view.total += row.request_count;
            if view.clients.len() < CLIENTS_SHOWN {
                view.clients.push(ClientBar { client_ip: row.client_ip, request_count: row.request_count, percent: 0 });
            }
        }
    }
    views.reverse();
    views.truncate(WINDOWS_SHOWN);
    let busiest = views.iter().flat_map(|w| &w.clients).map(|c| c.request_count).max().unwrap_or(1).max(1);
    for client in views.iter_mut().flat_map(|w| &mut w.clients) {
        client.percent = (client.request_count * 100).div_ceil(busiest);
    }
    views
}
