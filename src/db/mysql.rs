//! `Repo` on MySQL/MariaDB with mysql_async's connection pool. Migrations run at startup under
//! a named lock, so N instances starting together migrate exactly once.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, Row, TxOpts};
use rust_embed::RustEmbed;

use super::migrate::{self, Migration, Migrator};
use super::{DbError, PhotoRow, Repo, SnapshotBatch, UserRecord, UserRow, sql};
use crate::domain::{AltText, Caption, Conflict, Photo, PhotoId, User, UserId, Username};
use crate::remote::tls::TlsTrust;

/// The MySQL migrations, `sql/mysql/NNNN_name.sql`.
#[derive(RustEmbed)]
#[folder = "sql/mysql"]
pub(super) struct Migrations;

const ER_DUP_ENTRY: u16 = 1062;

// STRAIGHT_JOIN: with few users the optimizer drives the join from `users` and sorts every
// photo for each batch (measured: O(rows) per batch); photos first walks the primary key.
// (`sql::PHOTOS_AFTER` with the hint; SQLite has no STRAIGHT_JOIN.)
const PHOTOS_AFTER: &str = sql::select_photos!("SELECT STRAIGHT_JOIN", "WHERE p.id > ? ORDER BY p.id LIMIT ?");

fn user_record_from_row(row: Row) -> Result<UserRecord, DbError> {
    let (id, username, password_hash, created_at, is_admin): (String, String, String, i64, bool) =
        mysql_async::from_row_opt(row).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let user = UserRow { id, username, password_hash, created_at }.parse().map_err(DbError::Corrupt)?;
    Ok(UserRecord::with_role(user, is_admin))
}

async fn users_after_in(q: &mut impl Queryable, after: &str, limit: u32) -> Result<Vec<UserRecord>, DbError> {
    let rows: Vec<Row> = q.exec(sql::USERS_AFTER, (after, limit)).await?;
    rows.into_iter().map(user_record_from_row).collect()
}

async fn photos_after_in(q: &mut impl Queryable, after: &str, limit: u32) -> Result<Vec<Photo>, DbError> {
    let rows: Vec<Row> = q.exec(PHOTOS_AFTER, (after, limit)).await?;
    rows.into_iter().map(photo_from_row).collect()
}

fn photo_ids(ids: Vec<String>) -> Result<Vec<PhotoId>, DbError> {
    ids.into_iter().map(|id| PhotoId::parse(&id).ok_or_else(|| DbError::Corrupt(format!("photo id: {id:?}")))).collect()
}

fn user_from_row(row: Row) -> Result<User, DbError> {
    let (id, username, password_hash, created_at) =
        mysql_async::from_row_opt(row).map_err(|e| DbError::Corrupt(e.to_string()))?;
    UserRow { id, username, password_hash, created_at }.parse().map_err(DbError::Corrupt)
}

type PhotoColumns = (String, String, String, String, String, u32, u32, u64, String, String, i64, String);

fn photo_from_row(row: Row) -> Result<Photo, DbError> {
    let (id, owner_id, owner, caption, content_type, width, height, bytes, key, thumb_key, created_at, alt): PhotoColumns =
        mysql_async::from_row_opt(row).map_err(|e| DbError::Corrupt(e.to_string()))?;
    PhotoRow { id, owner_id, owner, caption, content_type, width, height, bytes, key, thumb_key, created_at, alt }
        .parse()
        .map_err(DbError::Corrupt)
}

fn photo_params(photo: &Photo) -> mysql_async::Params {
    (
        photo.id.to_string(),
        photo.owner_id.to_string(),
        photo.caption.as_str().to_owned(),
        photo.kind.content_type(),
        photo.width,
        photo.height,
        photo.bytes,
        photo.key.to_string(),
        photo.thumb_key.to_string(),
        photo.created_at,
        photo.alt.as_str().to_owned(),
    )
        .into()
}

fn is_duplicate(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if e.code == ER_DUP_ENTRY)
}

pub struct MysqlRepo {
    pool: Pool,
}

/// MySQL's "Connections using insecure transport are prohibited", and "Access denied", which
/// is what MariaDB answers a plain connection when it requires secure transport.
const MAYBE_TLS_REQUIRED: [u16; 2] = [3159, 1045];

