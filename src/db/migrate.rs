//! One migration runner for every dialect. The migrations are the files
//! `sql/<dialect>/NNNN_name.sql`, built into the binary; the runner decides which to apply and
//! in which order, and records each in `schema_migrations` (name, applied_at) once it has run.
//! A dialect only executes (`Migrator`): creating that table in its own DDL, running a file,
//! and whatever makes the whole run exactly-once when instances start together.

use std::collections::HashSet;

use rust_embed::RustEmbed;

use super::DbError;

/// The names of the applied migrations.
pub const APPLIED: &str = "SELECT name FROM schema_migrations";
/// (name, applied_at): records a migration as applied.
pub const RECORD: &str = "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)";

/// One migration file: its file name (`0003_alt_text.sql`, also its record in
/// `schema_migrations`) and its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub name: String,
    pub sql: String,
}

/// What the runner needs a dialect to execute.
#[rocket::async_trait]
pub trait Migrator: Send {
    /// Creates `schema_migrations (name, applied_at)` when it does not exist; otherwise
    /// changes nothing.
    async fn create_table(&mut self) -> Result<(), DbError>;

    /// The names recorded in `schema_migrations` (`APPLIED`), in any order.
    async fn applied(&mut self) -> Result<Vec<String>, DbError>;

    /// Runs `migration.sql`, then records `migration.name` as applied at `applied_at`
    /// (`RECORD`). Where the dialect's DDL is transactional, both happen in one transaction (a
    /// failure leaves nothing); where it is not, a failure may leave the statements that ran.
    async fn apply(&mut self, migration: &Migration, applied_at: i64) -> Result<(), DbError>;
}

/// The `.sql` files of `E` in name order: the `NNNN_` prefix orders them. Two files with the
/// same number are refused, so an order never depends on the rest of a name.
pub fn embedded<E: RustEmbed>() -> Result<Vec<Migration>, DbError> {
    let mut names: Vec<_> = E::iter().filter(|n| n.ends_with(".sql")).collect();
    names.sort();
    let mut numbers = HashSet::new();
    let mut migrations = Vec::with_capacity(names.len());
    for name in names {
        let number =
            name.split_once('_').map(|(n, _)| n).filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let Some(number) = number else {
            return Err(DbError::Open(format!("migration {name}: the name must be NNNN_what.sql")));
        };
        if !numbers.insert(number.to_owned()) {
            return Err(DbError::Open(format!("migration {name}: another migration has number {number}")));
        }
        let sql = E::get(&name).map(|f| String::from_utf8_lossy(&f.data).into_owned()).unwrap_or_default();
        migrations.push(Migration { name: name.into_owned(), sql });
    }
    Ok(migrations)
}

/// Applies, in order, every migration of `migrations` not yet recorded, and returns the names
/// of those it applied. A failure stops at that migration (`DbError::Migration`, with its
/// name), the earlier ones staying applied; a rerun resumes there.
pub async fn run(db: &mut impl Migrator, migrations: &[Migration]) -> Result<Vec<String>, DbError> {
    db.create_table().await?;
    let applied: HashSet<String> = db.applied().await?.into_iter().collect();
    let mut now_applied = Vec::new();
    for migration in migrations.iter().filter(|m| !applied.contains(&m.name)) {
        db.apply(migration, crate::domain::now_unix())
            .await
            .map_err(|e| DbError::Migration { name: migration.name.clone(), source: Box::new(e) })?;
        now_applied.push(migration.name.clone());
    }
    Ok(now_applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database that records what the runner asks of it.
    #[derive(Default)]
    struct Recorded {
        table: bool,
        rows: Vec<String>,
        failing: Option<&'static str>,
    }

    #[rocket::async_trait]
    impl Migrator for Recorded {
        async fn create_table(&mut self) -> Result<(), DbError> {
            self.table = true;
            Ok(())
        }

        async fn applied(&mut self) -> Result<Vec<String>, DbError> {
            assert!(self.table, "the table is created before it is read");
            Ok(self.rows.clone())
        }

        async fn apply(&mut self, migration: &Migration, _: i64) -> Result<(), DbError> {
            if self.failing == Some(migration.name.as_str()) {
                return Err(DbError::Corrupt("boom".into()));
            }
            self.rows.push(migration.name.clone());
            Ok(())
        }
    }

    fn migrations(names: &[&str]) -> Vec<Migration> {
        names.iter().map(|n| Migration { name: (*n).to_owned(), sql: String::new() }).collect()
    }

    #[tokio::test]
    async fn applies_only_what_is_pending_in_order_and_resumes_after_a_failure() {
        let all = migrations(&["0001_a.sql", "0002_b.sql", "0003_c.sql"]);
        let mut db = Recorded { rows: vec!["0001_a.sql".into()], failing: Some("0003_c.sql"), ..Default::default() };
        let failed = run(&mut db, &all).await;
        assert!(matches!(failed, Err(DbError::Migration { ref name, .. }) if name == "0003_c.sql"), "{failed:?}");
        assert_eq!(db.rows, ["0001_a.sql", "0002_b.sql"]);
        db.failing = None;
        assert_eq!(run(&mut db, &all).await.expect("rerun"), ["0003_c.sql"]);
        assert!(run(&mut db, &all).await.expect("again").is_empty());
    }

    #[test]
    fn both_dialects_have_the_same_migrations_in_number_order() {
        let names = |m: Vec<Migration>| m.into_iter().map(|m| m.name).collect::<Vec<_>>();
        let sqlite = names(embedded::<crate::db::sqlite::Migrations>().expect("sqlite"));
        assert_eq!(sqlite, names(embedded::<crate::db::mysql::Migrations>().expect("mysql")));
        assert!(sqlite.starts_with(&["0001_init.sql".to_owned(), "0002_admin_role.sql".to_owned()]), "{sqlite:?}");
    }
}
