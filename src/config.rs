//! The app's typed settings, extracted from Rocket's figment and checked before anything starts.
//! Keys are flat so that every one can be set as `ROCKET_<KEY>`.

use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub(crate) struct RawSettings {
    data_dir: PathBuf,
    database_url: Option<String>,
    storage_url: Option<String>,
    media_base_url: Option<String>,
    cache_url: String,
    session_url: String,
    front_page_size: u32,
    latency_ms: u64,
    seed_demo: bool,
    secret_key: Option<String>,
    instance_id: Option<String>,
    max_image_side: u32,
    max_image_pixels: u64,
    decode_memory_mb: u64,
    upload_concurrency: usize,
    cache_ttl_secs: u64,
    media_cache_mb: u64,
    session_idle_secs: u64,
    session_absolute_secs: u64,
    login_failures_per_minute: u32,
    cookie_secure: bool,
    address: std::net::IpAddr,
    port: u16,
    stratus_level: Option<String>,
    limits: rocket::data::Limits,
    key_prefix: String,
    presign_ttl_secs: u64,
    storage_shared: bool,
    metrics: bool,
    drain_secs: u64,
    access_log: String,
    access_log_stream: Option<String>,
    access_log_stream_key: Option<String>,
    access_log_stream_maxlen: u64,
    access_log_stream_max_mb: u64,
    trusted_proxies: Vec<String>,
    forwarded_header: String,
    /// Removed (admin is a role in the database); read only to say what to run instead.
    #[serde(skip_serializing)]
    admin_user: Option<String>,
    traffic_window_secs: u64,
    tls_ca_file: Option<PathBuf>,
    teaching_panel: bool,
    template_dir: Option<PathBuf>,
}

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            storage_url: None,
            media_base_url: None,
            cache_url: "memory".into(),
            session_url: "memory".into(),
            front_page_size: 10,
            latency_ms: 0,
            seed_demo: true,
            secret_key: None,
            instance_id: None,
            max_image_side: 10_000,
            max_image_pixels: 50_000_000,
            decode_memory_mb: 192,
            upload_concurrency: 0,
            cache_ttl_secs: 300,
            media_cache_mb: 64,
            session_idle_secs: 24 * 3600,
            session_absolute_secs: 30 * 24 * 3600,
            login_failures_per_minute: 10,
            cookie_secure: false,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 8000,
            stratus_level: None,
            limits: rocket::data::Limits::default(),
            key_prefix: "stratus:".into(),
            presign_ttl_secs: 3600,
            storage_shared: false,
            metrics: true,
            drain_secs: 3,
            access_log: "off".into(),
            access_log_stream: None,
            access_log_stream_key: None,
            access_log_stream_maxlen: 100_000,
            access_log_stream_max_mb: 64,
            trusted_proxies: Vec::new(),
            forwarded_header: "X-Forwarded-For".into(),
            admin_user: None,
            traffic_window_secs: 10,
            tls_ca_file: None,
            teaching_panel: false,
            template_dir: None,
        }
    }
}

