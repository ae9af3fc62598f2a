//! Stratus: a photo-sharing site that re-creates the "Scalable Web Application" tutorial
//! level by level, as one Rocket binary.
//!
//! `app(figment)` builds an isolated instance (tests build as many as they like);
//! `figment()` is the configuration the binary uses.

pub mod access_log;
pub mod assets;
pub mod auth;
pub mod cache;
pub mod compress;
pub mod config;
pub mod config_report;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod net;
pub mod photos;
pub mod remote;
pub mod routes;
pub mod service;
pub mod session;
pub mod state;
pub mod store;
pub mod traffic;
pub mod views;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};
use rust_embed::RustEmbed;

use config_report::Named;

pub use config::{ConfigError, Settings};
pub use state::{App, StartupError};

/// The Rocket.toml compiled into the binary: the defaults when no file is around.
pub const EMBEDDED_ROCKET_TOML: &str = include_str!("../Rocket.toml");

#[derive(RustEmbed)]
#[folder = "profiles"]
struct LevelFiles;

/// The configuration sources, later ones winning: the embedded Rocket.toml, `./Rocket.toml`
/// (or `ROCKET_CONFIG`), the tutorial level overlay (`level`, else `STRATUS_LEVEL`), then
/// `ROCKET_*` variables. The profile is `ROCKET_PROFILE`, else the level's, else `single`.
pub fn figment(level: Option<&str>) -> Result<Figment, ConfigError> {
    let embedded =
        Named { name: "Rocket.toml built into stratus".into(), inner: Toml::string(EMBEDDED_ROCKET_TOML).nested() };
    let mut figment = Figment::from(rocket::Config::default())
        .merge(embedded)
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested());
    let level = level.map(str::to_owned).or_else(|| std::env::var("STRATUS_LEVEL").ok().filter(|l| !l.is_empty()));
    let mut profile = "single".to_owned();
    if let Some(level) = level {
        let file = LevelFiles::get(&format!("level{level}.toml")).ok_or_else(|| {
            let known: Vec<_> = LevelFiles::iter().map(|n| n.trim_end_matches(".toml").to_string()).collect();
            ConfigError::new("level", format!("no level {level:?} (have: {})", known.join(", ")))
        })?;
        let overlay = String::from_utf8_lossy(&file.data).into_owned();
        if let Ok(level_profile) = Figment::from(Toml::string(&overlay)).extract_inner::<String>("stratus_profile") {
            profile = level_profile;
        }
        let overlay = Toml::string(&overlay).profile(figment::Profile::Global);
        figment =
            figment.merge(Named { name: format!("profiles/level{level}.toml built into stratus"), inner: overlay });
    }
    let profile = std::env::var("ROCKET_PROFILE").ok().filter(|p| !p.is_empty()).unwrap_or(profile);
    Ok(figment.merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global()).select(profile))
}

fn mount(rocket: Rocket<Build>) -> Rocket<Build> {
    rocket
        .attach(metrics::RequestMetrics)
        .attach(access_log::AccessLogFairing)
        .attach(routes::SecurityHeaders)
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
    let rocket = mount(rocket::custom(staged_in_data_dir(figment)));
    rocket
        .attach(AdHoc::try_on_ignite("stratus backends", |rocket| async move {
            let built = match Settings::from_figment(rocket.figment()) {
                Ok(settings) => App::build(settings).await,
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

/// An app around an already-built `App` (the binary builds it first, to report a bad
/// configuration in one line before Rocket starts).
pub fn app_with(figment: Figment, app: App) -> Rocket<Build> {
    mount(rocket::custom(staged_in_data_dir(figment)))
        .manage(app)
        .attach(routes::templates())
        .attach(sweep_crash_leftovers())
}
