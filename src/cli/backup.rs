//! `stratus backup --to DIR`.

use std::process::ExitCode;

use stratus::Settings;

use super::progress::{advance, progress_bar};
use super::{data_backends, fail};

/// Backs up the configured database and store into `dir` (see `service::maintenance::backup`).
pub async fn run(settings: &Settings, dir: &std::path::Path) -> ExitCode {
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
