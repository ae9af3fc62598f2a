//! `Repo` on SQLite (rusqlite, bundled). Calls run on blocking threads over a small pool of
//! connections; WAL lets readers proceed while one writer commits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, params};
use rust_embed::RustEmbed;
use tokio::sync::Semaphore;

use super::migrate::{self, Migration, Migrator};
use super::{DbError, PhotoRow, Repo, SnapshotBatch, UserRecord, UserRow, sql};
use crate::domain::{AltText, Caption, Conflict, Photo, PhotoId, User, UserId, Username};

/// The SQLite migrations, `sql/sqlite/NNNN_name.sql`.
#[derive(RustEmbed)]
#[folder = "sql/sqlite"]
pub(super) struct Migrations;

fn user_record_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord::with_role(user_from_row(row)?, row.get(4)?))
}

// The empty string sorts before every ULID, so it stands for "from the start".
fn users_after_in(c: &Connection, after: &str, limit: u32) -> rusqlite::Result<Vec<UserRecord>> {
    c.prepare_cached(sql::USERS_AFTER)?.query_map(params![after, limit], user_record_from_row)?.collect()
}

fn photos_after_in(c: &Connection, after: &str, limit: u32) -> rusqlite::Result<Vec<Photo>> {
    c.prepare_cached(sql::PHOTOS_AFTER)?.query_map(params![after, limit], photo_from_row)?.collect()
}

fn photo_id_from_row(row: &Row<'_>) -> rusqlite::Result<PhotoId> {
    let id: String = row.get(0)?;
    PhotoId::parse(&id).ok_or_else(|| corrupt(format!("photo id: {id:?}")))
}

fn corrupt(problem: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, problem.into())
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    UserRow { id: row.get(0)?, username: row.get(1)?, password_hash: row.get(2)?, created_at: row.get(3)? }
        .parse()
        .map_err(corrupt)
}

fn photo_from_row(row: &Row<'_>) -> rusqlite::Result<Photo> {
    PhotoRow {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        owner: row.get(2)?,
        caption: row.get(3)?,
        content_type: row.get(4)?,
        width: row.get(5)?,
        height: row.get(6)?,
        bytes: row.get::<_, i64>(7)?.max(0) as u64,
        key: row.get(8)?,
        thumb_key: row.get(9)?,
        created_at: row.get(10)?,
        alt: row.get(11)?,
    }
    .parse()
    .map_err(corrupt)
}

fn insert_photo_row(conn: &Connection, photo: &Photo) -> rusqlite::Result<()> {
    conn.prepare_cached(sql::INSERT_PHOTO)?.execute(params![
        photo.id.to_string(),
        photo.owner_id.to_string(),
        photo.caption.as_str(),
        photo.kind.content_type(),
        photo.width,
        photo.height,
        photo.bytes as i64,
        photo.key.as_str(),
        photo.thumb_key.as_str(),
        photo.created_at,
        photo.alt.as_str(),
    ])?;
    Ok(())
}

pub struct SqliteRepo {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Semaphore,
}

impl SqliteRepo {
    /// Opens (creating if needed) the database file and applies pending migrations. The file is
    /// private (0600) from the moment it exists, and so are its `-wal` and `-shm` files, which
    /// SQLite creates with the database file's mode.
    pub async fn open(path: &Path, pool_size: usize) -> Result<Self, DbError> {
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || make_private(&owned))
            .await?
            .map_err(|e| DbError::Open(format!("making {} private (0600): {e}", path.display())))?;
        let repo = Self {
            path: path.to_owned(),
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Semaphore::new(pool_size.max(1)),
        };
        migrate::run(&mut Migrating(&repo), &migrate::embedded::<Migrations>()?).await?;
        Ok(repo)
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(conn)
    }

    async fn with_conn<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| DbError::Open("connection pool closed".into()))?;
        let idle = Arc::clone(&self.idle);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = idle.lock().ok().and_then(|mut idle| idle.pop());
            let mut conn = match pooled {
                Some(conn) => conn,
                None => Self::connect(&path)?,
            };
            let result = work(&mut conn);
            if let Ok(mut idle) = idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await?
    }
}

/// Creates the database file 0600 before SQLite opens it (SQLite would create it 0644 under a
/// usual umask), and tightens an existing one and its WAL/SHM files left wider by older versions.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::metadata(&file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The migration runner's executor: each step on a pooled connection, on a blocking thread.
/// Every migration and its record commit in one transaction (SQLite's DDL is transactional).
struct Migrating<'a>(&'a SqliteRepo);

