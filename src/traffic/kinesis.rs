//! Reading a Kinesis Data Stream back: every shard, page by page, from one starting point.
//! The windows count by each line's own time, so the shards' records need no merging.

use std::collections::BTreeMap;

use crate::remote::RemoteError;
use crate::remote::kinesis::{Kinesis, Start};

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
pub struct ShardReader {
    kinesis: Kinesis,
    start: Start,
    shards: BTreeMap<String, Shard>,
}

impl ShardReader {
    /// Lists the stream's shards and opens an iterator on each at `start`.
    pub async fn open(kinesis: Kinesis, start: Start) -> Result<Self, RemoteError> {
        let mut reader = Self { kinesis, start, shards: BTreeMap::new() };
        reader.add_new_shards(start).await?;
        Ok(reader)
    }

    /// Opens the shards the stream has gained since the last listing (a resharding made
    /// them, so everything in them is new: they are read from their oldest record).
    pub async fn find_new_shards(&mut self) -> Result<(), RemoteError> {
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
    pub fn caught_up(&self) -> bool {
        self.shards.values().all(|shard| shard.caught_up || shard.iterator.is_none())
    }

    /// Lets the next [`Self::read`] look at every shard again (following the stream).
    pub fn rearm(&mut self) {
        for shard in self.shards.values_mut() {
            shard.caught_up = false;
        }
    }

    /// One page from each shard not yet caught up, each record's data; at most about `limit`
    /// records in all.
    pub async fn read(&mut self, limit: usize) -> Result<Vec<Vec<u8>>, RemoteError> {
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
