//! `stratus seed-rows --count N`: a benchmark helper (bench/load.sh, bench/data.sh).

use std::process::ExitCode;

use stratus::Settings;

use super::fail;

/// Adds `count` photo rows reusing the newest photo's blobs, through the configured backends.
pub async fn run(settings: Settings, count: usize) -> ExitCode {
    let app = match stratus::App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
    match app.photos.bulk_fill(count).await {
        Ok(added) => {
            println!("added {added} rows");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
