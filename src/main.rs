use std::process::ExitCode;

use clap::{Parser, Subcommand};

// glibc's per-thread arenas kept freed upload buffers (tens of MB each) resident, tripling
// peak RSS under concurrent large uploads; mimalloc returns them to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns freed memory to the OS at once rather than after mimalloc's default 10 ms (which
/// on an idle server means never, as purging happens on later allocations): with 20 MB
/// uploads that delay decides peak and idle RSS. Measured cost on the front page: none.
#[allow(unsafe_code)]
fn purge_freed_memory_immediately() {
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: a plain write to mimalloc's option table, made in `main` before the runtime
    // starts any other thread, so nothing reads the option concurrently.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}
mod cli_levels;

use stratus::config::StorageUrl;
use stratus::service::MigrationPlan;
use stratus::{App, ConfigError, Settings};

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
    Traffic(TrafficArgs),
    /// Grant or revoke the admin role (who may open /admin/traffic). Run on the server: it
    /// writes the configured database directly.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
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

#[derive(Subcommand)]
enum AdminAction {
    /// Make the registered user NAME an admin.
    Grant { name: String },
    /// Take the admin role from NAME.
    Revoke { name: String },
}

/// `stratus admin grant|revoke NAME`: only the database is opened.
async fn admin(settings: &Settings, action: AdminAction) -> ExitCode {
    let (name, grant) = match &action {
        AdminAction::Grant { name } => (name, true),
        AdminAction::Revoke { name } => (name, false),
    };
    let Some(username) = stratus::domain::Username::parse(name) else {
        return fail(format!("{name:?} is not a username: {}", stratus::domain::Username::RULE));
    };
    let repo = match stratus::state::open_database(settings).await {
        Ok(repo) => repo,
        Err(e) => return fail(e),
    };
    match stratus::service::Accounts::set_admin_in(repo.as_ref(), &username, grant).await {
        Ok(true) if grant => {
            println!("{username} is now an admin");
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!("{username} is no longer an admin");
            ExitCode::SUCCESS
        }
        Ok(false) => fail(format!("no user named \"{username}\": register the account first, then run this again")),
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            fail(format!("{e}{cause}"))
        }
    }
}

#[derive(clap::Args)]
struct TrafficArgs {
    /// An access log file (`-` for stdin).
    #[arg(long, conflicts_with = "stream")]
    file: Option<std::path::PathBuf>,
    /// A Redis server holding the stream, e.g. redis://127.0.0.1:6379, or a Kinesis Data
    /// Stream, kinesis://NAME (region and credentials from the standard AWS chain; every
    /// shard is read, from the oldest record, or from now with --follow).
    #[arg(long, value_parser = access_log_stream)]
    stream: Option<stratus::config::AccessLogStream>,
    /// The Redis Stream's key (default: the configured access_log_stream_key).
    #[arg(long)]
    key: Option<String>,
    /// Keep reading as lines arrive, printing each window once final.
    #[arg(long)]
    follow: bool,
    /// Window length, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = seconds)]
    window: u64,
    /// How long after its end a window waits for late lines (with --follow).
    #[arg(long, default_value = "2s", value_parser = seconds)]
    grace: u64,
    #[arg(long, value_enum, default_value = "table")]
    format: stratus::access_log::query::Format,
}

/// `10s`, `2m`, `1h` or plain seconds.
fn seconds(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 10s or 1m"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    if n == 0 {
        return Err("a window must be at least 1s".into());
    }
    Ok(n * scale)
}

fn access_log_stream(text: &str) -> Result<stratus::config::AccessLogStream, String> {
    stratus::config::AccessLogStream::parse(text)?.ok_or_else(|| "give redis://HOST:6379 or kinesis://STREAM".into())
}