#[rocket::async_trait]
impl Migrator for Migrating<'_> {
    async fn create_table(&mut self) -> Result<(), DbError> {
        self.0
            .with_conn(|c| {
                Ok(c.execute_batch(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
                )?)
            })
            .await
    }

    async fn applied(&mut self) -> Result<Vec<String>, DbError> {
        self.0
            .with_conn(|c| Ok(c.prepare(migrate::APPLIED)?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?))
            .await
    }

    async fn apply(&mut self, migration: &Migration, applied_at: i64) -> Result<(), DbError> {
        let Migration { name, sql } = migration.clone();
        self.0
            .with_conn(move |c| {
                let tx = c.transaction()?;
                tx.execute_batch(&sql)?;
                tx.execute(migrate::RECORD, params![name, applied_at])?;
                Ok(tx.commit()?)
            })
            .await
    }
}

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[rocket::async_trait]
impl Repo for SqliteRepo {
    async fn ping(&self) -> Result<(), DbError> {
        self.with_conn(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await?;
        Ok(())
    }

    async fn insert_user(&self, user: &User) -> Result<Result<(), Conflict>, DbError> {
        let user = user.clone();
        self.with_conn(move |c| {
            let inserted = c.prepare_cached(sql::INSERT_USER)?.execute(params![
                user.id.to_string(),
                user.username.as_str(),
                user.password_hash,
                user.created_at
            ]);
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(Conflict)),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn user_by_name(&self, name: &Username) -> Result<Option<User>, DbError> {
        let name = name.clone();
        self.with_conn(move |c| {
            Ok(c.prepare_cached(sql::USER_BY_NAME)?.query_row([name.as_str()], user_from_row).optional()?)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, DbError> {
        self.with_conn(move |c| {
            Ok(c.prepare_cached(sql::USER_BY_ID)?.query_row([id.to_string()], user_from_row).optional()?)
        })
        .await
    }

    async fn insert_photo(&self, photo: &Photo) -> Result<(), DbError> {
        let photo = photo.clone();
        self.with_conn(move |c| Ok(insert_photo_row(c, &photo)?)).await
    }

    async fn insert_photos_bulk(&self, photos: Vec<Photo>) -> Result<(), DbError> {
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            for photo in &photos {
                insert_photo_row(&tx, photo)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn photo(&self, id: PhotoId) -> Result<Option<Photo>, DbError> {
        self.with_conn(move |c| {
            Ok(c.prepare_cached(sql::PHOTO_BY_ID)?.query_row([id.to_string()], photo_from_row).optional()?)
        })
        .await
    }

    async fn latest_photos(&self, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        self.with_conn(move |c| {
            let rows: rusqlite::Result<Vec<_>> = match before {
                Some(before) => c
                    .prepare_cached(sql::LATEST_BEFORE)?
                    .query_map(params![before.to_string(), limit], photo_from_row)?
                    .collect(),
                None => c.prepare_cached(sql::LATEST)?.query_map(params![limit], photo_from_row)?.collect(),
            };
            Ok(rows?)
        })
        .await
    }

    async fn owner_photos(&self, owner: UserId, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        self.with_conn(move |c| {
            let rows: rusqlite::Result<Vec<_>> = match before {
                Some(before) => c
                    .prepare_cached(sql::OWNER_BEFORE)?
                    .query_map(params![owner.to_string(), before.to_string(), limit], photo_from_row)?
                    .collect(),
                None => c
                    .prepare_cached(sql::OWNER)?
                    .query_map(params![owner.to_string(), limit], photo_from_row)?
                    .collect(),
            };
            Ok(rows?)
        })
        .await
    }

    async fn newer_photo_ids(
        &self,
        after: PhotoId,
        owner: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PhotoId>, DbError> {
        self.with_conn(move |c| {
            let rows: rusqlite::Result<Vec<_>> = match owner {
                Some(owner) => c
                    .prepare_cached(sql::NEWER_OF_OWNER)?
                    .query_map(params![after.to_string(), owner.to_string(), limit], photo_id_from_row)?
                    .collect(),
                None => c
                    .prepare_cached(sql::NEWER)?
                    .query_map(params![after.to_string(), limit], photo_id_from_row)?
                    .collect(),
            };
            Ok(rows?)
        })
        .await
    }

    async fn update_caption(&self, id: PhotoId, caption: &Caption, alt: &AltText) -> Result<bool, DbError> {
        let (caption, alt) = (caption.as_str().to_owned(), alt.as_str().to_owned());
        self.with_conn(move |c| {
            Ok(c.prepare_cached(sql::UPDATE_CAPTION)?.execute(params![caption, alt, id.to_string()])? > 0)
        })
        .await
    }

    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> Result<bool, DbError> {
        let hash = password_hash.to_owned();
        self.with_conn(move |c| Ok(c.prepare_cached(sql::UPDATE_PASSWORD)?.execute(params![hash, id.to_string()])? > 0))
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<Vec<Photo>>, DbError> {
        self.with_conn(move |c| {
            // Immediate: the write lock is taken before the read, so no writer slips in between.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let photos = tx
                .prepare_cached(sql::OWNER)?
                .query_map(params![id.to_string(), u32::MAX], photo_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.prepare_cached(sql::DELETE_USER_PHOTOS)?.execute([id.to_string()])?;
            if tx.prepare_cached(sql::DELETE_USER)?.execute([id.to_string()])? == 0 {
                // Dropping the transaction rolls back: no user, nothing changed.
                return Ok(None);
            }
            tx.commit()?;
            Ok(Some(photos))
        })
        .await
    }

    async fn delete_photo(&self, id: PhotoId) -> Result<bool, DbError> {
        self.with_conn(move |c| Ok(c.prepare_cached(sql::DELETE_PHOTO)?.execute([id.to_string()])? > 0)).await
    }

    async fn count_photos(&self) -> Result<u64, DbError> {
        self.with_conn(|c| Ok(c.query_row(sql::COUNT_PHOTOS, [], |r| r.get::<_, i64>(0))?.max(0) as u64)).await
    }

    async fn set_admin(&self, name: &Username, admin: bool) -> Result<bool, DbError> {
        let name = name.clone();
        self.with_conn(move |c| Ok(c.prepare_cached(sql::SET_ADMIN)?.execute(params![admin, name.as_str()])? > 0)).await
    }

    async fn is_admin(&self, id: UserId) -> Result<bool, DbError> {
        self.with_conn(move |c| {
            let role: Option<bool> =
                c.prepare_cached(sql::IS_ADMIN)?.query_row([id.to_string()], |r| r.get(0)).optional()?;
            Ok(role.unwrap_or(false))
        })
        .await
    }

    async fn count_users(&self) -> Result<u64, DbError> {
        self.with_conn(|c| Ok(c.query_row(sql::COUNT_USERS, [], |r| r.get::<_, i64>(0))?.max(0) as u64)).await
    }

    async fn users_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, DbError> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        self.with_conn(move |c| Ok(users_after_in(c, &after, limit)?)).await
    }

    async fn photos_after(&self, after: Option<PhotoId>, limit: u32) -> Result<Vec<Photo>, DbError> {
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        self.with_conn(move |c| Ok(photos_after_in(c, &after, limit)?)).await
    }

    async fn insert_users_bulk(&self, users: Vec<UserRecord>) -> Result<Result<(), Conflict>, DbError> {
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            for user in &users {
                let inserted = tx.prepare_cached(sql::INSERT_USER_RECORD)?.execute(params![
                    user.id.to_string(),
                    user.username.as_str(),
                    user.password_hash,
                    user.created_at,
                    user.is_admin
                ]);
                match inserted {
                    Ok(_) => {}
                    // Dropping the transaction rolls back the rows of this batch already written.
                    Err(e) if is_unique_violation(&e) => return Ok(Err(Conflict)),
                    Err(e) => return Err(e.into()),
                }
            }
            tx.commit()?;
            Ok(Ok(()))
        })
        .await
    }

    async fn snapshot(
        &self,
        batch: u32,
        sink: tokio::sync::mpsc::Sender<SnapshotBatch>,
    ) -> Result<(u64, u64), DbError> {
        let batch = batch.max(1);
        let dir = self.path.parent().map(Path::to_owned).unwrap_or_default();
        self.with_conn(move |c| {
            // SQLite's online backup API copies the live database into a private file in one
            // step: one read transaction, so the copy is consistent and, in WAL mode, writers
            // are not blocked while it is made. The rows are then read from the copy, which is
            // removed when it is dropped.
            let copy = tempfile::Builder::new()
                .prefix(".stratus-snapshot-")
                .tempfile_in(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir })
                .map_err(|e| DbError::Open(format!("a file for the snapshot in {}: {e}", dir.display())))?;
            let mut snapshot = Connection::open(copy.path())?;
            match rusqlite::backup::Backup::new(c, &mut snapshot)?.step(-1)? {
                rusqlite::backup::StepResult::Done => {}
                other => return Err(DbError::Open(format!("the snapshot copy did not complete: {other:?}"))),
            }
            let tx = snapshot.transaction()?;
            let (mut users, mut photos) = (0u64, 0u64);
            let mut after = String::new();
            loop {
                let rows = users_after_in(&tx, &after, batch)?;
                let Some(last) = rows.last() else { break };
                after = last.id.to_string();
                users += rows.len() as u64;
                if sink.blocking_send(SnapshotBatch::Users(rows)).is_err() {
                    return Ok((users, photos));
                }
            }
            after.clear();
            loop {
                let rows = photos_after_in(&tx, &after, batch)?;
                let Some(last) = rows.last() else { break };
                after = last.id.to_string();
                photos += rows.len() as u64;
                if sink.blocking_send(SnapshotBatch::Photos(rows)).is_err() {
                    return Ok((users, photos));
                }
            }
            tx.finish()?;
            Ok((users, photos))
        })
        .await
    }
}
