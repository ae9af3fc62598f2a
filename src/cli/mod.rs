//! The command line: `stratus [--level N] [COMMAND]`, one file per command group, each a
//! thin call into a service. Output and exit codes are part of the interface (tests/cli*.rs).

mod admin;
mod backup;
mod check;
mod config;
mod levels;
mod migrate_db;
mod migrate_storage;
mod progress;
mod restore;
mod seed_rows;
mod serve;
mod traffic;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stratus::{ConfigError, Settings};

#[derive(Parser)]
#[command(name = "stratus", version, about = "A photo-sharing site that scales, level by level")]
struct Cli {
    /// Tutorial level overlay (profiles/levelN.toml), e.g. 0. Also STRATUS_LEVEL.
    #[arg(long, global = true)]
    level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site (the default).
    Serve,
    /// Print every effective setting with where it came from (secrets redacted) and exit.
    Config,
    /// Copy every photo blob from one store to another (level 1 → 2: disk → S3). Idempotent
    /// and resumable: blobs already in the destination are skipped.
    MigrateStorage {
        /// The store to copy from, e.g. file://data/photos
        #[arg(long)]
        from: String,
        /// The store to copy to, e.g. s3://bucket/photos (AWS_* from the environment)
        #[arg(long)]
        to: String,
        /// Blobs copied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Requests per client IP per time window, from the access log (the tutorial's Kinesis
    /// Analytics query). Reads the configured access_log_stream, else the access_log file.
    Traffic(traffic::TrafficArgs),
    /// Grant or revoke the admin role (who may open /admin/traffic). Run on the server: it
    /// writes the configured database directly.
    Admin {
        #[command(subcommand)]
        action: admin::AdminAction,
    },
    /// Copy every durable table (users with their password hashes and roles, photos) from one
    /// database to another, keeping ids: SQLite → MySQL (level 0/1 → fleet) or back. Resumable:
    /// rerun after an interruption; a rerun after success copies nothing.
    MigrateDb {
        /// The database to copy from, e.g. sqlite://data/stratus.db
        #[arg(long)]
        from: String,
        /// The database to copy to (migrated first), e.g. mysql://USER:PASSWORD@HOST:3306/DB
        #[arg(long)]
        to: String,
    },
    /// Back up the configured database and store into DIR while the site keeps serving: one
    /// consistent snapshot of the rows, then every blob they reference (blobs already in DIR
    /// from an earlier backup are not copied again), and a manifest of checksums.
    Backup {
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup into the configured database and store, which must be empty; every
    /// checksum is verified before anything is written.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Do rows and blobs agree? Lists rows whose blobs are missing (exit 1), blobs no row
    /// references older than an hour, and staging leftovers.
    Check {
        /// Remove the orphan blobs and the leftovers (never a row).
        #[arg(long)]
        repair: bool,
    },
    /// The tutorial's seven levels, one line each; with N, the keys level N changes against
    /// level N-1 and the commands that move a running site there.
    Levels {
        /// A level, 0 to 6.
        number: Option<usize>,
    },
    /// Benchmark helper: add COUNT photo rows that reuse the newest photo's blobs.
    SeedRows {
        #[arg(long)]
        count: usize,
    },
}

/// Prints `e` as the command's failure and returns its exit code.
pub(crate) fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("stratus: {e}");
    ExitCode::from(2)
}

/// Parses the command line, reads the configuration and runs the command; the exit code is
/// 0 on success, 2 when the command fails (`check` also uses 1).
pub async fn run() -> ExitCode {
    use tracing_subscriber::prelude::*;
    let refusals = stratus::access_log::RefusalHook::default();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("STRATUS_LOG").unwrap_or_else(|_| "info,rocket=warn".into());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(filter))
        .with(refusals.clone().with_filter(tracing_subscriber::filter::LevelFilter::WARN))
        .init();
    let cli = Cli::parse();
    let figment = match stratus::figment(cli.level.as_deref()) {
        Ok(figment) => figment,
        Err(e) => return fail(e),
    };
    let settings = match Settings::from_figment(&figment) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(figment, settings, refusals).await,
        Command::Config => config::run(&figment),
        Command::MigrateStorage { from, to, concurrency } => migrate_storage::run(&from, &to, concurrency).await,
        Command::Traffic(args) => traffic::run(&settings, args).await,
        Command::Admin { action } => admin::run(&settings, action).await,
        Command::MigrateDb { from, to } => migrate_db::run(&from, &to, &settings.tls).await,
        Command::Backup { to } => backup::run(&settings, &to).await,
        Command::Restore { from } => restore::run(&settings, &from).await,
        Command::Check { repair } => check::run(&settings, repair).await,
        Command::Levels { number } => levels::run(number, &settings.data_dir),
        Command::SeedRows { count } => seed_rows::run(settings, count).await,
    }
}

/// The database and the store of `settings`, for the commands that read or write the data.
async fn data_backends(
    settings: &Settings,
) -> Result<(std::sync::Arc<dyn stratus::db::Repo>, std::sync::Arc<dyn stratus::store::Store>), ConfigError> {
    let repo = stratus::state::open_database(settings).await?;
    let store = stratus::state::open_store_at("storage_url", &settings.storage, None, settings.presign_ttl)?;
    Ok((repo, store))
}