async fn traffic(settings: &Settings, args: TrafficArgs) -> ExitCode {
    let TrafficArgs { file, stream, key, follow, window, grace, format } = args;
    use stratus::access_log::Source;
    use stratus::access_log::query::Printer;
    let stream = match stream.or_else(|| settings.access_log_stream.clone()).filter(|_| file.is_none()) {
        Some(stream) => {
            let key = key.unwrap_or_else(|| settings.access_log_stream_key.clone());
            match stratus::state::connect_log_stream(&stream, key, &settings.tls).await {
                Ok(stream) => Some(stream),
                Err(e) => return fail(format!("--stream {e}")),
            }
        }
        None => None,
    };
    let Some(source) = Source::read_back(file, stream, &settings.access_log) else {
        return fail(
            "nothing to read: give --file PATH (or -), --stream redis://HOST:6379 or --stream kinesis://STREAM",
        );
    };
    let mut printer = Printer::new(std::io::stdout(), format);
    let windows = stratus::access_log::windows::Windows::new(window, grace);
    match stratus::access_log::query::run(source, follow, windows, &mut printer).await {
        Ok(skipped) => {
            if skipped != Default::default() {
                eprintln!(
                    "stratus: skipped {} lines that are not access log lines, {} dated more than {} minutes ahead of this clock or ten years behind it, {} that came after their window closed",
                    skipped.unreadable,
                    skipped.out_of_range,
                    stratus::access_log::line::FUTURE_HORIZON_SECS / 60,
                    skipped.late
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `stratus levels [N]`: reads only the level files built into the binary.
fn levels(number: Option<usize>, data_dir: &std::path::Path) -> ExitCode {
    let text = match number {
        None => Some(cli_levels::list()),
        Some(n) => cli_levels::detail(n, data_dir),
    };
    match text {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => fail(format!("no level {} (the levels are 0 to 6; `stratus levels` lists them)", number.unwrap_or(0))),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("stratus: {e}");
    ExitCode::from(2)
}

async fn migrate_storage(from: &str, to: &str, concurrency: usize) -> ExitCode {
    let open = |flag: &str, url: &str| {
        let parsed = StorageUrl::parse(url).map_err(|problem| ConfigError::new(flag, problem))?;
        stratus::state::open_store_at(flag, &parsed, None, std::time::Duration::from_secs(60))
    };
    let (source, destination) = match (open("--from", from), open("--to", to)) {
        (Ok(source), Ok(destination)) => (source, destination),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let plan = match MigrationPlan::new(source.as_ref(), destination.as_ref()).await {
        Ok(plan) => plan,
        Err(e) => return fail(format!("listing the stores: {e}")),
    };
    println!(
        "{} blobs in {from}: {} already in {to}, {} to copy",
        plan.pending.len() + plan.already_there,
        plan.already_there,
        plan.pending.len()
    );
    let bar = indicatif::ProgressBar::new(plan.pending.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} blobs  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = plan.run(source.as_ref(), destination.as_ref(), concurrency, || bar.inc(1)).await;
    bar.finish();
    println!(
        "copied {}, gone from the source meanwhile {}, failed {}",
        report.copied,
        report.vanished,
        report.failed.len()
    );
    if report.failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    for (key, e) in report.failed.iter().take(10) {
        eprintln!("stratus: {key}: {e}");
    }
    fail(format!("{} blobs were not copied; run the same command again to retry them", report.failed.len()))
}

fn main() -> ExitCode {
    purge_freed_memory_immediately();
    rocket::execute(run())
}

async fn run() -> ExitCode {
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
    // The commands that need no backends run before any is opened.
    let seed_rows = match cli.command.unwrap_or(Command::Serve) {
        Command::Config => {
            return match stratus::config_report::report(&figment) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            };
        }
        Command::MigrateStorage { from, to, concurrency } => return migrate_storage(&from, &to, concurrency).await,
        Command::Traffic(args) => return traffic(&settings, args).await,
        Command::Admin { action } => return admin(&settings, action).await,
        Command::MigrateDb { from, to } => return migrate_db(&from, &to, &settings.tls).await,
        Command::Backup { to } => return backup(&settings, &to).await,
        Command::Restore { from } => return restore(&settings, &from).await,
        Command::Check { repair } => return check(&settings, repair).await,
        Command::Levels { number } => return levels(number, &settings.data_dir),
        Command::SeedRows { count } => Some(count),
        Command::Serve => None,
    };
    let app = match App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    match seed_rows {
        Some(count) => match app.photos.bulk_fill(count).await {
            Ok(added) => {
                println!("added {added} rows");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        None => {
            refusals.attach(app.access_log.clone());
            let access_log = app.access_log.clone();
            let served = stratus::app_with(figment, app).attach(stratus::drain_on_sigterm()).launch().await;
            // The last requests' lines may still be waiting for a fuller batch.
            access_log.close(std::time::Duration::from_secs(5)).await;
            match served {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

/// A progress bar on a terminal (stderr); nothing elsewhere, where the commands print lines.
fn progress_bar(unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg}} {{bar:40}} {{pos}}/{{len}} {unit}  {{per_sec}}  eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Shows `done` of `total` on `bar` (a total that grows as a listing goes on is fine).
fn advance(bar: &indicatif::ProgressBar, done: u64, total: u64) {
    bar.set_length(total);
    bar.set_position(done);
}

fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

async fn migrate_db(from: &str, to: &str, trust: &stratus::remote::tls::TlsTrust) -> ExitCode {
    use stratus::config::DatabaseUrl;
    let open = |flag: &'static str, url: &str| {
        let url = DatabaseUrl::parse(url).map_err(|problem| ConfigError::new(flag, problem));
        async move { stratus::state::open_database_at(flag, &url?, trust).await }
    };
    // The source first: an unreachable source must not leave a new, empty destination behind.
    let source = match open("--from", from).await {
        Ok(repo) => repo,
        Err(e) => return fail(e),
    };
    let destination = match open("--to", to).await {
        Ok(repo) => repo,
        Err(e) => return fail(e),
    };
    let bar = progress_bar("rows");
    let terminal = is_terminal();
    let on_progress = |table: &str, done: u64, total: u64| {
        if terminal {
            bar.set_message(table.to_owned());
            advance(&bar, done, total);
        } else if done == total || done.is_multiple_of(10_000) {
            println!("{table}: {done}/{total} rows");
        }
    };
    let started = std::time::Instant::now();
    let outcome = stratus::service::maintenance::copy_database(
        source.as_ref(),
        destination.as_ref(),
        stratus::service::maintenance::BATCH,
        &on_progress,
    )
    .await;
    bar.finish_and_clear();
    match outcome {
        Ok(Ok(report)) => {
            for table in &report.tables {
                println!(
                    "{}: {} rows, {} copied now, verified (sha256 {})",
                    table.name, table.digest.rows, table.copied, table.digest.sha256
                );
            }
            let rows: u64 = report.tables.iter().map(|t| t.digest.rows).sum();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "copied {} rows in {secs:.1} s ({:.0} rows/s); source and destination agree",
                report.copied(),
                rows as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Ok(Err(refusal)) => fail(refusal),
        Err(e) => fail(format!("{e}; what was copied is kept: run the same command again to finish")),
    }
}

async fn data_backends(
    settings: &Settings,
) -> Result<(std::sync::Arc<dyn stratus::db::Repo>, std::sync::Arc<dyn stratus::store::Store>), ConfigError> {
    let repo = stratus::state::open_database(settings).await?;
    let store = stratus::state::open_store_at("storage_url", &settings.storage, None, settings.presign_ttl)?;
    Ok((repo, store))
}

async fn backup(settings: &Settings, dir: &std::path::Path) -> ExitCode {
    let (repo, store) = match data_backends(settings).await {
        Ok(backends) => backends,
        Err(e) => return fail(e),
    };
    let bar = progress_bar("blobs");
    let on_blob = |done: u64, total: u64| advance(&bar, done, total);
    let started = std::time::Instant::now();
    let outcome = stratus::service::maintenance::backup(repo.as_ref(), store.as_ref(), dir, &on_blob).await;
    bar.finish_and_clear();
    match outcome {
        Ok(Ok(report)) => {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            if !report.left_out.is_empty() {
                println!(
                    "left out {} photos whose blobs were gone from the store (deleted since the snapshot, or missing: run stratus check)",
                    report.left_out.len()
                );
            }
            println!(
                "backed up {} users, {} photos, {} blobs ({} fetched now, {:.1} MB) into {} in {secs:.1} s ({:.0} rows/s, {:.1} MB/s)",
                report.users,
                report.photos,
                report.blobs,
                report.blobs_fetched,
                report.bytes_fetched as f64 / 1e6,
                dir.display(),
                (report.users + report.photos) as f64 / secs,
                report.bytes_fetched as f64 / 1e6 / secs
            );
            ExitCode::SUCCESS
        }
        Ok(Err(refusal)) => fail(refusal),
        Err(e) => fail(format!("backup failed, the earlier backup in {} (if any) is intact: {e}", dir.display())),
    }
}

async fn restore(settings: &Settings, dir: &std::path::Path) -> ExitCode {
    let (repo, store) = match data_backends(settings).await {
        Ok(backends) => backends,
        Err(e) => return fail(e),
    };
    let bar = progress_bar("blobs");
    let on_blob = |done: u64, total: u64| advance(&bar, done, total);
    let outcome = stratus::service::maintenance::restore(repo.as_ref(), store.as_ref(), dir, &on_blob).await;
    bar.finish_and_clear();
    match outcome {
        Ok(Ok(report)) => {
            println!(
                "restored {} users, {} photos, {} blobs ({:.1} MB) from {}; every checksum verified",
                report.users,
                report.photos,
                report.blobs,
                report.bytes as f64 / 1e6,
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Ok(Err(refusal)) => fail(refusal),
        Err(e) => fail(format!("restore failed part way: {e}; empty the database and store, then run it again")),
    }
}

async fn check(settings: &Settings, repair: bool) -> ExitCode {
    use stratus::config::StorageUrl;
    use stratus::service::maintenance::CheckOptions;
    let (repo, store) = match data_backends(settings).await {
        Ok(backends) => backends,
        Err(e) => return fail(e),
    };
    let blob_dir = match &settings.storage {
        StorageUrl::File(dir) => Some(dir.as_path()),
        StorageUrl::S3 { .. } => None,
    };
    let options =
        CheckOptions { data_dir: &settings.data_dir, blob_dir, min_age: std::time::Duration::from_secs(3600), repair };
    let bar = progress_bar("rows");
    let on_rows = |done: u64, total: u64| advance(&bar, done, total);
    let outcome = stratus::service::maintenance::check(repo.as_ref(), store.as_ref(), options, &on_rows).await;
    bar.finish_and_clear();
    let report = match outcome {
        Ok(report) => report,
        Err(e) => return fail(e),
    };
    for (id, key) in &report.missing {
        println!("missing blob: photo {id} needs {key}, which the store does not have");
    }
    let verb = if report.repaired { "removed" } else { "found" };
    for key in &report.orphans {
        println!("orphan blob ({verb}): {key}");
    }
    for path in &report.leftovers {
        println!("leftover ({verb}): {}", path.display());
    }
    println!(
        "checked {} rows and {} blobs: {} missing, {} orphans {verb}, {} leftovers {verb}, {} recent blobs left alone (a publish in flight){}",
        report.rows,
        report.blobs,
        report.missing.len(),
        report.orphans.len(),
        report.leftovers.len(),
        report.in_flight,
        if !report.repaired && (!report.orphans.is_empty() || !report.leftovers.is_empty()) {
            "; run stratus check --repair to remove the orphans and leftovers"
        } else {
            ""
        }
    );
    if report.missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
