//! Where lines are read back: a log file (or stdin), or the stream every instance appends to
//! (a Redis Stream or a Kinesis Data Stream). One [`Reader`] reads them all, once to the end or
//! following new lines; `stratus traffic` and `/admin/traffic` both read through it.

mod file;
mod kinesis;
mod redis;

use std::path::PathBuf;
use std::time::Duration;

use super::sink::Destination;
use crate::remote::RemoteError;
use crate::remote::kinesis::Kinesis;
use crate::remote::redis::Redis;

/// How long a followed source waits at its newest line before it is read again (and idle
/// windows are closed by the clock).
const TICK: Duration = Duration::from_millis(500);

/// A stream every instance appends its lines to, connected: where the shared sink writes and
/// where every instance's lines are read back.
#[derive(Clone)]
pub enum Stream {
    /// A Redis Stream under `key`.
    Redis { redis: Redis, key: String },
    /// Every shard of a Kinesis Data Stream.
    Kinesis(Kinesis),
}

/// What lines are read from.
#[derive(Clone)]
pub enum Source {
    /// A file; `-` is stdin.
    File(PathBuf),
    Stream(Stream),
}

impl Source {
    /// The one choice of what to read: `file` when one is named, else the shared stream (every
    /// instance's lines), else this instance's own log file; `None` when there is none.
    pub fn read_back(file: Option<PathBuf>, stream: Option<Stream>, own_log: &Destination) -> Option<Self> {
        match (file, stream, own_log) {
            (Some(path), _, _) => Some(Source::File(path)),
            (None, Some(stream), _) => Some(Source::Stream(stream)),
            (None, None, Destination::File(path)) => Some(Source::File(path.clone())),
            (None, None, Destination::Off | Destination::Stdout) => None,
        }
    }

    /// Where the lines come from, in words.
    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => format!("{} (this instance)", path.display()),
            Source::Stream(Stream::Redis { key, .. }) => format!("Redis Stream {key} (every instance)"),
            Source::Stream(Stream::Kinesis(kinesis)) => {
                format!("Kinesis Data Stream {} (every instance)", kinesis.stream())
            }
        }
    }
}

/// Where reading begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest line the source still holds.
    Oldest,
    /// Lines added from now on.
    Latest,
    /// Lines from about this Unix time on: a stream's by its arrival time; a file (which cannot
    /// be searched by time) from its last few megabytes, to be filtered by each line's own time.
    Since(i64),
}

/// The lines one read returned.
#[derive(Debug, Default)]
pub struct Batch {
    /// Each line without its `\n`, as bytes: whoever can write to a stream can write
    /// anything.
    pub lines: Vec<Vec<u8>>,
    /// Stream entries that held no line at all.
    pub unreadable: u64,
    /// The read reached the newest line there is for now.
    pub caught_up: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{name}: {cause}")]
    File { name: String, cause: std::io::Error },
    #[error("reading the stream {key}: {cause}")]
    Redis { key: String, cause: RemoteError },
    #[error("reading the Kinesis stream {name}: {cause}")]
    Kinesis { name: String, cause: RemoteError },
}

impl ReadError {
    /// A stream server that did not answer (an outage that passes), not a file problem.
    pub fn is_stream(&self) -> bool {
        matches!(self, ReadError::Redis { .. } | ReadError::Kinesis { .. })
    }

    /// The file to read does not exist (yet).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, ReadError::File { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound)
    }
}

enum Kind {
    Stdin(file::StdinLines),
    File(file::FileLines),
    Redis(redis::Entries),
    Kinesis(kinesis::Records),
}

/// Reads one source from a starting point, in batches.
pub struct Reader {
    kind: Kind,
    follow: bool,
    ended: bool,
}

impl Reader {
    /// Opens `source` at `start` (stdin has no start: it is read as it comes). With `follow` the
    /// reader goes on past the newest line: each read there waits a moment for more.
    pub async fn open(source: Source, start: Start, follow: bool) -> Result<Self, ReadError> {
        let kind = match source {
            Source::File(path) if path.as_os_str() == "-" => Kind::Stdin(file::StdinLines::open()),
            Source::File(path) => Kind::File(file::FileLines::open(path, start).await?),
            Source::Stream(Stream::Redis { redis, key }) => {
                Kind::Redis(self::redis::Entries::open(redis, key, start).await?)
            }
            Source::Stream(Stream::Kinesis(kinesis)) => Kind::Kinesis(kinesis::Records::open(kinesis, start).await?),
        };
        Ok(Self { kind, follow, ended: false })
    }

    /// The next lines, at most about `limit`; `None` once the source is read to its end (never
    /// when following, except for stdin once it closes).
    pub async fn next(&mut self, limit: usize) -> Result<Option<Batch>, ReadError> {
        if self.ended {
            return Ok(None);
        }
        let limit = limit.max(1);
        let batch = match &mut self.kind {
            Kind::Stdin(stdin) => stdin.next(limit, self.follow).await?,
            Kind::File(file) => file.next(limit, self.follow).await?,
            Kind::Redis(entries) => entries.next(limit, self.follow).await?,
            Kind::Kinesis(records) => records.next(limit, self.follow).await?,
        };
        let closed = matches!(&self.kind, Kind::Stdin(stdin) if stdin.closed());
        self.ended = closed || (batch.caught_up && !self.follow);
        Ok(Some(batch))
    }
}