/// How long the first connection may take (TCP, greeting, TLS handshake, authentication):
/// mysql_async itself would wait for as long as the server keeps the socket open.
const FIRST_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn first_conn(pool: &Pool) -> Result<Conn, DbError> {
    match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, pool.get_conn()).await {
        Ok(conn) => Ok(conn?),
        Err(_) => Err(DbError::Open(format!("no answer within {FIRST_CONNECT_TIMEOUT:?}"))),
    }
}

fn may_require_tls(err: &DbError) -> bool {
    matches!(err, DbError::Mysql(mysql_async::Error::Server(e)) if MAYBE_TLS_REQUIRED.contains(&e.code))
}

/// `opts` over TLS verified against the platform's roots and `trust`; a URL that switches
/// verification off (`verify_ca=false`, `verify_identity=false`) is refused.
fn with_verified_tls(opts: Opts, trust: &TlsTrust) -> Result<Opts, DbError> {
    let ssl = opts.ssl_opts().cloned().unwrap_or_default();
    if ssl.accept_invalid_certs() || ssl.skip_domain_validation() {
        return Err(DbError::Open(
            "verify_ca=false and verify_identity=false are not accepted: certificates and host names are always verified (trust a private CA with tls_ca_file)".into(),
        ));
    }
    let ssl = ssl.with_root_certs(vec![trust.pem_bundle().into()]);
    Ok(OptsBuilder::from_opts(opts).ssl_opts(ssl).into())
}

