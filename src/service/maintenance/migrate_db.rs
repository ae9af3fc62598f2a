//! `stratus migrate-db`: copy every durable table from one database to another (SQLite ⇄
//! MySQL), keeping ids, in batches that each commit in one transaction, so that a killed run
//! leaves whole batches behind and a rerun finishes the job.

use std::collections::HashMap;

use super::{Digester, MaintenanceError, Refusal, TableDigest};
use crate::db::{DbError, Repo, UserRecord};
use crate::domain::{Conflict, Photo, PhotoId, UserId};

/// What one table's copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub name: &'static str,
    /// Rows the destination was missing, now written.
    pub copied: u64,
    /// The table as both databases now hold it (counts and checksums agree).
    pub digest: TableDigest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableCopy>,
}

impl CopyReport {
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }
}

/// One durable table, as the copy sees it: rows in id order, written in batches.
#[rocket::async_trait]
trait Table {
    type Row: PartialEq + serde::Serialize + Send + Sync + Clone + 'static;
    type Id: Copy + Ord + std::hash::Hash + std::fmt::Display + Send + Sync;
    const NAME: &'static str;
    fn id(row: &Self::Row) -> Self::Id;
    fn describe(row: &Self::Row) -> String;
    async fn count(repo: &dyn Repo) -> Result<u64, DbError>;
    async fn after(repo: &dyn Repo, after: Option<Self::Id>, limit: u32) -> Result<Vec<Self::Row>, DbError>;
    async fn insert(repo: &dyn Repo, rows: Vec<Self::Row>) -> Result<Result<(), Conflict>, DbError>;
}

struct Users;
struct Photos;

