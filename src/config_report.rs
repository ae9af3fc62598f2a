//! `stratus config`: every effective setting, where its value came from, secrets redacted.

use figment::Figment;
use figment::value::{Dict, Value};

use crate::config::{BUILT_IN, ConfigError, ServerUrl, Settings};

/// Where one key's value came from, in words.
fn source_of(figment: &Figment, key: &str) -> String {
    let Some(metadata) = figment.find_metadata(key) else {
        return BUILT_IN.into();
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

/// The report: one `key = value  # source` line per setting, sorted by key. A key left to a
/// default computed from other keys (`database_url` from `data_dir`) shows that value.
pub fn report(figment: &Figment) -> Result<String, ConfigError> {
    let problem = |e: figment::Error| ConfigError::new("config", e.to_string());
    let settings = Settings::from_figment(figment)?;
    let mut effective: Dict = figment.extract().map_err(problem)?;
    let mut derived = std::collections::BTreeMap::new();
    for (key, value) in settings.derived() {
        let from = crate::config::KEYS.iter().find(|k| k.name == key).and_then(|k| k.derived_from).unwrap_or_default();
        if !effective.contains_key(key) || source_of(figment, key) == BUILT_IN {
            effective.insert(key.to_owned(), value);
            derived.insert(key.to_owned(), format!("derived from {from}"));
        }
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
        let source = derived.remove(&key).unwrap_or_else(|| source_of(figment, &key));
        out.push_str(&format!("{line:width$}  # {source}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;
    use figment::value::Dict;

    fn report_of(level: Option<&str>, env: &[(&str, &str)]) -> String {
        let mut overrides = Dict::new();
        for (key, value) in env {
            overrides.insert((*key).to_owned(), (*value).into());
        }
        let figment =
            crate::config::layered(level, None, Serialized::defaults(Dict::new()), Serialized::globals(overrides))
                .expect("figment");
        super::report(&figment).expect("report")
    }

    fn line<'a>(report: &'a str, key: &str) -> &'a str {
        report.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_else(|| panic!("no {key}: {report}"))
    }

    #[test]
    fn keys_left_to_a_computed_default_show_its_value_and_what_it_came_from() {
        let report = report_of(None, &[("data_dir", "/srv/site")]);
        let database = line(&report, "database_url");
        assert!(database.starts_with("database_url = \"sqlite:///srv/site/stratus.db\""), "{database}");
        assert!(database.ends_with("# derived from data_dir"), "{database}");
        assert!(line(&report, "storage_url").contains("\"file:///srv/site/photos\""), "{report}");
        assert!(line(&report, "access_log_stream_key").ends_with("# derived from key_prefix"), "{report}");
    }

    #[test]
    fn a_level_says_which_file_each_value_came_from() {
        let report = report_of(Some("4"), &[("database_url", "mysql://app:pw@db:3306/s")]);
        assert!(line(&report, "cache_url").ends_with("# profiles/level4.toml built into stratus"), "{report}");
        assert!(line(&report, "session_url").ends_with("# Rocket.toml [fleet] built into stratus"), "{report}");
        assert!(line(&report, "storage_shared").ends_with("# profiles/level2.toml built into stratus"), "{report}");
        assert!(line(&report, "database_url").contains("mysql://app:[redacted]@db:3306/s"), "{report}");
        assert!(!report.contains(":pw@"), "{report}");
    }
}
