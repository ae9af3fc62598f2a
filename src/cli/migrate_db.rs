//! `stratus migrate-db --from URL --to URL`.

use std::process::ExitCode;

use stratus::ConfigError;

use super::fail;
use super::progress::{advance, is_terminal, progress_bar};

/// Copies every durable table from the database at `from` to the one at `to`.
pub async fn run(from: &str, to: &str, trust: &stratus::remote::tls::TlsTrust) -> ExitCode {
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
