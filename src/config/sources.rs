//! Where settings come from, lowest first: Rocket's own defaults, the defaults declared in
//! `config`, the embedded Rocket.toml (`[default]`, then the profile's section), `./Rocket.toml`
//! (or `ROCKET_CONFIG`), the tutorial level, then `ROCKET_*` variables.
//!
//! A level is its profile plus deltas: `profiles/level0.toml` builds on the profile it names,
//! and every later level file on the level below it (naming a profile where it switches), so a
//! level file holds exactly what that level changes.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile, Provider};
use rust_embed::RustEmbed;

use super::ConfigError;

/// The Rocket.toml compiled into the binary: the profiles, and Rocket's own settings.
pub const EMBEDDED_ROCKET_TOML: &str = include_str!("../../Rocket.toml");

/// The tutorial's level files, `level0.toml` to `level6.toml`.
#[derive(RustEmbed)]
#[folder = "profiles"]
pub struct LevelFiles;

/// The name of the layer of declared defaults (`config::defaults`).
pub const BUILT_IN: &str = "default (built into stratus)";

/// A provider under a name of our choosing: figment would call both built-in TOML sources
/// "TOML source string", and a teacher needs to tell the embedded Rocket.toml from a level file.
pub struct Named<P> {
    pub name: String,
    pub inner: P,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<figment::value::Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }

    fn profile(&self) -> Option<Profile> {
        self.inner.profile()
    }
}

/// The profile used when neither `ROCKET_PROFILE` nor a level names one.
const DEFAULT_PROFILE: &str = "single";

/// The configuration the binary uses: the sources above, the level from `level` or else
/// `STRATUS_LEVEL`, the profile from `ROCKET_PROFILE`, else the level's, else `single`.
pub fn figment(level: Option<&str>) -> Result<Figment, ConfigError> {
    let level = level.map(str::to_owned).or_else(|| std::env::var("STRATUS_LEVEL").ok().filter(|l| !l.is_empty()));
    let profile = std::env::var("ROCKET_PROFILE").ok().filter(|p| !p.is_empty());
    layered(
        level.as_deref(),
        profile,
        Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested(),
        Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global(),
    )
}

/// `figment` with its outside inputs given: the level and profile chosen, the local file and
/// the environment (tests pass empty ones).
pub(crate) fn layered(
    level: Option<&str>,
    profile_override: Option<String>,
    local: impl Provider,
    env: impl Provider,
) -> Result<Figment, ConfigError> {
    let defaults = Named { name: BUILT_IN.into(), inner: Serialized::defaults(super::defaults()?) };
    let embedded =
        Named { name: "Rocket.toml built into stratus".into(), inner: Toml::string(EMBEDDED_ROCKET_TOML).nested() };
    let mut figment = Figment::from(rocket::Config::default()).merge(defaults).merge(embedded).merge(local);
    let chain = level.map(chain).transpose()?;
    let level_profile = chain.as_ref().map(|chain| chain.profile.clone());
    let profile = profile_override.or(level_profile).unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    if let Some(chain) = chain {
        // The level's profile section again, above ./Rocket.toml as the level itself is, and
        // into the profile selected, should ROCKET_PROFILE name another.
        let base = profile_section(&chain.profile)?;
        figment = figment.merge(Named {
            name: format!("Rocket.toml [{}] built into stratus", chain.profile),
            inner: Serialized::from(base, profile.as_str()),
        });
        for (number, keys) in chain.files {
            figment = figment.merge(Named {
                name: format!("profiles/level{number}.toml built into stratus"),
                inner: Serialized::from(keys, profile.as_str()),
            });
        }
    }
    Ok(figment.merge(env).select(profile))
}

/// A level: the profile it builds on, and the level files from level 0 up to it, in order.
struct Chain {
    profile: String,
    files: Vec<(usize, Dict)>,
}

pub(super) fn level_file(number: usize) -> Option<Dict> {
    let file = LevelFiles::get(&format!("level{number}.toml"))?;
    let text = String::from_utf8_lossy(&file.data).into_owned();
    Figment::from(Toml::string(&text)).extract::<Dict>().ok()
}

fn chain(level: &str) -> Result<Chain, ConfigError> {
    let unknown = || {
        let mut known: Vec<String> = LevelFiles::iter().map(|n| n.trim_end_matches(".toml").to_string()).collect();
        known.sort();
        ConfigError::new("level", format!("no level {level:?} (have: {})", known.join(", ")))
    };
    let number: usize = level.parse().map_err(|_| unknown())?;
    let mut chain = Chain { profile: DEFAULT_PROFILE.to_owned(), files: Vec::new() };
    for n in 0..=number {
        let keys = level_file(n).ok_or_else(unknown)?;
        if let Some(profile) = keys.get("stratus_profile").and_then(Value::as_str) {
            chain.profile = profile.to_owned();
        }
        chain.files.push((n, keys));
    }
    Ok(chain)
}

/// One profile's section of the embedded Rocket.toml.
pub(super) fn profile_section(profile: &str) -> Result<Dict, ConfigError> {
    let mut sections = Toml::string(EMBEDDED_ROCKET_TOML)
        .nested()
        .data()
        .map_err(|e| ConfigError::new("Rocket.toml", e.to_string()))?;
    Ok(sections.remove(&Profile::new(profile)).unwrap_or_default())
}

/// Level `number`'s keys as they stand once it is applied: its profile's section with the
/// level files up to it on top, unset (`""`) keys left out; `None` for no such level.
pub fn level_settings(number: usize) -> Option<Dict> {
    let chain = chain(&number.to_string()).ok()?;
    let mut keys = profile_section(&chain.profile).ok()?;
    for (_, file) in chain.files {
        keys.extend(file);
    }
    keys.retain(|_, value| value.as_str() != Some(""));
    Some(keys)
}
