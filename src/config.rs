//! The app's settings: every key declared once, in the table below (type, default, one-line
//! doc, parsing and checks), read from Rocket's figment before anything starts. Keys are flat
//! so that every one can be set as `ROCKET_<KEY>`.

#[macro_use]
mod declare;
mod sources;
mod urls;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::value::{Dict, Value};

use crate::access_log::Destination;
use crate::net::{ForwardedHeader, TrustedProxies};
use crate::remote::tls::TlsTrust;

pub use declare::Key;
#[cfg(test)]
pub(crate) use sources::layered;
pub use sources::{BUILT_IN, Named, figment, level_settings};
pub use urls::{AccessLogStream, Blankable, CacheUrl, DatabaseUrl, Secret, ServerUrl, SessionUrl, StorageUrl};

/// A configuration problem: names the key and what is wrong, in one line.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(key: &str, problem: impl Into<String>) -> Self {
        Self { key: key.to_owned(), problem: problem.into() }
    }
}

const MIB: u64 = 1024 * 1024;

settings! {
    /// SQLite file, photos and the generated secret key (single profile); uploads are staged in `<data_dir>/staging` (0700), emptied at every start. One instance per `data_dir`
    data_dir: PathBuf { key: "data_dir", default: PathBuf::from("data") },
    /// Metadata database: `sqlite://PATH` or `mysql://USER:PASSWORD@HOST:3306/DB`; unset: `sqlite://<data_dir>/stratus.db`
    database: DatabaseUrl {
        key: "database_url", raw: Blankable<DatabaseUrl>, default: Blankable(None),
        parse: |url| Ok(url.0.unwrap_or_else(|| DatabaseUrl::Sqlite(data_dir.join("stratus.db")))),
        derived: "data_dir",
    },
    /// Where photo blobs live: `file://DIR` or `s3://BUCKET/PREFIX`; unset: `file://<data_dir>/photos`
    storage: StorageUrl {
        key: "storage_url", raw: Blankable<StorageUrl>, default: Blankable(None),
        parse: |url| Ok(url.0.unwrap_or_else(|| StorageUrl::File(data_dir.join("photos")))),
        derived: "data_dir",
    },
    /// The `file://` directory is a mount every instance shares (level 1's EFS/NFS)
    storage_shared: bool { key: "storage_shared", default: false },
    /// Lifetime of presigned image URLs (S3 store without `media_base_url`)
    presign_ttl: Duration {
        key: "presign_ttl_secs", raw: u64, default: 3600,
        // The front page makes its image URLs anew at half this lifetime (service::feed).
        parse: |secs| Ok(Duration::from_secs(secs.max(2))),
    },
    /// When set, image URLs are this base + key (a CDN, level 5): `https://...`, `http://...` or `/...`
    media_base_url: Option<String> {
        key: "media_base_url", raw: Blankable<String>, default: Blankable(None),
        parse: |base| match base.0 {
            Some(base) if !(base.starts_with("https://") || base.starts_with("http://") || base.starts_with('/')) => {
                Err("must start with https://, http:// or /".into())
            }
            base => Ok(base.map(|b| b.trim_end_matches('/').to_owned())),
        },
    },
    /// `/media` keeps blobs up to 1 MiB (thumbnails) in memory, this many MiB in all (weighed by bytes, entries live at most `cache_ttl_secs`); `0` = off. Larger blobs are always streamed
    media_cache_bytes: u64 {
        key: "media_cache_mb", raw: u64, default: 64, parse: |mb| Ok(mb.saturating_mul(MIB)),
    },
    /// `memory` (moka, in-process), `none`, `redis://HOST:6379`, `redis+cluster://H1:P,H2:P`, `memcache://H1:11211,H2:11211` (TLS: `rediss://`, `memcache+tls://`)
    cache: CacheUrl { key: "cache_url", default: CacheUrl::Memory },
    /// `memory` (in-process), or a Redis / Redis Cluster / memcached URL as for `cache_url`
    sessions: SessionUrl { key: "session_url", default: SessionUrl::Memory },
    /// Prepended to every key in a shared cache or session server, so several sites (or test runs) can share one server
    key_prefix: String { key: "key_prefix", default: "stratus:".into() },
    /// Photos on the front page (1–100)
    front_page_size: u32 {
        key: "front_page_size", default: 10,
        parse: |n| if (1..=100).contains(&n) { Ok(n) } else { Err("must be between 1 and 100".into()) },
    },
    /// Level 3's simulated latency on the front page (a timer, no thread held)
    latency: Duration { key: "latency_ms", raw: u64, default: 0, parse: |ms| Ok(Duration::from_millis(ms)) },
    /// Seed the demo photos on an empty database
    seed_demo: bool { key: "seed_demo", default: true },
    /// ≥ 32 characters, the same on every instance of a fleet; unset: generated once into `<data_dir>/secret_key`
    secret_key: Option<Secret> {
        key: "secret_key", raw: Blankable<Secret>, default: Blankable(None), parse: |key| Ok(key.0),
    },
    /// Shown with host:port in the footer and `X-Served-By`
    instance_id: Option<String> {
        key: "instance_id", raw: Blankable<String>, default: Blankable(None), parse: |id| Ok(id.0),
    },
    /// Rocket's request size limits: `file` is the largest photo accepted; `form` also caps each text field of the upload form
    upload_limit_bytes: u64 {
        key: "limits", raw: Limits, default: Limits::stratus(),
        parse: |limits| Ok(limits.get("file").unwrap_or(MIB)),
    },
    /// Pixel limit per side, checked from the image header before decoding
    max_image_side: u32 {
        key: "max_image_side", default: 10_000,
        parse: |side| if side == 0 { Err("limits must be positive".into()) } else { Ok(side) },
    },
    /// Pixel limit per image, checked from the image header before decoding
    max_image_pixels: u64 {
        key: "max_image_pixels", default: 50_000_000,
        parse: |pixels| if pixels == 0 { Err("limits must be positive".into()) } else { Ok(pixels) },
    },
    /// Memory all images being decoded at once may take, in MiB (at least 16)
    decode_memory_bytes: u64 {
        key: "decode_memory_mb", raw: u64, default: 192, parse: |mb| Ok(mb.max(16) * MIB),
    },
    /// Images decoded at once; `0` = one per core
    upload_concurrency: usize {
        key: "upload_concurrency", default: 0,
        parse: |n| Ok(if n == 0 { std::thread::available_parallelism().map_or(2, |cores| cores.get()) } else { n }),
        derived: "the number of cores",
    },
    /// Front-page cache lifetime
    cache_ttl: Duration {
        key: "cache_ttl_secs", raw: u64, default: 300, parse: |secs| Ok(Duration::from_secs(secs.max(1))),
    },
    /// A session ends after this long without a request
    session_idle: Duration {
        key: "session_idle_secs", raw: u64, default: 24 * 3600, parse: |secs| Ok(Duration::from_secs(secs.max(1))),
    },
    /// A session ends this long after sign-in, however active
    session_absolute: Duration {
        key: "session_absolute_secs", raw: u64, default: 30 * 24 * 3600,
        parse: |secs| Ok(Duration::from_secs(secs.max(1))),
    },
    /// Password checks per client address (IPv6: per /64) per minute, counted before hashing and given back on success; then 429. Each account also has its own limit across all addresses: 50 failures an hour, then 429 for that account only. The counters live in the session server (`session_url`), so a fleet shares them; in process (`memory`) they hold at most 65 536 keys (about 10 MiB), and a flood of new addresses past that is refused (429) rather than remembered
    login_failures_per_minute: u32 { key: "login_failures_per_minute", default: 10, parse: |n: u32| Ok(n.max(1)) },
    /// Set `true` behind HTTPS; also sends `Strict-Transport-Security: max-age=63072000; includeSubDomains`
    cookie_secure: bool { key: "cookie_secure", default: false },
    /// The address to listen on
    address: IpAddr { key: "address", default: IpAddr::from([127, 0, 0, 1]) },
    /// The port to listen on; `0`: the system picks a free one. Once listening, `stratus` prints one line on stdout, `stratus listening on http://127.0.0.1:PORT`, with the address it bound
    port: u16 { key: "port", default: 8000 },
    /// Serve `/metrics` (Prometheus text format)
    metrics: bool { key: "metrics", default: true },
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, so the load balancer stops sending new ones (then `shutdown.grace` = 5 s for requests in flight)
    drain: Duration { key: "drain_secs", raw: u64, default: 3, parse: |secs| Ok(Duration::from_secs(secs)) },
    /// Level 6's JSON access log: `stdout`, `off` or a file path (SIGHUP reopens it, for logrotate)
    access_log: Destination {
        key: "access_log", raw: String, default: "off".into(), parse: |to| Ok(Destination::parse(&to)),
    },
    /// A Redis URL: every line is also appended (`XADD … MAXLEN ~`) to one Stream for the fleet; or `kinesis://STREAM`: every line is a record of that Kinesis Data Stream (region and credentials from the standard AWS chain; see "Operating a fleet")
    access_log_stream: Option<AccessLogStream> {
        key: "access_log_stream", raw: Blankable<AccessLogStream>, default: Blankable(None), parse: |s| Ok(s.0),
    },
    /// The Redis Stream's key; unset: `<key_prefix>access-log`
    access_log_stream_key: String {
        key: "access_log_stream_key", raw: Blankable<String>, default: Blankable(None),
        parse: |name| Ok(name.0.unwrap_or_else(|| format!("{key_prefix}access-log"))),
        derived: "key_prefix",
    },
    /// The Stream is trimmed to about this many lines (at least 1000)
    access_log_stream_maxlen: u64 {
        key: "access_log_stream_maxlen", default: 100_000, parse: |n: u64| Ok(n.max(1000)),
    },
    /// ... and to about this many MiB of Redis memory (see "Operating a fleet")
    access_log_stream_max_bytes: u64 {
        key: "access_log_stream_max_mb", raw: u64, default: 64, parse: |mb| Ok(mb.max(1) * MIB),
    },
    /// The header the trusted proxies append the client to: `X-Forwarded-For` (haproxy, AWS load balancers) or `Forwarded` (RFC 7239). Only that one is read: the other would be the client's own
    forwarded_header: ForwardedHeader {
        key: "forwarded_header", raw: String, default: "X-Forwarded-For".into(),
        parse: |header| ForwardedHeader::parse(&header),
    },
    /// Networks (`["10.0.0.0/8"]`) whose forwarded-address header is believed, for the access log and login throttling
    trusted_proxies: TrustedProxies {
        key: "trusted_proxies", raw: Vec<String>, default: Vec::new(),
        parse: |networks| Ok(TrustedProxies::parse(&networks)?.reading(forwarded_header)),
    },
    /// The window of `/admin/traffic`
    traffic_window_secs: u64 { key: "traffic_window_secs", default: 10, parse: |secs: u64| Ok(secs.max(1)) },
    /// A PEM bundle (e.g. Amazon RDS's) trusted, besides the platform's roots, by TLS connections to MySQL, Redis and memcached (see "TLS")
    tls: TlsTrust {
        key: "tls_ca_file", raw: Blankable<PathBuf>, default: Blankable(None),
        parse: |file| match file.0 {
            Some(path) => TlsTrust::from_pem_file(&path),
            None => Ok(TlsTrust::default()),
        },
    },
    /// Open the "How this page was served" panel on every page (it opens anyway when a tutorial level is chosen)
    teaching_panel: bool { key: "teaching_panel", default: false },
    /// The tutorial level in use (each level file sets it)
    level: Option<String> {
        key: "stratus_level", raw: Blankable<String>, default: Blankable(None), parse: |level| Ok(level.0),
    },
    /// A directory of templates that replace the built-in pages of the same file name (`photo.html.j2`, see "Front end"); reloaded live in debug builds. Unset or missing: the built-in templates
    template_dir: Option<PathBuf> {
        key: "template_dir", raw: Blankable<PathBuf>, default: Blankable(None), parse: |dir| Ok(dir.0),
    },
}

