//! `stratus migrate-storage --from URL --to URL`.

use std::process::ExitCode;

use stratus::ConfigError;
use stratus::config::StorageUrl;
use stratus::service::MigrationPlan;

use super::fail;

/// Copies every blob from the store at `from` to the one at `to`, `concurrency` at once.
pub async fn run(from: &str, to: &str, concurrency: usize) -> ExitCode {
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
