//! Reading the access-log Redis Stream back, page by page, in the order of its entries.

use super::{Batch, ReadError, Start, TICK};
use crate::access_log::line::STREAM_FIELD;
use crate::remote::RemoteError;
use crate::remote::redis::Redis;

/// At most this many entries per round trip.
const PAGE: usize = 1000;

/// An entry as `XRANGE` returns it: its id and its field-value pairs, as bytes.
type StreamEntry = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// Up to `count` entries of the Stream from `start` (an `XRANGE` bound: `-`, `(<id>` for after
/// an id, `<ms>-0` for from a time), each its id and its line as bytes (`None` for an entry
/// without one).
async fn page(
    redis: &Redis,
    key: &str,
    start: &str,
    count: usize,
) -> Result<Vec<(String, Option<Vec<u8>>)>, RemoteError> {
    let mut range = redis::cmd("XRANGE");
    range.arg(key).arg(start).arg("+").arg("COUNT").arg(count);
    let entries: Vec<StreamEntry> = redis.query(&range).await?;
    Ok(entries
        .into_iter()
        .map(|(id, fields)| {
            let line = fields.into_iter().find(|(name, _)| name == STREAM_FIELD.as_bytes()).map(|(_, line)| line);
            (id, line)
        })
        .collect())
}

/// The Stream from a starting entry on.
pub struct Entries {
    redis: Redis,
    key: String,
    /// The `XRANGE` start of the next page.
    after: String,
    /// The last page reached the newest entry: wait a tick before the next.
    waiting: bool,
}

impl Entries {
    pub async fn open(redis: Redis, key: String, start: Start) -> Result<Self, ReadError> {
        let after = match start {
            Start::Oldest => "-".to_owned(),
            // Entry ids start with the append time in milliseconds: a range by time.
            Start::Since(unix) => format!("{}-0", unix.max(0) * 1000),
            Start::Latest => {
                let mut last = redis::cmd("XREVRANGE");
                last.arg(&key).arg("+").arg("-").arg("COUNT").arg(1);
                let newest: Result<Vec<StreamEntry>, _> = redis.query(&last).await;
                match newest {
                    Ok(newest) => newest.first().map_or_else(|| "-".to_owned(), |(id, _)| format!("({id}")),
                    Err(cause) => return Err(ReadError::Redis { key, cause }),
                }
            }
        };
        Ok(Self { redis, key, after, waiting: false })
    }

    pub async fn next(&mut self, limit: usize, follow: bool) -> Result<Batch, ReadError> {
        if std::mem::take(&mut self.waiting) {
            tokio::time::sleep(TICK).await;
        }
        let count = limit.min(PAGE);
        let entries = page(&self.redis, &self.key, &self.after, count)
            .await
            .map_err(|cause| ReadError::Redis { key: self.key.clone(), cause })?;
        let mut batch = Batch { caught_up: entries.len() < count, ..Batch::default() };
        for (id, line) in entries {
            match line {
                Some(line) => batch.lines.push(line),
                None => batch.unreadable += 1,
            }
            self.after = format!("({id}");
        }
        self.waiting = follow && batch.caught_up;
        Ok(batch)
    }
}