/// Keys that are no longer read, refused with what to do instead.
fn refuse_removed_keys(data: &Dict) -> Result<(), ConfigError> {
    if data.contains_key("admin_user") {
        return Err(ConfigError::new(
            "admin_user",
            "removed; grant the role with `stratus admin grant NAME` (and remove admin_user from your configuration)",
        ));
    }
    Ok(())
}

/// Rocket's `limits` table, declared here because Stratus reads `limits.file`; sizes are
/// written as Rocket.toml would (`20MiB`), so Rocket reads the defaults back unchanged.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Limits(std::collections::BTreeMap<String, rocket::data::ByteUnit>);

impl Limits {
    /// A photo of up to 20 MiB, its form 1 MiB more; other forms 64 KiB, JSON 1 MiB.
    fn stratus() -> Self {
        use rocket::data::ToByteUnit;
        let sizes = [
            ("file", 20.mebibytes()),
            ("data-form", 21.mebibytes()),
            ("form", 64.kibibytes()),
            ("json", 1.mebibytes()),
        ];
        Self(sizes.into_iter().map(|(name, size)| (name.to_owned(), size)).collect())
    }

    fn get(&self, name: &str) -> Option<u64> {
        self.0.get(name).map(|size| size.as_u64())
    }
}

impl serde::Serialize for Limits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, size)| (name, exact_size(size.as_u64()))))
    }
}

