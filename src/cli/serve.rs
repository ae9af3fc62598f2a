//! `stratus` and `stratus serve`: the site, until SIGTERM (or Ctrl-C) and its drain.

use std::process::ExitCode;

use figment::Figment;
use stratus::Settings;
use stratus::access_log::RefusalHook;

use super::fail;

/// Builds every backend, then serves; `refusals` (the tracing layer installed before the
/// configuration was read) starts writing refused connections to the access log here.
pub async fn run(figment: Figment, settings: Settings, refusals: RefusalHook) -> ExitCode {
    let app = match stratus::App::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(e),
    };
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
