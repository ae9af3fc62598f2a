//! `stratus traffic`: the query over a source, each window printed once final, as a table or
//! as JSON lines.

use std::io::Write;

use super::line::Event;
use super::source::{Reader, Source, Start, Stream};
use super::windows::{WindowCount, Windows};

/// How rows are printed: an aligned table, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

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
    /// Dated beyond the horizons around the clock (see `line::FUTURE_HORIZON_SECS`).
    pub out_of_range: u64,
    /// Came after their window was printed.
    pub late: u64,
}

/// Counts `line` in its window, or as skipped; blank lines are neither.
fn take(windows: &mut Windows, line: &[u8], skipped: &mut Skipped) {
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

/// Reads `source` to its end (or forever with `follow`), printing each window once final.
/// Nothing in the input stops it: what cannot be counted is skipped and counted.
pub async fn run<W: Write>(
    source: Source,
    follow: bool,
    mut windows: Windows,
    printer: &mut Printer<W>,
) -> Result<Skipped, String> {
    // A Kinesis stream holds a day of every instance's lines: following one starts from now.
    // A file and a Redis Stream (bounded) are read from their start either way.
    let start = match &source {
        Source::Stream(Stream::Kinesis(_)) if follow => Start::Latest,
        _ => Start::Oldest,
    };
    let mut reader = Reader::open(source, start, follow).await.map_err(|e| e.to_string())?;
    let mut skipped = Skipped::default();
    while let Some(batch) = reader.next(usize::MAX).await.map_err(|e| e.to_string())? {
        skipped.unreadable += batch.unreadable;
        for line in &batch.lines {
            take(&mut windows, line, &mut skipped);
        }
        if follow && batch.caught_up {
            printer.print(&windows.close_ready(now())).map_err(|e| e.to_string())?;
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
}