/// A size as Rocket.toml writes it, exactly (`ByteUnit`'s own display rounds 21 MiB to `22.02MB`).
fn exact_size(bytes: u64) -> String {
    match bytes {
        0 => "0".into(),
        b if b % MIB == 0 => format!("{}MiB", b / MIB),
        b if b % 1024 == 0 => format!("{}KiB", b / 1024),
        b => b.to_string(),
    }
}

impl Settings {
    /// In the fleet profile every instance must see the same site: a backend that keeps state
    /// on one node would split it (a user logged in on one instance only, a photo on one disk
    /// only). Checked before serving rather than in `from_figment`, because `stratus config`,
    /// `levels` and the data commands run on a fleet's settings without its secret key.
    pub fn check_fleet_safety(&self) -> Result<(), ConfigError> {
        if self.profile != "fleet" {
            return Ok(());
        }
        if let DatabaseUrl::Sqlite(_) = self.database {
            return Err(ConfigError::new(
                "database_url",
                "the fleet profile needs a shared database, and SQLite lives on one node: set database_url = mysql://USER:PASSWORD@HOST:3306/DB",
            ));
        }
        if let StorageUrl::File(dir) = &self.storage
            && !self.storage_shared
        {
            return Err(ConfigError::new(
                "storage_url",
                format!(
                    "{} is a node-local directory: set storage_url = s3://BUCKET/PREFIX, or storage_shared = true if it is a mount every instance shares (EFS, NFS)",
                    dir.display()
                ),
            ));
        }
        if self.cache == CacheUrl::Memory {
            return Err(ConfigError::new(
                "cache_url",
                "an in-process cache goes stale on the other instances: set cache_url = redis://HOST:6379 or memcache://HOST:11211 (or none)",
            ));
        }
        if self.sessions == SessionUrl::Memory {
            return Err(ConfigError::new(
                "session_url",
                "in-process sessions log visitors out on the other instances: set session_url = redis://HOST:6379 or memcache://HOST:11211",
            ));
        }
        if self.secret_key.is_none() {
            return Err(ConfigError::new(
                "secret_key",
                "a generated key differs per instance, so forms from one fail on another: set the same ROCKET_SECRET_KEY (e.g. `openssl rand -base64 32`) on every instance",
            ));
        }
        Ok(())
    }
}

