//! Where `stratus traffic` reads lines from: a log file (or stdin), or the Redis Stream every
//! instance appends to. `follow` keeps reading as lines arrive.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::{Event, WindowCount, Windows};
use crate::remote::redis::Redis;

pub enum Source {
    /// A file; `-` is stdin.
    File(PathBuf),
    Stream {
        redis: Redis,
        key: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// How often a followed source is polled, and idle windows closed by the clock.
const TICK: Duration = Duration::from_millis(500);

fn now() -> i64 {
    crate::domain::now_unix()
}

/// Writes rows as they become final.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Self { out, format, header_done: false }
    }

    pub fn print(&mut self, rows: &[WindowCount]) -> std::io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.format == Format::Table && !self.header_done {
            writeln!(self.out, "{:<22} {:<40} {:>8}", "window_start", "client_ip", "requests")?;
            self.header_done = true;
        }
        for row in rows {
            match self.format {
                Format::Table => {
                    writeln!(self.out, "{:<22} {:<40} {:>8}", row.window_start, row.client_ip, row.request_count)?
                }
                Format::Json => writeln!(self.out, "{}", serde_json::to_string(row).unwrap_or_default())?,
            }
        }
        self.out.flush()
    }
}

/// What was read that was not an access log line, or came too late to count.
#[derive(Debug, Default)]
pub struct Skipped {
    pub unreadable: u64,
    pub late: u64,
}

fn take(windows: &mut Windows, line: &str, skipped: &mut Skipped) {
    match Event::parse(line) {
        Some((time, ip)) => windows.add(time, &ip),
        None if line.trim().is_empty() => {}
        None => skipped.unreadable += 1,
    }
}

/// Reads `source` to its end (or forever with `follow`), printing each window once final.
pub async fn run<W: Write>(
    source: Source,
    follow: bool,
    mut windows: Windows,
    printer: &mut Printer<W>,
) -> Result<Skipped, String> {
    let mut skipped = Skipped::default();
    match source {
        Source::File(path) if path.as_os_str() == "-" => {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    line = lines.next_line() => match line.map_err(|e| format!("stdin: {e}"))? {
                        Some(line) => take(&mut windows, &line, &mut skipped),
                        None => break,
                    },
                    _ = tick.tick(), if follow => printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?,
                }
            }
        }
        Source::File(path) => {
            let shown = path.display().to_string();
            let file = tokio::fs::File::open(&path).await.map_err(|e| format!("{shown}: {e}"))?;
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            let mut position = 0u64;
            loop {
                line.clear();
                let read = reader.read_line(&mut line).await.map_err(|e| format!("{shown}: {e}"))?;
                if read > 0 && line.ends_with('\n') {
                    position += read as u64;
                    take(&mut windows, &line, &mut skipped);
                    continue;
                }
                if !follow {
                    take(&mut windows, &line, &mut skipped);
                    break;
                }
                // At the end (maybe mid-line): wait for more, from where the last full line ended.
                printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?;
                tokio::time::sleep(TICK).await;
                let length = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
                let mut file = tokio::fs::File::open(&path).await.map_err(|e| format!("{shown}: {e}"))?;
                // Shorter than what was read: rotated or truncated, so start the new file over.
                if length < position {
                    position = 0;
                }
                file.seek(std::io::SeekFrom::Start(position)).await.map_err(|e| format!("{shown}: {e}"))?;
                reader = BufReader::new(file);
            }
        }
        Source::Stream { redis, key } => {
            let mut after = "-".to_owned();
            loop {
                let entries = super::stream_page(&redis, &key, &after, 1000)
                    .await
                    .map_err(|e| format!("reading the stream {key}: {e}"))?;
                for (id, line) in &entries {
                    match line {
                        Some(line) => take(&mut windows, line, &mut skipped),
                        None => skipped.unreadable += 1,
                    }
                    after = format!("({id}");
                }
                if entries.len() == 1000 {
                    continue;
                }
                if !follow {
                    break;
                }
                printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?;
                tokio::time::sleep(TICK).await;
            }
        }
    }
    printer.print(&windows.close_all()).map_err(|e| e.to_string())?;
    skipped.late = windows.late;
    Ok(skipped)
}
