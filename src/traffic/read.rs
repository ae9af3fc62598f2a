//! Where `stratus traffic` reads lines from: a log file (or stdin), or the Redis Stream or
//! Kinesis Data Stream every instance appends to. `follow` keeps reading as lines arrive.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::{Event, WindowCount, Windows};
use crate::remote::kinesis::{Kinesis, Start};
use crate::remote::redis::Redis;

pub enum Source {
    /// A file; `-` is stdin.
    File(PathBuf),
    Stream {
        redis: Redis,
        key: String,
    },
    /// Every shard: from the oldest record, or with `follow` from now.
    Kinesis(Kinesis),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// How often a followed source is polled, and idle windows closed by the clock.
const TICK: Duration = Duration::from_millis(500);

/// How often a followed Kinesis stream is listed again for shards a resharding added.
const RELIST_SHARDS: Duration = Duration::from_secs(30);

fn now() -> i64 {
    crate::domain::now_unix()
}

/// Writes rows as they become final.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
}

/// Widest client column of the table; longer values (only a forged line has them) are cut.
const CLIENT_COLUMN: usize = 40;

/// `text` safe for a terminal: control characters (escape sequences among them) written as
/// escapes, and cut to `width` characters with a `…`.
fn terminal_safe(text: &str, width: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(width * 4));
    for (count, c) in text.chars().enumerate() {
        if count == width {
            shown.pop();
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
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
                Format::Table => writeln!(
                    self.out,
                    "{:<22} {:<40} {:>8}",
                    row.window_start,
                    terminal_safe(&row.client_ip, CLIENT_COLUMN),
                    row.request_count
                )?,
                Format::Json => writeln!(self.out, "{}", serde_json::to_string(row).unwrap_or_default())?,
            }
        }
        self.out.flush()
    }
}

/// What was read that was not counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not valid UTF-8, not JSON, or not the ten fields of an access log line.
    pub unreadable: u64,
    /// Dated beyond the horizons around the clock (see `traffic::FUTURE_HORIZON_SECS`).
    pub out_of_range: u64,
    /// Came after their window was printed.
    pub late: u64,
}

fn take(windows: &mut Windows, line: &[u8], skipped: &mut Skipped) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    match Event::parse(line, now()) {
        Event::Request(time, ip) => windows.add(time, &ip),
        Event::Unreadable => skipped.unreadable += 1,
        Event::OutOfRange => skipped.out_of_range += 1,
    }
}

/// Longest line kept whole; the rest of a longer one is read and dropped (it is unreadable:
/// no access log line is this long).
const MAX_LINE: usize = 64 * 1024;

/// Reads one line (up to and with its `\n`) into `line`, keeping at most [`MAX_LINE`] bytes of
/// it; returns the bytes consumed (0 at the end).
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room && !line.ends_with(b"\n") && done {
            line.push(b'\n');
        }
        let used = chunk.len();
        reader.consume(used);
        consumed += used;
        if done {
            return Ok(consumed);
        }
    }
}

/// Reads `source` to its end (or forever with `follow`), printing each window once final.
/// Nothing in the input stops it: what cannot be counted is skipped and counted.
pub async fn run<W: Write>(
    source: Source,
    follow: bool,
    mut windows: Windows,
    printer: &mut Printer<W>,
) -> Result<Skipped, String> {
    let mut skipped = Skipped::default();
    let mut line = Vec::new();
    match source {
        Source::File(path) if path.as_os_str() == "-" => {
            let mut stdin = BufReader::new(tokio::io::stdin());
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    read = read_line(&mut stdin, &mut line) => {
                        if read.map_err(|e| format!("stdin: {e}"))? == 0 {
                            take(&mut windows, &line, &mut skipped);
                            break;
                        }
                        if line.ends_with(b"\n") {
                            take(&mut windows, &line, &mut skipped);
                            line.clear();
                        }
                    },
                    _ = tick.tick(), if follow => printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?,
                }
            }
        }
        Source::File(path) => {
            let shown = path.display().to_string();
            let file = tokio::fs::File::open(&path).await.map_err(|e| format!("{shown}: {e}"))?;
            let mut reader = BufReader::new(file);
            let mut position = 0u64;
            loop {
                line.clear();
                let read = read_line(&mut reader, &mut line).await.map_err(|e| format!("{shown}: {e}"))?;
                if read > 0 && line.ends_with(b"\n") {
                    position += read as u64;
                    take(&mut windows, &line, &mut skipped);
                    continue;
                }
                if !follow {
                    take(&mut windows, &line, &mut skipped);
                    break;
                }
                // At the end, maybe inside a line still being written (even inside one of its
                // characters): wait for more, from where the last whole line ended.
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
        Source::Kinesis(kinesis) => {
            let name = kinesis.stream().clone();
            let failed = |e: crate::remote::RemoteError| format!("reading the Kinesis stream {name}: {e}");
            let start = if follow { Start::Latest } else { Start::Oldest };
            let mut shards = super::kinesis::ShardReader::open(kinesis, start).await.map_err(failed)?;
            let mut listed = tokio::time::Instant::now();
            loop {
                // One line per record as the sink sends them; a record of several lines (as
                // other shippers batch them) is read line by line.
                for record in shards.read(usize::MAX).await.map_err(failed)? {
                    for line in record.split(|&b| b == b'\n') {
                        take(&mut windows, line, &mut skipped);
                    }
                }
                if !shards.caught_up() {
                    continue;
                }
                if !follow {
                    break;
                }
                printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?;
                tokio::time::sleep(TICK).await;
                if listed.elapsed() >= RELIST_SHARDS {
                    shards.find_new_shards().await.map_err(failed)?;
                    listed = tokio::time::Instant::now();
                }
                shards.rearm();
            }
        }
    }
    printer.print(&windows.close_all()).map_err(|e| e.to_string())?;
    skipped.late = windows.late;
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_are_safe_for_a_terminal() {
        assert_eq!(terminal_safe("203.0.113.7", 40), "203.0.113.7");
        assert_eq!(terminal_safe("\u{1b}[2J\u{7}x", 40), "\\u{1b}[2J\\u{7}x");
        assert_eq!(terminal_safe(&"a".repeat(100), 5), "aaaa…");
    }

    #[tokio::test]
    async fn an_overlong_line_is_kept_short_and_the_next_one_read_whole() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\n");
        let mut reader = BufReader::new(&input[..]);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut reader, &mut line).await.expect("read"), MAX_LINE * 3 + 1);
        assert_eq!(line.len(), MAX_LINE + 1);
        line.clear();
        read_line(&mut reader, &mut line).await.expect("read");
        assert_eq!(line, b"next\n");
    }
}