/// A declared default as the README shows it: `unset`, `derived`, or the value.
fn shown_default(key: &Key, defaults: &Dict) -> String {
    match (defaults.get(key.name), key.derived_from) {
        (Some(Value::Num(_, n)), Some(from)) if n.to_u128() == Some(0) => format!("`0` ({from})"),
        (Some(Value::String(_, s)), _) => format!("`{s}`"),
        (Some(Value::Dict(_, dict)), _) => {
            let pairs: Vec<String> =
                dict.iter().map(|(k, v)| format!("{k} = {}", v.as_str().unwrap_or_default())).collect();
            format!("`{}`", pairs.join(", "))
        }
        (Some(other), _) => format!("`{}`", serde_json::to_string(other).unwrap_or_default()),
        (None, Some(from)) => format!("from `{from}`"),
        (None, None) => "unset".into(),
    }
}

/// The README's configuration table, made from `KEYS` and `defaults()`: `key | default | meaning`.
pub fn markdown_table() -> Result<String, ConfigError> {
    let defaults = defaults()?;
    let mut table = String::from("| key | default | meaning |\n|---|---|---|\n");
    for key in KEYS {
        table.push_str(&format!("| `{}` | {} | {} |\n", key.name, shown_default(key, &defaults), key.doc.trim()));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Serialized, Toml};
    use figment::{Figment, Provider};

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        for (k, v) in pairs {
            figment = figment.merge(Serialized::default(k, v));
        }
        Settings::from_figment(&figment)
    }

    #[test]
    fn defaults_live_under_data_dir() {
        let s = settings(&[("data_dir", "/tmp/x")]).expect("defaults are valid");
        assert_eq!(s.database, DatabaseUrl::Sqlite("/tmp/x/stratus.db".into()));
        assert_eq!(s.storage, StorageUrl::File("/tmp/x/photos".into()));
        assert_eq!(s.cache, CacheUrl::Memory);
        assert_eq!(s.front_page_size, 10);
    }

    #[test]
    fn fleet_urls_parse_and_passwords_stay_hidden() {
        let s = settings(&[
            ("database_url", "mysql://app:s3cret@db:3306/stratus"),
            ("storage_url", "s3://photos/site-a/"),
            ("cache_url", "redis+cluster://r1:6379,r2:6379"),
            ("session_url", "memcache://m1:11211,m2:11211"),
        ])
        .expect("fleet urls");
        assert_eq!(s.storage, StorageUrl::S3 { bucket: "photos".into(), prefix: "site-a".into() });
        assert!(matches!(s.cache, CacheUrl::Redis(_)));
        assert!(matches!(s.sessions, SessionUrl::Memcached(_)));
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("mysql://app:[redacted]@db:3306/stratus"));
    }

    #[test]
    fn the_access_log_stream_is_a_redis_server_or_a_kinesis_stream() {
        let s = settings(&[("access_log_stream", "redis+cluster://r1:6379,r2:6379")]).expect("cluster");
        assert!(s.access_log_stream.is_some());
        let e = settings(&[("access_log_stream", "memcache://m:11211")]).expect_err("memcached has no streams");
        assert_eq!(e.key, "access_log_stream");
        let s = settings(&[("access_log_stream", "kinesis://stratus-access")]).expect("kinesis");
        assert!(
            matches!(&s.access_log_stream, Some(AccessLogStream::Kinesis(name)) if name.as_str() == "stratus-access")
        );
        let e = settings(&[("access_log_stream", "kinesis://no/such name")]).expect_err("not a stream name");
        assert!(e.to_string().contains("not a Kinesis stream name"), "{e}");
        assert!(settings(&[("access_log_stream", "")]).expect("empty is off").access_log_stream.is_none());
    }

    #[test]
    fn tls_urls_parse_and_their_secrets_stay_hidden() {
        let s = settings(&[
            ("cache_url", "rediss+cluster://app:cluster-s3cret@r1:6379,r2:6379"),
            ("session_url", "memcache+tls://m1:11211,m2:11211"),
            ("access_log_stream", "rediss://:auth-t0ken@r:6379"),
        ])
        .expect("TLS urls");
        assert!(matches!(s.cache, CacheUrl::Redis(_)));
        assert!(matches!(s.sessions, SessionUrl::Memcached(_)));
        let shown = format!("{s:?}");
        assert!(!shown.contains("cluster-s3cret") && !shown.contains("auth-t0ken"), "{shown}");
        assert!(shown.contains("rediss://:[redacted]@r:6379"), "{shown}");
        let e = settings(&[("tls_ca_file", "/nonexistent/rds-global-bundle.pem")]).expect_err("missing bundle");
        assert_eq!(e.key, "tls_ca_file");
        assert!(e.problem.contains("/nonexistent/rds-global-bundle.pem"), "{e}");
    }

    #[test]
    fn the_fleet_profile_alone_means_mysql_s3_a_cdn_and_redis() {
        let nothing = || Serialized::defaults(Dict::new());
        let figment = layered(None, Some("fleet".into()), nothing(), nothing()).expect("figment");
        let s = Settings::from_figment(&figment).expect("fleet settings");
        assert!(matches!(s.database, DatabaseUrl::Mysql(_)), "{:?}", s.database);
        assert_eq!(s.storage, StorageUrl::S3 { bucket: "stratus-photos".into(), prefix: "photos".into() });
        assert_eq!(s.media_base_url.as_deref(), Some("https://d111111abcdef8.cloudfront.net"));
        assert!(matches!(s.cache, CacheUrl::Redis(_)) && matches!(s.sessions, SessionUrl::Redis(_)));
        let e = s.check_fleet_safety().expect_err("no shared secret key");
        assert_eq!(e.key, "secret_key");
        let single =
            Settings::from_figment(&layered(None, None, nothing(), nothing()).expect("figment")).expect("single");
        assert_eq!((single.cache, single.sessions), (CacheUrl::Memory, SessionUrl::Memory));
    }

    #[test]
    fn an_empty_value_takes_back_what_a_profile_set() {
        let s = settings(&[("media_base_url", ""), ("secret_key", ""), ("database_url", "")]).expect("unset");
        assert_eq!(s.media_base_url, None);
        assert_eq!(s.secret_key, None);
        assert_eq!(s.database, DatabaseUrl::Sqlite("data/stratus.db".into()));
        let e = settings(&[("media_base_url", "cdn.example.com")]).expect_err("no scheme");
        assert_eq!(e.key, "media_base_url");
    }

    #[test]
    fn printing_the_settings_never_shows_the_secret_key() {
        let secret = "a-secret-key-of-more-than-thirty-two-characters";
        let s = settings(&[("secret_key", secret)]).expect("valid");
        assert_eq!(s.secret_key.as_ref().map(Secret::expose), Some(secret));
        let printed = format!("{s:?}");
        assert!(!printed.contains(secret) && printed.contains("secret_key: Some([redacted])"), "{printed}");
    }

    /// Each key's default is written once: the embedded Rocket.toml's `[default]` holds only
    /// Rocket's own settings, and `[single]`, being the defaults, holds nothing.
    #[test]
    fn no_declared_default_is_written_again_in_rocket_toml() {
        let sections = Toml::string(sources::EMBEDDED_ROCKET_TOML).nested().data().expect("Rocket.toml");
        for profile in ["default", "single"] {
            let section = sections.get(&figment::Profile::new(profile)).cloned().unwrap_or_default();
            let twice: Vec<&String> = section.keys().filter(|key| KEYS.iter().any(|k| k.name == *key)).collect();
            assert!(twice.is_empty(), "[{profile}] repeats declared keys {twice:?}");
        }
    }

    /// A level file holds only what its level changes: no key it sets already has that value
    /// one level down.
    #[test]
    fn every_level_file_is_a_delta_on_the_level_below() {
        for number in 1..=6 {
            let keys = sources::level_file(number).expect("level file");
            let profile = level_settings(number).and_then(|s| s.get("stratus_profile")?.as_str().map(str::to_owned));
            // The level below as it stands on this level's profile (level 1 switches to fleet).
            let mut below = sources::profile_section(&profile.expect("a profile")).expect("profile");
            for lower in 0..number {
                below.extend(sources::level_file(lower).expect("level file"));
            }
            for (key, value) in keys {
                let unchanged = match below.get(&key) {
                    Some(before) => *before == value,
                    None => value.as_str() == Some(""),
                };
                assert!(!unchanged, "level {number} sets {key} to what level {} has", number - 1);
            }
        }
    }

    /// Rocket reads its request limits from the declared defaults, to the byte.
    #[test]
    fn rocket_reads_the_declared_limits() {
        use rocket::data::ToByteUnit;
        let nothing = || Serialized::defaults(Dict::new());
        let config: rocket::Config =
            layered(None, None, nothing(), nothing()).expect("figment").extract().expect("config");
        assert_eq!(config.limits.get("file"), Some(20.mebibytes()));
        assert_eq!(config.limits.get("data-form"), Some(21.mebibytes()));
        assert_eq!(config.limits.get("form"), Some(64.kibibytes()));
        assert_eq!(config.limits.get("json"), Some(1.mebibytes()));
    }

    #[test]
    fn the_readme_table_is_made_from_the_declaration() {
        let readme = include_str!("../README.md");
        let start = "<!-- configuration keys: generated from src/config.rs -->\n";
        let end = "<!-- end of configuration keys -->";
        let table = readme.split_once(start).and_then(|(_, rest)| rest.split_once(end)).map(|(table, _)| table);
        let expected = markdown_table().expect("table");
        assert_eq!(
            table,
            Some(expected.as_str()),
            "README.md's configuration table is out of date; it should read:\n{expected}"
        );
        for key in KEYS {
            assert!(!key.doc.trim().is_empty() && !key.doc.contains('\n'), "{}: one line of doc", key.name);
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = settings(&[("cache_url", "bogus://x")]).expect_err("unknown cache scheme");
        assert_eq!(err.key, "cache_url");
        let err = settings(&[("database_url", "postgres://x")]).expect_err("unknown db scheme");
        assert!(err.to_string().starts_with("config key `database_url`: unknown scheme"));
        let err = settings(&[("front_page_size", "zero")]).expect_err("not a number");
        assert_eq!(err.key, "front_page_size");
    }
}

