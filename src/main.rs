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
use stratus::{App, Settings};

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
        _ => match stratus::app_with(figment, app).launch().await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    }
}
