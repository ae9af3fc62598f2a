//! `stratus restore --from DIR`.

use std::process::ExitCode;

use stratus::Settings;

use super::progress::{advance, progress_bar};
use super::{data_backends, fail};

/// Restores the backup in `dir` into the configured (empty) database and store.
pub async fn run(settings: &Settings, dir: &std::path::Path) -> ExitCode {
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