/// A server URL that may carry a password: printed with the password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn new(url: &str) -> Self {
        Self(url.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any `user:password@` password masked.
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:[redacted]{}", &self.0[..scheme_end + 3], &self.0[at..]),
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Mysql(ServerUrl),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    File(PathBuf),
    S3 { bucket: String, prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUrl {
    Memory,
    None,
    Redis(ServerUrl),
    Memcached(ServerUrl),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionUrl {
    Memory,
    Redis(ServerUrl),
    Memcached(ServerUrl),
}

/// `redis://`, `rediss://`, `redis+cluster://`, `rediss+cluster://`, `memcache://` or
/// `memcache+tls://`.
enum SharedServer {
    Redis(ServerUrl),
    Memcached(ServerUrl),
}

fn shared_server(url: &str) -> Option<SharedServer> {
    let scheme = url.split_once("://")?.0;
    match scheme {
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Some(SharedServer::Redis(ServerUrl(url.to_owned()))),
        "memcache" | "memcache+tls" => Some(SharedServer::Memcached(ServerUrl(url.to_owned()))),
        _ => None,
    }
}

/// Where every instance appends its access log lines (`access_log_stream`).
#[derive(Debug, Clone)]
pub enum AccessLogStream {
    /// A Redis Stream under `access_log_stream_key`: `redis://`, `rediss://`, `redis+cluster://`.
    Redis(ServerUrl),
    /// A Kinesis Data Stream, `kinesis://NAME`; region and credentials from the standard AWS chain.
    Kinesis(crate::remote::kinesis::StreamName),
}

impl AccessLogStream {
    /// `None` for an empty value (no stream).
    pub fn parse(value: &str) -> Result<Option<Self>, String> {
        if value.is_empty() {
            return Ok(None);
        }
        if let Some(name) = value.strip_prefix("kinesis://") {
            return crate::remote::kinesis::StreamName::parse(name).map(|name| Some(Self::Kinesis(name)));
        }
        match shared_server(value) {
            Some(SharedServer::Redis(url)) => Ok(Some(Self::Redis(url))),
            _ => Err(format!(
                "expected redis://HOST:6379 or kinesis://STREAM, not {:?}",
                ServerUrl(value.to_owned()).redacted()
            )),
        }
    }
}

/// Validated settings. The secret key is not here: `state` resolves it (config or generated).
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub storage: StorageUrl,
    pub media_base_url: Option<String>,
    pub cache: CacheUrl,
    pub sessions: SessionUrl,
    pub front_page_size: u32,
    pub latency: Duration,
    pub seed_demo: bool,
    pub secret_key: Option<String>,
    pub instance_id: Option<String>,
    pub max_image_side: u32,
    pub max_image_pixels: u64,
    pub decode_memory_bytes: u64,
    pub upload_concurrency: usize,
    pub cache_ttl: Duration,
    /// `/media`'s in-process cache of small blobs (thumbnails), weighed by bytes; 0 = off.
    pub media_cache_bytes: u64,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub login_failures_per_minute: u32,
    pub cookie_secure: bool,
    pub port: u16,
    /// The figment profile (`single`, `fleet`), shown to teachers.
    pub profile: String,
    /// The tutorial level overlay in use, if any.
    pub level: Option<String>,
    /// Rocket's `limits.file`: the largest photo accepted.
    pub upload_limit_bytes: u64,
    /// Prepended to every key in a shared cache or session server, so several sites (or test
    /// runs) can share one server.
    pub key_prefix: String,
    /// How long a presigned image URL stays valid (S3 store without `media_base_url`).
    pub presign_ttl: Duration,
    /// The `file://` store's directory is a mount every instance shares (level 1's EFS/NFS).
    pub storage_shared: bool,
    /// Serve `/metrics` (Prometheus text format).
    pub metrics: bool,
    /// After SIGTERM: how long `/readyz` says 503 while requests are still served, so the load
    /// balancer stops sending new ones before the listener closes.
    pub drain: Duration,
    /// Level 6's JSON access log: stdout, a file, or off.
    pub access_log: crate::access_log::Destination,
    /// The stream every instance appends its access log lines to: Redis or Kinesis.
    pub access_log_stream: Option<AccessLogStream>,
    /// The Stream's key (default `<key_prefix>access-log`).
    pub access_log_stream_key: String,
    /// The Stream is trimmed to about this many lines.
    pub access_log_stream_maxlen: u64,
    /// ... and to about this many bytes of Redis memory.
    pub access_log_stream_max_bytes: u64,
    /// Networks whose forwarded-address header is believed (the load balancers), and which
    /// header that is (`forwarded_header`).
    pub trusted_proxies: crate::net::TrustedProxies,
    /// The address the server listens on.
    pub address: std::net::IpAddr,
    /// The window of `/admin/traffic`.
    pub traffic_window_secs: u64,
    /// Whom TLS connections to MySQL, Redis and memcached trust: the platform's roots plus
    /// `tls_ca_file` (a PEM bundle, e.g. Amazon RDS's).
    pub tls: crate::remote::tls::TlsTrust,
    /// Pages open their "How this page was served" panel (it always opens with a level).
    pub teaching_panel: bool,
    /// Templates that replace the built-in ones of the same name (`photo.html.j2`), reloaded
    /// live in debug builds; unset or missing: the built-in templates.
    pub template_dir: Option<PathBuf>,
}

impl Settings {
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(|e| {
            let key = e.path.last().cloned().unwrap_or_else(|| "(root)".into());
            ConfigError::new(&key, e.kind.to_string())
        })?;
        if raw.admin_user.is_some() {
            return Err(ConfigError::new(
                "admin_user",
                "removed; grant the role with `stratus admin grant NAME` (and remove admin_user from your configuration)",
            ));
        }
        let data_dir = raw.data_dir.clone();
        let database = parse_database(raw.database_url.as_deref(), &data_dir)?;
        let storage = parse_storage(raw.storage_url.as_deref(), &data_dir)?;
        let cache = match (raw.cache_url.as_str(), shared_server(&raw.cache_url)) {
            ("memory", _) => CacheUrl::Memory,
            ("none", _) => CacheUrl::None,
            (_, Some(SharedServer::Redis(url))) => CacheUrl::Redis(url),
            (_, Some(SharedServer::Memcached(url))) => CacheUrl::Memcached(url),
            (other, None) => {
                return Err(ConfigError::new(
                    "cache_url",
                    format!(
                        "unknown value {other:?} (expected memory, none, redis://, redis+cluster:// or memcache://)"
                    ),
                ));
            }
        };
        let sessions = match (raw.session_url.as_str(), shared_server(&raw.session_url)) {
            ("memory", _) => SessionUrl::Memory,
            (_, Some(SharedServer::Redis(url))) => SessionUrl::Redis(url),
            (_, Some(SharedServer::Memcached(url))) => SessionUrl::Memcached(url),
            (other, None) => {
                return Err(ConfigError::new(
                    "session_url",
                    format!("unknown value {other:?} (expected memory, redis://, redis+cluster:// or memcache://)"),
                ));
            }
        };
        if !(1..=100).contains(&raw.front_page_size) {
            return Err(ConfigError::new("front_page_size", "must be between 1 and 100"));
        }
        if let Some(base) = &raw.media_base_url
            && !(base.starts_with("https://") || base.starts_with("http://") || base.starts_with('/'))
        {
            return Err(ConfigError::new("media_base_url", "must start with https://, http:// or /"));
        }
        if raw.max_image_side == 0 || raw.max_image_pixels == 0 {
            return Err(ConfigError::new("max_image_pixels", "limits must be positive"));
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Self {
            data_dir,
            database,
            storage,
            media_base_url: raw.media_base_url.map(|b| b.trim_end_matches('/').to_owned()),
            cache,
            sessions,
            front_page_size: raw.front_page_size,
            latency: Duration::from_millis(raw.latency_ms),
            seed_demo: raw.seed_demo,
            secret_key: raw.secret_key.filter(|k| !k.is_empty()),
            instance_id: raw.instance_id.filter(|id| !id.is_empty()),
            max_image_side: raw.max_image_side,
            max_image_pixels: raw.max_image_pixels,
            decode_memory_bytes: raw.decode_memory_mb.max(16) * 1024 * 1024,
            upload_concurrency: if raw.upload_concurrency == 0 { cores } else { raw.upload_concurrency },
            cache_ttl: Duration::from_secs(raw.cache_ttl_secs.max(1)),
            media_cache_bytes: raw.media_cache_mb.saturating_mul(1024 * 1024),
            session_idle: Duration::from_secs(raw.session_idle_secs.max(1)),
            session_absolute: Duration::from_secs(raw.session_absolute_secs.max(1)),
            login_failures_per_minute: raw.login_failures_per_minute.max(1),
            cookie_secure: raw.cookie_secure,
            port: raw.port,
            profile: figment.profile().to_string(),
            level: raw.stratus_level,
            upload_limit_bytes: raw.limits.get("file").map_or(1 << 20, |limit| limit.as_u64()),
            key_prefix: raw.key_prefix.clone(),
            // The front page makes its image URLs anew at half this lifetime (service::feed).
            presign_ttl: Duration::from_secs(raw.presign_ttl_secs.max(2)),
            storage_shared: raw.storage_shared,
            metrics: raw.metrics,
            drain: Duration::from_secs(raw.drain_secs),
            access_log: crate::access_log::Destination::parse(&raw.access_log),
            access_log_stream: AccessLogStream::parse(raw.access_log_stream.as_deref().unwrap_or_default())
                .map_err(|problem| ConfigError::new("access_log_stream", problem))?,
            access_log_stream_key: raw.access_log_stream_key.unwrap_or_else(|| format!("{}access-log", raw.key_prefix)),
            access_log_stream_maxlen: raw.access_log_stream_maxlen.max(1000),
            access_log_stream_max_bytes: raw.access_log_stream_max_mb.max(1) * 1024 * 1024,
            trusted_proxies: crate::net::TrustedProxies::parse(&raw.trusted_proxies)
                .map_err(|problem| ConfigError::new("trusted_proxies", problem))?
                .reading(
                    crate::net::ForwardedHeader::parse(&raw.forwarded_header)
                        .map_err(|problem| ConfigError::new("forwarded_header", problem))?,
                ),
            address: raw.address,
            traffic_window_secs: raw.traffic_window_secs.max(1),
            tls: match raw.tls_ca_file.filter(|p| !p.as_os_str().is_empty()) {
                Some(path) => crate::remote::tls::TlsTrust::from_pem_file(&path)
                    .map_err(|problem| ConfigError::new("tls_ca_file", problem))?,
                None => crate::remote::tls::TlsTrust::default(),
            },
            teaching_panel: raw.teaching_panel,
            template_dir: raw.template_dir.filter(|dir| !dir.as_os_str().is_empty()),
        })
    }
}

fn parse_database(url: Option<&str>, data_dir: &std::path::Path) -> Result<DatabaseUrl, ConfigError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(DatabaseUrl::Sqlite(data_dir.join("stratus.db")));
    };
    DatabaseUrl::parse(url).map_err(|problem| ConfigError::new("database_url", problem))
}

