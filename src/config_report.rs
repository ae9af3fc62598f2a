//! `stratus config`: every effective setting, where its value came from, secrets redacted.

use figment::value::{Dict, Value};
use figment::{Figment, Metadata, Profile, Provider};

use crate::config::{ConfigError, RawSettings, ServerUrl};

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

/// Where one key's value came from, in words.
fn source_of(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return "default (built into stratus)".into();
    };
    if metadata.name.contains("environment") {
        // A nested key (`limits.file`) is set through its top-level variable (`ROCKET_LIMITS`).
        let top = key.split('.').next().unwrap_or(key);
        return format!("env ROCKET_{}", top.to_ascii_uppercase());
    }
    match &metadata.source {
        Some(figment::Source::File(path)) => format!("file {}", path.display()),
        _ if metadata.name.starts_with("rocket::Config") => "default (built into Rocket)".into(),
        _ => metadata.name.to_string(),
    }
}

fn shown(key: &str, value: &Value) -> String {
    let secret = key == "secret_key" || key.ends_with("password") || key.ends_with("_token");
    match value {
        Value::String(_, s) if secret && !s.is_empty() => "[redacted]".into(),
        Value::String(_, s) if s.contains("://") => format!("{:?}", ServerUrl::new(s).redacted()),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn flatten(prefix: &str, dict: &Dict, out: &mut Vec<(String, Value)>) {
    for (key, value) in dict {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Dict(_, inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// The report: one `key = value  # source` line per setting, sorted by key.
pub fn report(figment: &Figment) -> Result<String, ConfigError> {
    let problem = |e: figment::Error| ConfigError::new("config", e.to_string());
    let mut effective: Dict = figment.extract().map_err(problem)?;
    let defaults = figment::providers::Serialized::defaults(RawSettings::default());
    for (key, value) in defaults.data().map_err(problem)?.into_values().flatten() {
        effective.entry(key).or_insert(value);
    }
    let mut rows = Vec::new();
    flatten("", &effective, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let lines: Vec<(String, String)> =
        rows.into_iter().map(|(key, value)| (format!("{key} = {}", shown(&key, &value)), key)).collect();
    let width = lines.iter().map(|(line, _)| line.len()).max().unwrap_or(0);
    let chosen_by = match std::env::var("ROCKET_PROFILE") {
        Ok(p) if !p.is_empty() => "env ROCKET_PROFILE",
        _ if effective.contains_key("stratus_profile") => "the level overlay's stratus_profile",
        _ => "default",
    };
    let mut out = format!("# profile: {} (from {chosen_by}); secrets shown as [redacted]\n", figment.profile());
    for (line, key) in lines {
        out.push_str(&format!("{line:width$}  # {}\n", source_of(figment, &key)));
    }
    Ok(out)
}