/// Every tutorial level's effective settings, pinned: the level files may be reshaped, what a
/// level runs with may not change unnoticed.
#[cfg(test)]
mod level_pins {
    use super::Settings;
    use figment::providers::Serialized;
    use figment::value::Dict;

    /// The settings as text, without the one value that depends on the machine (cores).
    fn pinned(s: &Settings) -> String {
        let fields: [(&str, &dyn std::fmt::Debug); 40] = [
            ("data_dir", &s.data_dir),
            ("database", &s.database),
            ("storage", &s.storage),
            ("media_base_url", &s.media_base_url),
            ("cache", &s.cache),
            ("sessions", &s.sessions),
            ("front_page_size", &s.front_page_size),
            ("latency", &s.latency),
            ("seed_demo", &s.seed_demo),
            ("secret_key", &s.secret_key),
            ("instance_id", &s.instance_id),
            ("max_image_side", &s.max_image_side),
            ("max_image_pixels", &s.max_image_pixels),
            ("decode_memory_bytes", &s.decode_memory_bytes),
            ("cache_ttl", &s.cache_ttl),
            ("media_cache_bytes", &s.media_cache_bytes),
            ("session_idle", &s.session_idle),
            ("session_absolute", &s.session_absolute),
            ("login_failures_per_minute", &s.login_failures_per_minute),
            ("cookie_secure", &s.cookie_secure),
            ("port", &s.port),
            ("profile", &s.profile),
            ("level", &s.level),
            ("upload_limit_bytes", &s.upload_limit_bytes),
            ("key_prefix", &s.key_prefix),
            ("presign_ttl", &s.presign_ttl),
            ("storage_shared", &s.storage_shared),
            ("metrics", &s.metrics),
            ("drain", &s.drain),
            ("access_log", &s.access_log),
            ("access_log_stream", &s.access_log_stream),
            ("access_log_stream_key", &s.access_log_stream_key),
            ("access_log_stream_maxlen", &s.access_log_stream_maxlen),
            ("access_log_stream_max_bytes", &s.access_log_stream_max_bytes),
            ("trusted_proxies", &s.trusted_proxies),
            ("address", &s.address),
            ("traffic_window_secs", &s.traffic_window_secs),
            ("tls", &s.tls),
            ("teaching_panel", &s.teaching_panel),
            // upload_concurrency as "one per core": its number depends on the machine running this.
            (
                "upload_concurrency is 0 → cores",
                &(s.upload_concurrency == std::thread::available_parallelism().map_or(2, |n| n.get())),
            ),
        ];
        fields.iter().map(|(name, value)| format!("{name}: {value:?}\n")).collect()
    }

    fn effective(level: Option<&str>, profile: Option<&str>) -> String {
        let nothing = || Serialized::defaults(Dict::new());
        let figment = super::layered(level, profile.map(str::to_owned), nothing(), nothing()).expect("figment");
        let settings = Settings::from_figment(&figment).expect("settings");
        format!("== level {} profile {}\n{}", level.unwrap_or("-"), profile.unwrap_or("-"), pinned(&settings))
    }

    #[test]
    fn every_level_keeps_its_effective_settings() {
        let mut text = effective(None, None);
        for level in 0..=6 {
            text.push_str(&effective(Some(&level.to_string()), None));
        }
        // How a machine image starts a fleet: ROCKET_PROFILE=fleet and STRATUS_LEVEL=N.
        for level in 1..=6 {
            text.push_str(&effective(Some(&level.to_string()), Some("fleet")));
        }
        if std::env::var_os("STRATUS_REPIN").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/config/levels.pinned"), &text).expect("repin");
        }
        assert_eq!(text, include_str!("config/levels.pinned"));
    }
}
