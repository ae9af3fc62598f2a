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
    /// Benchmark helper: add COUNT photo rows that reuse the newest photo's blobs.
    SeedRows {
        #[arg(long)]
        count: usize,
    },
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATUS_LOG").unwrap_or_else(|_| "info,rocket=warn".into()),
        )
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
    if let Some(Command::Config) = cli.command {
        return match stratus::config_report::report(&figment) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    if let Some(Command::MigrateStorage { from, to, concurrency }) = &cli.command {
        return migrate_storage(from, to, *concurrency).await;
    }
    let app = match App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    match cli.command {
        Some(Command::SeedRows { count }) => match app.photos.bulk_fill(count).await {
            Ok(added) => {
                println!("added {added} rows");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        _ => match stratus::app_with(figment, app).attach(stratus::drain_on_sigterm()).launch().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    }
}
