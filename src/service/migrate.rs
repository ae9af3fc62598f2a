//! Level 2's move: copy every photo blob from one store to another (disk → S3), so the site
//! can switch `storage_url` and keep serving the photos uploaded before the switch.

use futures::StreamExt;

use crate::domain::BlobKey;
use crate::store::{Store, StoreError};

/// What a run will do, known before it copies anything.
pub struct MigrationPlan {
    /// In the source, not yet in the destination.
    pub pending: Vec<BlobKey>,
    /// Already in the destination (an earlier, maybe interrupted, run copied them).
    pub already_there: usize,
}

#[derive(Debug, Default)]
pub struct MigrationReport {
    pub copied: usize,
    /// Listed in the source but gone when read (deleted meanwhile).
    pub vanished: usize,
    pub failed: Vec<(BlobKey, StoreError)>,
}

impl MigrationPlan {
    /// Compares the two listings. Blobs are immutable and a failed put leaves nothing readable
    /// (the `Store` contract), so a key present in the destination is a complete copy: that is
    /// what makes a rerun resume where an interrupted run stopped, and copy nothing after a
    /// finished one.
    pub async fn new(from: &dyn Store, to: &dyn Store) -> Result<Self, StoreError> {
        let present: std::collections::HashSet<BlobKey> = to.list().await?.into_iter().collect();
        let mut pending = Vec::new();
        let mut already_there = 0;
        for key in from.list().await? {
            if present.contains(&key) {
                already_there += 1;
            } else {
                pending.push(key);
            }
        }
        pending.sort();
        Ok(Self { pending, already_there })
    }

    /// Copies the pending blobs, `concurrency` at a time, calling `on_done` after each. A
    /// failed blob is reported and the others go on; running again retries it.
    pub async fn run(
        self,
        from: &dyn Store,
        to: &dyn Store,
        concurrency: usize,
        on_done: impl Fn(),
    ) -> MigrationReport {
        let copies = futures::stream::iter(self.pending)
            .map(|key| async move {
                let outcome = match from.get(&key).await {
                    Ok(Some(blob)) => to.put(&key, blob.bytes.into(), &blob.content_type).await.map(|()| true),
                    Ok(None) => Ok(false),
                    Err(e) => Err(e),
                };
                (key, outcome)
            })
            .buffer_unordered(concurrency.max(1));
        futures::pin_mut!(copies);
        let mut report = MigrationReport::default();
        while let Some((key, outcome)) = copies.next().await {
            match outcome {
                Ok(true) => report.copied += 1,
                Ok(false) => report.vanished += 1,
                Err(e) => report.failed.push((key, e)),
            }
            on_done();
        }
        report
    }
}
