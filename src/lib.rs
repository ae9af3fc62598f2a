//! Stratus: a photo-sharing site that re-creates the "Scalable Web Application" tutorial
//! level by level, as one Rocket binary.
//!
//! `app(figment)` builds an isolated instance (tests build as many as they like);
//! `figment()` is the configuration the binary uses.

pub mod access_log;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod compress;
pub mod config;
pub mod config_report;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
#[cfg(test)]
mod module_graph;
pub mod net;
pub mod photos;
pub mod remote;
pub mod routes;
pub mod service;
pub mod session;
pub mod state;
pub mod store;
pub mod views;

use figment::Figment;
use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};

pub use config::{ConfigError, Settings, figment};
pub use state::{App, StartupError};

fn mount(rocket: Rocket<Build>) -> Rocket<Build> {
    rocket
        .attach(routes::RequestMetrics)
        .attach(routes::AccessLogFairing)
        .attach(routes::SecurityHeaders)
        // An empty Shield replaces Rocket's default one: `SecurityHeaders` sets every security
        // header itself, and the default's checks and inserts (a third of the header work on
        // the cached front page) only repeated two of them and added FLoC's long-dead
        // `interest-cohort` permission, which Chromium reports as an unrecognised feature.
        .attach(rocket::shield::Shield::new())
        .mount("/", routes::routes())
        .register("/", routes::catchers())
}

/// Rocket's own temporary files go to the upload staging directory too, never a shared /tmp.
fn staged_in_data_dir(figment: Figment) -> Figment {
    match figment.extract_inner::<std::path::PathBuf>("data_dir") {
        Ok(data_dir) => figment.merge(("temp_dir", store::staging::staging_dir(&data_dir))),
        Err(_) => figment,
    }
}

/// Before serving: removes the staged uploads and partial blob files a killed process left
/// (see `store::staging::sweep`); a failure aborts ignition with the problem logged.
fn sweep_crash_leftovers() -> AdHoc {
    AdHoc::try_on_ignite("crash leftovers", |rocket| async move {
        let Some(app) = rocket.state::<App>() else {
            return Ok(rocket);
        };
        let data_dir = app.settings.data_dir.clone();
        let blob_dir = match &app.settings.storage {
            config::StorageUrl::File(dir) => Some(dir.clone()),
            config::StorageUrl::S3 { .. } => None,
        };
        // A store shared by several instances may hold another one's write in progress.
        let min_age = std::time::Duration::from_secs(if app.settings.storage_shared { 3600 } else { 0 });
        let swept =
            tokio::task::spawn_blocking(move || store::staging::sweep(&data_dir, blob_dir.as_deref(), min_age)).await;
        match swept {
            Ok(Ok(swept)) => {
                if swept != store::staging::Swept::default() {
                    tracing::info!(?swept, "removed what an earlier crash left behind");
                }
                Ok(rocket)
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot clean the upload staging directory or the photo store");
                Err(rocket)
            }
            Err(e) => {
                tracing::error!(error = %e, "crash leftovers sweep failed");
                Err(rocket)
            }
        }
    })
}

/// An app whose backends are built when it ignites; a configuration or backend problem
/// aborts ignition with the problem logged.
pub fn app(figment: Figment) -> Rocket<Build> {
    app_with_clock(figment, std::sync::Arc::new(clock::SystemClock))
}

/// `app` with `clock` deciding the expiry kept in process (sessions, login throttle windows,
/// the in-process cache, the roster): tests pass a `clock::ManualClock` and advance it.
pub fn app_with_clock(figment: Figment, clock: std::sync::Arc<dyn clock::Clock>) -> Rocket<Build> {
    let rocket = mount(rocket::custom(staged_in_data_dir(figment)));
    rocket
        .attach(AdHoc::try_on_ignite("stratus backends", |rocket| async move {
            let built = match Settings::from_figment(rocket.figment()) {
                Ok(settings) => App::build_with_clock(settings, clock).await,
                Err(e) => Err(e.into()),
            };
            match built {
                Ok(app) => Ok(rocket.manage(app)),
                Err(e) => {
                    tracing::error!("{e}");
                    Err(rocket)
                }
            }
        }))
        .attach(routes::templates())
        .attach(sweep_crash_leftovers())
}

/// Level 3's graceful scale-in, for the binary: on SIGTERM `/readyz` turns 503 at once while
/// requests are still served for `drain_secs` (the load balancer's health check notices and
/// stops sending any), then Rocket's own graceful shutdown lets requests in flight finish
/// within `shutdown.grace`. Rocket.toml leaves SIGTERM to this (`shutdown.signals = []`).
pub fn drain_on_sigterm() -> AdHoc {
    AdHoc::on_liftoff("drain on SIGTERM", |rocket| {
        Box::pin(async move {
            let Some(app) = rocket.state::<App>() else {
                return;
            };
            let (draining, drain, shutdown) = (app.draining.clone(), app.settings.drain, rocket.shutdown());
            let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
            tokio::spawn(async move {
                terminate.recv().await;
                tracing::info!(drain_secs = drain.as_secs(), "SIGTERM: readiness now 503, draining");
                draining.store(true, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(drain).await;
                tracing::info!("drained; finishing requests in flight and exiting");
                shutdown.notify();
            });
        })
    })
}

/// Once listening, one line on stdout: `stratus listening on http://ADDRESS:PORT`, the address
/// actually bound. With `port = 0` the system picks a free port, and whoever started the
/// process (a test, a script) reads it here instead of guessing one that may be taken.
fn report_bound_address() -> AdHoc {
    AdHoc::on_liftoff("bound address", |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            println!("stratus listening on http://{}", std::net::SocketAddr::new(config.address, config.port));
        })
    })
}

/// An app around an already-built `App` (the binary builds it first, to report a bad
/// configuration in one line before Rocket starts). It reports the address it binds (see
/// `report_bound_address`); `app`, for in-process clients that bind nothing, does not.
pub fn app_with(figment: Figment, app: App) -> Rocket<Build> {
    mount(rocket::custom(staged_in_data_dir(figment)))
        .manage(app)
        .attach(routes::templates())
        .attach(sweep_crash_leftovers())
        .attach(report_bound_address())
}