impl DatabaseUrl {
    /// `sqlite://PATH` or `mysql://USER:PASSWORD@HOST:PORT/DB`; the error says what was expected.
    pub fn parse(url: &str) -> Result<Self, String> {
        match url.split_once("://") {
            Some(("sqlite", path)) if !path.is_empty() => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
            Some(("mysql", rest)) if !rest.is_empty() => Ok(DatabaseUrl::Mysql(ServerUrl(url.to_owned()))),
            Some((scheme, _)) => {
                Err(format!("unknown scheme {scheme:?} (expected sqlite://PATH or mysql://USER:PASSWORD@HOST:PORT/DB)"))
            }
            None => Err("expected a URL such as sqlite://data/stratus.db".into()),
        }
    }
}

fn parse_storage(url: Option<&str>, data_dir: &std::path::Path) -> Result<StorageUrl, ConfigError> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(StorageUrl::File(data_dir.join("photos")));
    };
    StorageUrl::parse(url).map_err(|problem| ConfigError::new("storage_url", problem))
}

impl StorageUrl {
    /// `file://DIR` or `s3://BUCKET[/PREFIX]`; the error says what was expected.
    pub fn parse(url: &str) -> Result<Self, String> {
        match url.split_once("://") {
            Some(("file", path)) if !path.is_empty() => Ok(StorageUrl::File(PathBuf::from(path))),
            Some(("s3", rest)) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err("expected s3://BUCKET or s3://BUCKET/PREFIX".into());
                }
                Ok(StorageUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() })
            }
            Some((scheme, _)) => Err(format!("unknown scheme {scheme:?} (expected file://DIR or s3://BUCKET/PREFIX)")),
            None => Err("expected a URL such as file://data/photos or s3://bucket/prefix".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

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
    fn bad_values_name_their_key() {
        let err = settings(&[("cache_url", "bogus://x")]).expect_err("unknown cache scheme");
        assert_eq!(err.key, "cache_url");
        let err = settings(&[("database_url", "postgres://x")]).expect_err("unknown db scheme");
        assert!(err.to_string().starts_with("config key `database_url`: unknown scheme"));
        let err = settings(&[("front_page_size", "zero")]).expect_err("not a number");
        assert_eq!(err.key, "front_page_size");
    }
}
