//! Reading a Kinesis Data Stream back: every shard, page by page, from one starting point.
//! The windows count by each line's own time, so the shards' records need no merging.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Batch, ReadError, TICK};
use crate::remote::RemoteError;
use crate::remote::kinesis::{Kinesis, Start};

/// How often a followed stream is listed again for shards a resharding added.
const RELIST_SHARDS: Duration = Duration::from_secs(30);

/// The most records one `GetRecords` call may return.
const PAGE_RECORDS: i32 = 10_000;

struct Shard {
    /// `None` once a closed shard has been read to its end.
    iterator: Option<String>,
    /// The last record read, where a new iterator starts when this one expires.
    last_sequence: Option<String>,
    /// Read up to its newest record at the last page.
    caught_up: bool,
}

/// Every shard of a stream, each read from the same starting point.
struct ShardReader {
    kinesis: Kinesis,
    start: Start,
    shards: BTreeMap<String, Shard>,
}

impl ShardReader {
    /// Lists the stream's shards and opens an iterator on each at `start`.
    async fn open(kinesis: Kinesis, start: Start) -> Result<Self, RemoteError> {
        let mut reader = Self { kinesis, start, shards: BTreeMap::new() };
        reader.add_new_shards(start).await?;
        Ok(reader)
    }

    /// Opens the shards the stream has gained since the last listing (a resharding made
    /// them, so everything in them is new: they are read from their oldest record).
    async fn find_new_shards(&mut self) -> Result<(), RemoteError> {
        self.add_new_shards(Start::Oldest).await
    }

    async fn add_new_shards(&mut self, start: Start) -> Result<(), RemoteError> {
        for id in self.kinesis.shards().await? {
            if !self.shards.contains_key(&id) {
                let iterator = self.kinesis.iterator(&id, start, None).await?;
                self.shards.insert(id, Shard { iterator: Some(iterator), last_sequence: None, caught_up: false });
            }
        }
        Ok(())
    }

    /// Whether every shard was read up to its newest record (or to its end).
    fn caught_up(&self) -> bool {
        self.shards.values().all(|shard| shard.caught_up || shard.iterator.is_none())
    }

    /// Lets the next [`Self::read`] look at every shard again (following the stream).
    fn rearm(&mut self) {
        for shard in self.shards.values_mut() {
            shard.caught_up = false;
        }
    }

    /// One page from each shard not yet caught up, each record's data; at most about `limit`
    /// records in all.
    async fn read(&mut self, limit: usize) -> Result<Vec<Vec<u8>>, RemoteError> {
        let mut records = Vec::new();
        for (id, shard) in &mut self.shards {
            let Some(iterator) = shard.iterator.clone().filter(|_| !shard.caught_up) else {
                continue;
            };
            let room = limit.saturating_sub(records.len()).clamp(1, PAGE_RECORDS as usize);
            let page = match self.kinesis.page(&iterator, room as i32).await? {
                Some(page) => page,
                None => {
                    let after = shard.last_sequence.as_deref();
                    shard.iterator = Some(self.kinesis.iterator(id, self.start, after).await?);
                    continue;
                }
            };
            shard.caught_up = page.caught_up;
            shard.iterator = page.next;
            shard.last_sequence = page.last_sequence.or(shard.last_sequence.take());
            records.extend(page.records);
            if records.len() >= limit {
                break;
            }
        }
        Ok(records)
    }
}

/// The stream's records as lines, from a starting point on.
pub struct Records {
    shards: ShardReader,
    listed: tokio::time::Instant,
    /// Every shard was caught up at the last read: wait a tick, then look at each again.
    waiting: bool,
}

impl Records {
    pub async fn open(kinesis: Kinesis, start: super::Start) -> Result<Self, ReadError> {
        let name = kinesis.stream().to_string();
        let start = match start {
            super::Start::Oldest => Start::Oldest,
            super::Start::Latest => Start::Latest,
            super::Start::Since(unix) => Start::Since(unix),
        };
        let shards = ShardReader::open(kinesis, start).await.map_err(|cause| ReadError::Kinesis { name, cause })?;
        Ok(Self { shards, listed: tokio::time::Instant::now(), waiting: false })
    }

    pub async fn next(&mut self, limit: usize, follow: bool) -> Result<Batch, ReadError> {
        let name = self.shards.kinesis.stream().to_string();
        let failed = |cause: RemoteError| ReadError::Kinesis { name: name.clone(), cause };
        if std::mem::take(&mut self.waiting) {
            tokio::time::sleep(TICK).await;
            if self.listed.elapsed() >= RELIST_SHARDS {
                self.shards.find_new_shards().await.map_err(failed)?;
                self.listed = tokio::time::Instant::now();
            }
            self.shards.rearm();
        }
        let mut batch = Batch::default();
        // One line per record as the sink sends them; a record of several lines (as other
        // shippers batch them) is read line by line.
        for record in self.shards.read(limit).await.map_err(failed)? {
            batch.lines.extend(record.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        }
        batch.caught_up = self.shards.caught_up();
        self.waiting = follow && batch.caught_up;
        Ok(batch)
    }
}