impl MysqlRepo {
    /// Connects with `url` trusting the platform's roots only; see `open_with`.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        Self::open_with(url, &TlsTrust::default()).await
    }

    /// Connects with `url` (`mysql://user:pass@host:3306/db`, pool options as URL
    /// parameters) and applies pending migrations. TLS, verified against `trust`, when the
    /// URL asks for it (`require_ssl=true`) or the server refuses plain connections; never
    /// the other way round.
    pub async fn open_with(url: &str, trust: &TlsTrust) -> Result<Self, DbError> {
        let opts = Opts::from_url(url).map_err(|e| DbError::Open(e.to_string()))?;
        // Rows matched, not rows changed, as SQLite counts them: an UPDATE that rewrites a
        // value with itself still reports the row it found.
        let opts: Opts = OptsBuilder::from_opts(opts).client_found_rows(true).into();
        let opts = match opts.ssl_opts() {
            Some(_) => with_verified_tls(opts, trust)?,
            None => opts,
        };
        let tls = opts.ssl_opts().is_some();
        let pool = Pool::new(opts.clone());
        let (pool, mut conn) = match first_conn(&pool).await {
            Ok(conn) => (pool, conn),
            Err(plain) if !tls && may_require_tls(&plain) => {
                pool.disconnect().await.ok();
                // Refused in plain text: a server requiring TLS, or a wrong password. Over TLS
                // the first connects and the second fails again, reported as it was in plain.
                let pool = Pool::new(with_verified_tls(opts, trust)?);
                match first_conn(&pool).await {
                    Ok(conn) => {
                        tracing::info!("the database requires TLS: connected over verified TLS");
                        (pool, conn)
                    }
                    Err(DbError::Mysql(mysql_async::Error::Driver(
                        mysql_async::DriverError::NoClientSslFlagFromServer,
                    ))) => {
                        pool.disconnect().await.ok();
                        return Err(plain);
                    }
                    Err(e) => {
                        pool.disconnect().await.ok();
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        };
        migrate(&mut conn).await?;
        drop(conn);
        Ok(Self { pool })
    }

    async fn conn(&self) -> Result<Conn, DbError> {
        Ok(self.pool.get_conn().await?)
    }
}

/// Statements of a migration file, split at semicolons that end a line.
fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n")
        .map(|chunk| chunk.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .map(|s| s.trim().trim_end_matches(';').to_owned())
        .filter(|s| !s.is_empty())
}

/// Runs the migration runner under a named lock per database: instances starting together
/// wait for each other here, so each migration runs exactly once.
async fn migrate(conn: &mut Conn) -> Result<(), DbError> {
    let migrations = migrate::embedded::<Migrations>()?;
    let locked: Option<i64> = conn.query_first("SELECT GET_LOCK(CONCAT('stratus_migrate:', DATABASE()), 60)").await?;
    if locked != Some(1) {
        return Err(DbError::Open("timed out waiting for the migration lock".into()));
    }
    let result = migrate::run(conn, &migrations).await;
    let released: Result<Option<i64>, _> =
        conn.query_first("SELECT RELEASE_LOCK(CONCAT('stratus_migrate:', DATABASE()))").await;
    result?;
    released?;
    Ok(())
}

/// The migration runner's executor. MySQL commits DDL implicitly, so a migration is not one
/// transaction: the lock taken in `migrate`, not a transaction, makes it exactly-once.
#[rocket::async_trait]
impl Migrator for Conn {
    async fn create_table(&mut self) -> Result<(), DbError> {
        self.query_drop(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR(255) CHARACTER SET ascii PRIMARY KEY, \
             applied_at BIGINT NOT NULL) ENGINE=InnoDB",
        )
        .await?;
        Ok(())
    }

    async fn applied(&mut self) -> Result<Vec<String>, DbError> {
        Ok(self.query(migrate::APPLIED).await?)
    }

    async fn apply(&mut self, migration: &Migration, applied_at: i64) -> Result<(), DbError> {
        for statement in statements(&migration.sql) {
            self.query_drop(&statement).await?;
        }
        self.exec_drop(migrate::RECORD, (migration.name.as_str(), applied_at)).await?;
        Ok(())
    }
}

#[rocket::async_trait]
impl Repo for MysqlRepo {
    async fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        conn.ping().await?;
        Ok(())
    }

    async fn insert_user(&self, user: &User) -> Result<Result<(), Conflict>, DbError> {
        let mut conn = self.conn().await?;
        let params = (user.id.to_string(), user.username.as_str(), user.password_hash.as_str(), user.created_at);
        match conn.exec_drop(sql::INSERT_USER, params).await {
            Ok(()) => Ok(Ok(())),
            Err(e) if is_duplicate(&e) => Ok(Err(Conflict)),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_by_name(&self, name: &Username) -> Result<Option<User>, DbError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn.exec_first(sql::USER_BY_NAME, (name.as_str(),)).await?;
        row.map(user_from_row).transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, DbError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn.exec_first(sql::USER_BY_ID, (id.to_string(),)).await?;
        row.map(user_from_row).transpose()
    }

    async fn set_admin(&self, name: &Username, admin: bool) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(sql::SET_ADMIN, (admin, name.as_str())).await?;
        Ok(conn.affected_rows() > 0)
    }

    async fn is_admin(&self, id: UserId) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        let role: Option<bool> = conn.exec_first(sql::IS_ADMIN, (id.to_string(),)).await?;
        Ok(role.unwrap_or(false))
    }

    async fn insert_photo(&self, photo: &Photo) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(sql::INSERT_PHOTO, photo_params(photo)).await?;
        Ok(())
    }

    async fn insert_photos_bulk(&self, photos: Vec<Photo>) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        tx.exec_batch(sql::INSERT_PHOTO, photos.iter().map(photo_params)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn photo(&self, id: PhotoId) -> Result<Option<Photo>, DbError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn.exec_first(sql::PHOTO_BY_ID, (id.to_string(),)).await?;
        row.map(photo_from_row).transpose()
    }

    async fn latest_photos(&self, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = match before {
            Some(before) => conn.exec(sql::LATEST_BEFORE, (before.to_string(), limit)).await?,
            None => conn.exec(sql::LATEST, (limit,)).await?,
        };
        rows.into_iter().map(photo_from_row).collect()
    }

    async fn owner_photos(&self, owner: UserId, limit: u32, before: Option<PhotoId>) -> Result<Vec<Photo>, DbError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = match before {
            Some(before) => conn.exec(sql::OWNER_BEFORE, (owner.to_string(), before.to_string(), limit)).await?,
            None => conn.exec(sql::OWNER, (owner.to_string(), limit)).await?,
        };
        rows.into_iter().map(photo_from_row).collect()
    }

    async fn newer_photo_ids(
        &self,
        after: PhotoId,
        owner: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<PhotoId>, DbError> {
        let mut conn = self.conn().await?;
        let ids: Vec<String> = match owner {
            Some(owner) => conn.exec(sql::NEWER_OF_OWNER, (after.to_string(), owner.to_string(), limit)).await?,
            None => conn.exec(sql::NEWER, (after.to_string(), limit)).await?,
        };
        photo_ids(ids)
    }

    async fn update_caption(&self, id: PhotoId, caption: &Caption, alt: &AltText) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(sql::UPDATE_CAPTION, (caption.as_str(), alt.as_str(), id.to_string())).await?;
        Ok(conn.affected_rows() > 0)
    }

    async fn update_password_hash(&self, id: UserId, password_hash: &str) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(sql::UPDATE_PASSWORD, (password_hash, id.to_string())).await?;
        Ok(conn.affected_rows() > 0)
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<Vec<Photo>>, DbError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        // The user row locked first: an upload racing this waits, then fails its foreign key.
        let found: Option<i64> =
            tx.exec_first("SELECT 1 FROM users WHERE id = ? FOR UPDATE", (id.to_string(),)).await?;
        if found.is_none() {
            return Ok(None);
        }
        let rows: Vec<Row> = tx.exec(sql::OWNER, (id.to_string(), u32::MAX)).await?;
        let photos = rows.into_iter().map(photo_from_row).collect::<Result<Vec<_>, _>>()?;
        tx.exec_drop(sql::DELETE_USER_PHOTOS, (id.to_string(),)).await?;
        tx.exec_drop(sql::DELETE_USER, (id.to_string(),)).await?;
        tx.commit().await?;
        Ok(Some(photos))
    }

    async fn delete_photo(&self, id: PhotoId) -> Result<bool, DbError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(sql::DELETE_PHOTO, (id.to_string(),)).await?;
        Ok(conn.affected_rows() > 0)
    }

    async fn count_photos(&self) -> Result<u64, DbError> {
        let mut conn = self.conn().await?;
        let count: Option<u64> = conn.query_first(sql::COUNT_PHOTOS).await?;
        Ok(count.unwrap_or(0))
    }

    async fn count_users(&self) -> Result<u64, DbError> {
        let mut conn = self.conn().await?;
        let count: Option<u64> = conn.query_first(sql::COUNT_USERS).await?;
        Ok(count.unwrap_or(0))
    }

    async fn users_after(&self, after: Option<UserId>, limit: u32) -> Result<Vec<UserRecord>, DbError> {
        let mut conn = self.conn().await?;
        users_after_in(&mut conn, &after.map(|id| id.to_string()).unwrap_or_default(), limit).await
    }

    async fn photos_after(&self, after: Option<PhotoId>, limit: u32) -> Result<Vec<Photo>, DbError> {
        let mut conn = self.conn().await?;
        photos_after_in(&mut conn, &after.map(|id| id.to_string()).unwrap_or_default(), limit).await
    }

    async fn insert_users_bulk(&self, users: Vec<UserRecord>) -> Result<Result<(), Conflict>, DbError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let params = users.iter().map(|u| {
            (u.id.to_string(), u.username.as_str().to_owned(), u.password_hash.clone(), u.created_at, u.is_admin)
        });
        match tx.exec_batch(sql::INSERT_USER_RECORD, params).await {
            Ok(()) => {}
            // Dropping the transaction rolls back the rows of this batch already written.
            Err(e) if is_duplicate(&e) => return Ok(Err(Conflict)),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn snapshot(
        &self,
        batch: u32,
        sink: tokio::sync::mpsc::Sender<SnapshotBatch>,
    ) -> Result<(u64, u64), DbError> {
        let batch = batch.max(1);
        let mut conn = self.conn().await?;
        // REPEATABLE READ with a snapshot taken at once: every later read in the transaction sees
        // the database as of this instant, while the site keeps writing (InnoDB MVCC).
        let opts = TxOpts::default()
            .with_isolation_level(mysql_async::IsolationLevel::RepeatableRead)
            .with_consistent_snapshot(true)
            .with_readonly(true)
            .clone();
        let mut tx = conn.start_transaction(opts).await?;
        let (mut users, mut photos) = (0u64, 0u64);
        let mut after = String::new();
        loop {
            let rows = users_after_in(&mut tx, &after, batch).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.to_string();
            users += rows.len() as u64;
            if sink.send(SnapshotBatch::Users(rows)).await.is_err() {
                return Ok((users, photos));
            }
        }
        after.clear();
        loop {
            let rows = photos_after_in(&mut tx, &after, batch).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.to_string();
            photos += rows.len() as u64;
            if sink.send(SnapshotBatch::Photos(rows)).await.is_err() {
                return Ok((users, photos));
            }
        }
        tx.commit().await?;
        Ok((users, photos))
    }
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn migrations_split_into_statements() {
        let sql = "-- a comment\nCREATE TABLE a (x INT);\n\nCREATE TABLE b (\n  y INT -- why\n);\n";
        let parts: Vec<_> = statements(sql).collect();
        assert_eq!(parts, vec!["CREATE TABLE a (x INT)", "CREATE TABLE b (\n  y INT -- why\n)"]);
    }
}