#[rocket::async_trait]
impl Table for Users {
    type Row = UserRecord;
    type Id = UserId;
    const NAME: &'static str = "users";
    fn id(row: &UserRecord) -> UserId {
        row.id
    }
    fn describe(row: &UserRecord) -> String {
        format!("user {} ({})", row.id, row.username)
    }
    async fn count(repo: &dyn Repo) -> Result<u64, DbError> {
        repo.count_users().await
    }
    async fn after(repo: &dyn Repo, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, DbError> {
        repo.users_after(after, limit).await
    }
    async fn insert(repo: &dyn Repo, rows: Vec<UserRecord>) -> Result<Result<(), Conflict>, DbError> {
        repo.insert_users_bulk(rows).await
    }
}

#[rocket::async_trait]
impl Table for Photos {
    type Row = Photo;
    type Id = PhotoId;
    const NAME: &'static str = "photos";
    fn id(row: &Photo) -> PhotoId {
        row.id
    }
    fn describe(row: &Photo) -> String {
        format!("photo {} ({})", row.id, row.key)
    }
    async fn count(repo: &dyn Repo) -> Result<u64, DbError> {
        repo.count_photos().await
    }
    async fn after(repo: &dyn Repo, after: Option<PhotoId>, limit: u32) -> Result<Vec<Photo>, DbError> {
        repo.photos_after(after, limit).await
    }
    async fn insert(repo: &dyn Repo, rows: Vec<Photo>) -> Result<Result<(), Conflict>, DbError> {
        // The ids were just checked to be absent and every owner was copied before: a failure
        // here is the database's, not a conflict.
        repo.insert_photos_bulk(rows).await.map(Ok)
    }
}

/// Called after each batch with the table's name, the rows done so far and the table's size.
pub type OnProgress<'a> = &'a (dyn Fn(&str, u64, u64) + Send + Sync);

/// Copies users, then photos (their owners first), from `from` to `to`, keeping ids, hashes and
/// roles. Rows the destination already holds identically are skipped, so a rerun after an
/// interruption finishes the copy and a rerun after success copies nothing. A destination
/// row that differs from the source's, or that the source does not have, is a `Refusal`
/// naming the first such row in id order; rows of earlier batches stay (they equal the
/// source's). At the end both sides' counts and checksums are compared per table.
pub async fn copy_database(
    from: &dyn Repo,
    to: &dyn Repo,
    batch: u32,
    on_progress: OnProgress<'_>,
) -> Result<Result<CopyReport, Refusal>, MaintenanceError> {
    let batch = batch.max(1);
    // A destination holding rows is compared in full before anything is written: a row it
    // holds that the source lacks may sort after every source row, and finding it only at the
    // end would leave the source's rows mixed into another site's database.
    if to.count_users().await? + to.count_photos().await? > 0 {
        if let Err(refusal) = copy_table::<Users>(from, to, batch, Pass::Compare, on_progress).await? {
            return Ok(Err(refusal));
        }
        if let Err(refusal) = copy_table::<Photos>(from, to, batch, Pass::Compare, on_progress).await? {
            return Ok(Err(refusal));
        }
    }
    // One table after the other, stopping at a refusal: photos need their owners copied.
    let users = match copy_table::<Users>(from, to, batch, Pass::Copy, on_progress).await? {
        Ok(copied) => copied,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let photos = match copy_table::<Photos>(from, to, batch, Pass::Copy, on_progress).await? {
        Ok(copied) => copied,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // Verified after both copies: a photo's row digest includes its owner's name.
    let users = match verify::<Users>(from, to, batch).await? {
        Ok(digest) => TableCopy { digest, ..users },
        Err(refusal) => return Ok(Err(refusal)),
    };
    let photos = match verify::<Photos>(from, to, batch).await? {
        Ok(digest) => TableCopy { digest, ..photos },
        Err(refusal) => return Ok(Err(refusal)),
    };
    let verified = vec![users, photos];
    Ok(Ok(CopyReport { tables: verified }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Reads both sides and refuses on the first conflict; writes nothing.
    Compare,
    Copy,
}

async fn copy_table<T: Table>(
    from: &dyn Repo,
    to: &dyn Repo,
    batch: u32,
    pass: Pass,
    on_progress: OnProgress<'_>,
) -> Result<Result<TableCopy, Refusal>, MaintenanceError> {
    let total = T::count(from).await?;
    let (mut after, mut done, mut copied) = (None, 0u64, 0u64);
    loop {
        let source = T::after(from, after, batch).await?;
        let Some(last) = source.last().map(T::id) else {
            if let Some(extra) = T::after(to, after, 1).await?.first() {
                return Ok(Err(not_in_source::<T>(extra)));
            }
            break;
        };
        // The destination's rows in the same id range: each must be one of the source's, equal.
        let present: HashMap<T::Id, T::Row> = T::after(to, after, batch)
            .await?
            .into_iter()
            .filter(|r| T::id(r) <= last)
            .map(|r| (T::id(&r), r))
            .collect();
        let wanted: HashMap<T::Id, &T::Row> = source.iter().map(|r| (T::id(r), r)).collect();
        let mut conflicts: Vec<(T::Id, Refusal)> = present
            .values()
            .filter(|r| !wanted.contains_key(&T::id(r)))
            .map(|r| (T::id(r), not_in_source::<T>(r)))
            .collect();
        conflicts.extend(source.iter().filter(|r| present.get(&T::id(r)).is_some_and(|d| d != *r)).map(|r| {
            (
                T::id(r),
                Refusal(format!(
                    "the destination holds a different {} than the source: refusing to overwrite it",
                    T::describe(r)
                )),
            )
        }));
        if let Some((_, refusal)) = conflicts.into_iter().min_by_key(|(id, _)| *id) {
            return Ok(Err(refusal));
        }
        let missing: Vec<T::Row> = source.iter().filter(|r| !present.contains_key(&T::id(r))).cloned().collect();
        if pass == Pass::Copy && !missing.is_empty() {
            let first = T::describe(&missing[0]);
            let n = missing.len() as u64;
            if T::insert(to, missing).await?.is_err() {
                return Ok(Err(Refusal(format!(
                    "the destination already holds another row with the same unique value as one of a batch starting at {first} (a user with the same name under another id?)"
                ))));
            }
            copied += n;
        }
        done += source.len() as u64;
        if pass == Pass::Copy {
            on_progress(T::NAME, done, total.max(done));
        }
        after = Some(last);
    }
    Ok(Ok(TableCopy { name: T::NAME, copied, digest: TableDigest { rows: done, sha256: String::new() } }))
}

fn not_in_source<T: Table>(row: &T::Row) -> Refusal {
    Refusal(format!(
        "the destination holds {} which the source does not: it is another site's database (use an empty one)",
        T::describe(row)
    ))
}

/// Both sides' digest of the table; they must agree.
async fn verify<T: Table>(
    from: &dyn Repo,
    to: &dyn Repo,
    batch: u32,
) -> Result<Result<TableDigest, Refusal>, MaintenanceError> {
    let source = digest::<T>(from, batch).await?;
    let destination = digest::<T>(to, batch).await?;
    if source != destination {
        return Ok(Err(Refusal(format!(
            "verification failed for {}: the source has {} rows (sha256 {}), the destination {} rows (sha256 {}); did the site write to either meanwhile? Stop it and run again",
            T::NAME,
            source.rows,
            source.sha256,
            destination.rows,
            destination.sha256
        ))));
    }
    Ok(Ok(source))
}

async fn digest<T: Table>(repo: &dyn Repo, batch: u32) -> Result<TableDigest, MaintenanceError> {
    let mut digester = Digester::default();
    let mut after = None;
    loop {
        let rows = T::after(repo, after, batch).await?;
        let Some(last) = rows.last().map(T::id) else { break };
        for row in &rows {
            digester.line(row)?;
        }
        after = Some(last);
    }
    Ok(digester.finish())
}
