//! `stratus check [--repair]`.

use std::process::ExitCode;

use stratus::Settings;

use super::progress::{advance, progress_bar};
use super::{data_backends, fail};

/// Checks that rows and blobs agree; exit 1 when a row's blob is missing.
pub async fn run(settings: &Settings, repair: bool) -> ExitCode {
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
