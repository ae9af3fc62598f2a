//! Reading a log file (or stdin) line by line: a line longer than any access log line is cut,
//! and a followed file is read on as it grows, from its start again once rotated.

use std::path::PathBuf;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::{Batch, ReadError, Start, TICK};

/// Longest line kept whole; the rest of a longer one is read and dropped (it is unreadable:
/// no access log line is this long).
const MAX_LINE: usize = 64 * 1024;

/// At most this many lines per batch, so that a large file is never held whole.
const BATCH_LINES: usize = 1000;

/// How much of the end of a file is read for a start by time.
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

/// Reads one line (up to and with its `\n`) into `line`, keeping at most [`MAX_LINE`] bytes of
/// it; returns the bytes consumed (0 at the end). Safe to cancel: what was consumed is in `line`.
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

/// `line` without its `\n`.
fn without_break(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    line
}

/// Standard input, read as it comes.
pub struct StdinLines {
    reader: BufReader<tokio::io::Stdin>,
    /// The line being read, kept across reads that waited too long for its end.
    line: Vec<u8>,
    closed: bool,
}

impl StdinLines {
    pub fn open() -> Self {
        Self { reader: BufReader::new(tokio::io::stdin()), line: Vec::new(), closed: false }
    }

    /// Whether the input has ended.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Whole lines up to `limit`; when following, what arrived within a tick (the input is
    /// live, so that is always the newest). At the end, the last line even without its `\n`.
    pub async fn next(&mut self, limit: usize, follow: bool) -> Result<Batch, ReadError> {
        let deadline = tokio::time::Instant::now() + TICK;
        let mut batch = Batch { caught_up: follow, ..Batch::default() };
        while batch.lines.len() < limit.min(BATCH_LINES) {
            let reading = read_line(&mut self.reader, &mut self.line);
            let read = if follow {
                match tokio::time::timeout_at(deadline, reading).await {
                    Ok(read) => read,
                    Err(_) => return Ok(batch),
                }
            } else {
                reading.await
            };
            let read = read.map_err(|cause| ReadError::File { name: "stdin".into(), cause })?;
            if read == 0 {
                if !self.line.is_empty() {
                    batch.lines.push(std::mem::take(&mut self.line));
                }
                (self.closed, batch.caught_up) = (true, true);
                return Ok(batch);
            }
            if self.line.ends_with(b"\n") {
                batch.lines.push(without_break(std::mem::take(&mut self.line)));
            }
        }
        Ok(batch)
    }
}

/// A file from a position on; when followed, reopened at each read at its end, so that a
/// rotation (a new, shorter file under the name) is noticed.
pub struct FileLines {
    path: PathBuf,
    name: String,
    reader: BufReader<tokio::fs::File>,
    /// Where the last whole line read ends.
    position: u64,
    line: Vec<u8>,
    /// The last read reached the end: wait a tick, then reopen.
    at_end: bool,
}

impl FileLines {
    pub async fn open(path: PathBuf, start: Start) -> Result<Self, ReadError> {
        let name = path.display().to_string();
        let failed = |cause: std::io::Error| ReadError::File { name: name.clone(), cause };
        let mut file = tokio::fs::File::open(&path).await.map_err(failed)?;
        let length = file.metadata().await.map_err(failed)?.len();
        let position = match start {
            Start::Oldest => 0,
            Start::Latest => length,
            Start::Since(_) => length.saturating_sub(TAIL_BYTES),
        };
        file.seek(std::io::SeekFrom::Start(position)).await.map_err(failed)?;
        Ok(Self { path, name, reader: BufReader::new(file), position, line: Vec::new(), at_end: false })
    }

    fn failed(&self, cause: std::io::Error) -> ReadError {
        ReadError::File { name: self.name.clone(), cause }
    }

    async fn reopen(&mut self) -> Result<(), ReadError> {
        let length = tokio::fs::metadata(&self.path).await.map(|m| m.len()).unwrap_or(0);
        let mut file = tokio::fs::File::open(&self.path).await.map_err(|e| self.failed(e))?;
        // Shorter than what was read: rotated or truncated, so start the new file over.
        if length < self.position {
            self.position = 0;
        }
        file.seek(std::io::SeekFrom::Start(self.position)).await.map_err(|e| self.failed(e))?;
        self.reader = BufReader::new(file);
        Ok(())
    }

    /// Whole lines up to `limit`. At the end, not following: the last line even without its
    /// `\n`; following: that part is read again next time, from where the last whole line ended
    /// (it may be a line still being written, even inside one of its characters).
    pub async fn next(&mut self, limit: usize, follow: bool) -> Result<Batch, ReadError> {
        if std::mem::take(&mut self.at_end) {
            tokio::time::sleep(TICK).await;
            self.reopen().await?;
        }
        let mut batch = Batch::default();
        while batch.lines.len() < limit.min(BATCH_LINES) {
            self.line.clear();
            let read = read_line(&mut self.reader, &mut self.line).await.map_err(|e| self.failed(e))?;
            if read > 0 && self.line.ends_with(b"\n") {
                self.position += read as u64;
                batch.lines.push(without_break(std::mem::take(&mut self.line)));
                continue;
            }
            if !follow && !self.line.is_empty() {
                batch.lines.push(std::mem::take(&mut self.line));
            }
            (self.at_end, batch.caught_up) = (follow, true);
            break;
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
