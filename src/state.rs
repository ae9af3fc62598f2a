//! The one place that turns configuration into backend instances and wires the services.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use std::net::IpAddr;

use crate::access_log::{AccessLog, Destination, SharedSink, Source, Stream, StreamBounds, TrafficService};
use crate::assets::StaticAssets;
use crate::auth::{CsrfKey, LoginThrottle, PasswordHasher};
use crate::cache::{Cache, MemcachedCache, MemoryCache, NoCache, RedisCache};
use crate::clock::{Clock, SystemClock};
use crate::config::{
    AccessLogStream, CacheUrl, ConfigError, DatabaseUrl, Secret, ServerUrl, SessionUrl, Settings, StorageUrl,
};
use crate::db::{MysqlRepo, Repo, SqliteRepo};
use crate::domain::BlobKey;
use crate::metrics::{Metrics, ObservedRepo, ObservedSessions, ObservedStore};
use crate::photos::{Pipeline, PixelLimits};
use crate::remote::RemoteError;
use crate::remote::kinesis::Kinesis;
use crate::remote::memcached::Memcached;
use crate::remote::redis::Redis;
use crate::remote::tls::TlsTrust;
use crate::service::{Accounts, ArchitectureService, Deletion, FeedOptions, FeedService, MediaCache, PhotoService};
use crate::session::{
    Counters, MemcachedCounters, MemcachedRoster, MemcachedSessions, MemoryCounters, MemoryRoster, MemorySessions,
    RedisCounters, RedisRoster, RedisSessions, Roster, SessionStore,
};
use crate::store::{LocalStore, MediaUrls, S3Store, Store};
use crate::views::Views;

/// A startup failure, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("seeding demo photos: {0}")]
    Seed(#[from] crate::service::ServiceError),
}

pub struct Backends {
    pub repo: Arc<dyn Repo>,
    pub store: Arc<dyn Store>,
    pub cache: Arc<dyn Cache>,
    pub sessions: Arc<dyn SessionStore>,
}

pub struct App {
    pub settings: Settings,
    pub backends: Backends,
    pub accounts: Accounts,
    pub photos: PhotoService,
    pub feed: Arc<FeedService>,
    pub views: Views,
    pub assets: Arc<StaticAssets>,
    pub csrf: CsrfKey,
    /// `host:port` (and the instance id when configured): the footer's and `X-Served-By`'s answer.
    pub served_by: String,
    /// The Content-Security-Policy for HTML pages (images may come from the media base URL).
    pub csp: String,
    pub metrics: Arc<Metrics>,
    /// Set on SIGTERM: readiness fails so the load balancer drains this instance.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    pub access_log: Arc<AccessLog>,
    pub traffic: TrafficService,
    /// `/architecture`: the deployment drawn, and this instance's heartbeat in the roster.
    pub architecture: Arc<ArchitectureService>,
    /// The backends whose last readiness check failed, and the reasons logged since: each is
    /// logged once per outage, not per probe.
    failing: std::sync::Mutex<std::collections::BTreeMap<&'static str, std::collections::BTreeSet<String>>>,
    /// Decides every expiry kept in process; tests advance a manual one.
    pub clock: Arc<dyn Clock>,
}

fn ensure_writable_dir(key: &str, dir: &Path) -> Result<(), ConfigError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ConfigError::new(key, format!("cannot create directory {}: {e}", dir.display())))?;
    let probe = dir.join(".stratus-write-test");
    std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| ConfigError::new(key, format!("directory {} is not writable: {e}", dir.display())))
}

/// The configured secret, or one generated on first start and kept in `data_dir` (0600).
fn secret_key(settings: &Settings) -> Result<Vec<u8>, ConfigError> {
    if let Some(secret) = settings.secret_key.as_ref().map(Secret::expose) {
        if secret.len() < 32 {
            return Err(ConfigError::new(
                "secret_key",
                "must be at least 32 characters (e.g. `openssl rand -base64 32`)",
            ));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("secret_key");
    let problem = |e: std::io::Error| ConfigError::new("data_dir", format!("secret key file {}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= 32 => return Ok(existing.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(ConfigError::new("data_dir", format!("secret key file {} is too short", path.display())));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(problem(e)),
        Err(_) => {}
    }
    let generated = STANDARD.encode(rand::random::<[u8; 32]>());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(problem)?;
    file.write_all(generated.as_bytes()).map_err(problem)?;
    Ok(generated.into_bytes())
}

async fn open_repo(settings: &Settings) -> Result<Arc<dyn Repo>, ConfigError> {
    open_database_at("database_url", &settings.database, &settings.tls).await
}

/// The database at `url`, migrated to the current schema (`key` names the setting or flag it
/// came from, for errors); a TLS connection verifies against `trust`.
pub async fn open_database_at(key: &str, url: &DatabaseUrl, trust: &TlsTrust) -> Result<Arc<dyn Repo>, ConfigError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_writable_dir(key, parent)?;
            }
            let repo = SqliteRepo::open(path, 4)
                .await
                .map_err(|e| ConfigError::new(key, format!("{}: {e}", path.display())))?;
            Ok(Arc::new(repo))
        }
        DatabaseUrl::Mysql(url) => {
            let repo = MysqlRepo::open_with(url.expose(), trust)
                .await
                .map_err(|e| ConfigError::new(key, format!("{}: {e}", url.redacted())))?;
            Ok(Arc::new(repo))
        }
    }
}

fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, ConfigError> {
    open_store_at("storage_url", &settings.storage, settings.media_base_url.as_deref(), settings.presign_ttl)
}

/// The store at `url` (`key` names the setting or flag it came from, for errors). Image URLs
/// are `media_base_url` + key when given, else `/media/...` (disk) or presigned (S3).
pub fn open_store_at(
    key: &str,
    url: &StorageUrl,
    media_base_url: Option<&str>,
    presign_ttl: std::time::Duration,
) -> Result<Arc<dyn Store>, ConfigError> {
    match url {
        StorageUrl::File(dir) => {
            ensure_writable_dir(key, dir)?;
            let store = LocalStore::open(dir, media_base_url.unwrap_or("/media"))
                .map_err(|e| ConfigError::new(key, e.to_string()))?;
            Ok(Arc::new(store))
        }
        StorageUrl::S3 { bucket, prefix } => {
            let urls = match media_base_url {
                Some(base) => MediaUrls::Base(base.to_owned()),
                None => MediaUrls::Presigned(presign_ttl),
            };
            let store = S3Store::open(bucket, prefix, urls).map_err(|e| ConfigError::new(key, e.to_string()))?;
            Ok(Arc::new(store))
        }
    }
}

async fn open_cache(settings: &Settings, clock: &Arc<dyn Clock>) -> Result<Arc<dyn Cache>, ConfigError> {
    let unreachable =
        |url: &ServerUrl, e: RemoteError| ConfigError::new("cache_url", format!("{}: {e}", url.redacted()));
    Ok(match &settings.cache {
        CacheUrl::Memory => Arc::new(MemoryCache::with_clock(64 * 1024 * 1024, clock.clone())),
        CacheUrl::None => Arc::new(NoCache),
        CacheUrl::Redis(url) => Arc::new(RedisCache::new(
            Redis::connect_with(url.expose(), &settings.tls).await.map_err(|e| unreachable(url, e))?,
        )),
        CacheUrl::Memcached(url) => {
            let memcached =
                Memcached::connect_with(url.expose(), &settings.tls).await.map_err(|e| unreachable(url, e))?;
            Arc::new(MemcachedCache::new(Arc::new(memcached)))
        }
    })
}

type SessionServer = (Arc<dyn SessionStore>, Arc<dyn Counters>, Arc<dyn Roster>);

/// The session store, and the login throttle's counters and the instance roster on the same
/// server: in the fleet profile that server is shared, so every instance counts against one
/// limit and sees every other instance.
async fn open_sessions(settings: &Settings, clock: &Arc<dyn Clock>) -> Result<SessionServer, ConfigError> {
    let unreachable =
        |url: &ServerUrl, e: RemoteError| ConfigError::new("session_url", format!("{}: {e}", url.redacted()));
    let prefix = &settings.key_prefix;
    Ok(match &settings.sessions {
        SessionUrl::Memory => (
            Arc::new(MemorySessions::with_clock(clock.clone())),
            Arc::new(MemoryCounters::with_clock(MemoryCounters::DEFAULT_MAX_KEYS, clock.clone())),
            Arc::new(MemoryRoster::with_clock(clock.clone())),
        ),
        SessionUrl::Redis(url) => {
            let redis = Redis::connect_with(url.expose(), &settings.tls).await.map_err(|e| unreachable(url, e))?;
            (
                Arc::new(RedisSessions::new(redis.clone(), prefix)),
                Arc::new(RedisCounters::new(redis.clone(), prefix)),
                Arc::new(RedisRoster::new(redis, prefix)),
            )
        }
        SessionUrl::Memcached(url) => {
            let memcached =
                Arc::new(Memcached::connect_with(url.expose(), &settings.tls).await.map_err(|e| unreachable(url, e))?);
            (
                Arc::new(MemcachedSessions::new(memcached.clone(), prefix)),
                Arc::new(MemcachedCounters::new(memcached.clone(), prefix)),
                Arc::new(MemcachedRoster::new(memcached, prefix)),
            )
        }
    })
}

/// The database alone, for commands that need nothing else (`stratus admin`).
pub async fn open_database(settings: &Settings) -> Result<Arc<dyn Repo>, ConfigError> {
    ensure_private_dir(&settings.data_dir)?;
    open_repo(settings).await
}

/// `data_dir` holds the database, the secret key and uploads: created 0700, and tightened to
/// 0700 when it already exists with wider permissions.
fn ensure_private_dir(dir: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ConfigError::new("data_dir", format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let metadata = std::fs::metadata(dir)
        .map_err(|e| ConfigError::new("data_dir", format!("cannot read directory {}: {e}", dir.display())))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            ConfigError::new("data_dir", format!("cannot make directory {} private (0700): {e}", dir.display()))
        })?;
    }
    ensure_writable_dir("data_dir", dir)
}

/// The address written as `server_ip`: the listening one, or when that is every interface
/// (0.0.0.0), the one outgoing traffic leaves from (a UDP "connect" sends nothing).
fn server_ip(listening: IpAddr) -> IpAddr {
    if !listening.is_unspecified() {
        return listening;
    }
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| socket.connect("192.0.2.1:9").and_then(|()| socket.local_addr()))
        .map_or(listening, |addr| addr.ip())
}

/// Connects to the stream every instance appends its access log lines to (a Redis Stream
/// under `key`, or a Kinesis Data Stream); the error names it, without a password.
pub async fn connect_log_stream(stream: &AccessLogStream, key: String, tls: &TlsTrust) -> Result<Stream, String> {
    match stream {
        AccessLogStream::Redis(url) => match Redis::connect_with(url.expose(), tls).await {
            Ok(redis) => Ok(Stream::Redis { redis, key }),
            Err(e) => Err(format!("{}: {e}", url.redacted())),
        },
        AccessLogStream::Kinesis(name) => match Kinesis::connect(name.clone(), None).await {
            Ok(kinesis) => Ok(Stream::Kinesis(kinesis)),
            Err(e) => Err(format!("kinesis://{name}: {e}")),
        },
    }
}

/// The access log's writers, and what `/admin/traffic` reads back.
async fn open_access_log(
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> Result<(AccessLog, TrafficService), ConfigError> {
    if let Destination::File(path) = &settings.access_log
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        ensure_writable_dir("access_log", dir)?;
    }
    let sink = match &settings.access_log_stream {
        Some(stream) => {
            let stream = connect_log_stream(stream, settings.access_log_stream_key.clone(), &settings.tls)
                .await
                .map_err(|problem| ConfigError::new("access_log_stream", problem))?;
            let bounds = StreamBounds {
                max_entries: settings.access_log_stream_maxlen,
                max_bytes: settings.access_log_stream_max_bytes,
            };
            Some(SharedSink::new(stream, bounds))
        }
        None => None,
    };
    let read_back = Source::read_back(None, sink.as_ref().map(SharedSink::stream), &settings.access_log);
    let access_log = AccessLog::start(
        settings.access_log.clone(),
        sink,
        settings.trusted_proxies.clone(),
        server_ip(settings.address),
        metrics,
    );
    Ok((access_log, TrafficService::new(read_back, settings.traffic_window_secs)))
}

/// The CSP for pages. Images may come from wherever the store's URLs point (a CDN, a bucket
/// with presigned links), so that origin is read off a sample URL from the store itself.
fn content_security_policy(sample_image_url: Option<&str>) -> String {
    let media_origin = sample_image_url
        .filter(|base| base.starts_with("http"))
        .map(|base| {
            let after_scheme = base.find("://").map_or(0, |i| i + 3);
            let end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
            format!(" {}", &base[..end])
        })
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data:{media_origin}; style-src 'self'; script-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

impl App {
    /// The app on the system's clock.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// The app with `clock` deciding every expiry kept in process (see `crate::clock`).
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        settings.check_fleet_safety()?;
        ensure_private_dir(&settings.data_dir)?;
        let secret = secret_key(&settings)?;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let served_by = match &settings.instance_id {
            Some(id) => format!("{host}:{} ({id})", settings.port),
            None => format!("{host}:{}", settings.port),
        };
        let metrics = Arc::new(Metrics::new(&settings.profile, &served_by)?);
        let (sessions, counters, roster) = open_sessions(&settings, &clock).await?;
        let backends = Backends {
            repo: Arc::new(ObservedRepo { inner: open_repo(&settings).await?, metrics: metrics.clone() }),
            store: Arc::new(ObservedStore { inner: open_store(&settings)?, metrics: metrics.clone() }),
            cache: open_cache(&settings, &clock).await?,
            sessions: Arc::new(ObservedSessions { inner: sessions, metrics: metrics.clone() }),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let feed = Arc::new(FeedService::new(
            backends.repo.clone(),
            backends.cache.clone(),
            backends.store.clone(),
            FeedOptions {
                page_size: settings.front_page_size,
                ttl: settings.cache_ttl,
                latency: settings.latency,
                key_prefix: &settings.key_prefix,
                url_lifetime: settings.presign_ttl,
            },
            metrics.clone(),
        ));
        let pipeline = Pipeline::new(
            PixelLimits { max_side: settings.max_image_side, max_pixels: settings.max_image_pixels },
            settings.upload_concurrency,
            settings.decode_memory_bytes,
        );
        let media = MediaCache::new(backends.store.clone(), settings.media_cache_bytes, settings.cache_ttl);
        let photos = PhotoService::new(
            backends.repo.clone(),
            backends.store.clone(),
            feed.clone(),
            pipeline,
            media.clone(),
            metrics.clone(),
        );
        let accounts = Accounts::new(
            backends.repo.clone(),
            backends.sessions.clone(),
            PasswordHasher::new(cores),
            LoginThrottle::new(counters, settings.login_failures_per_minute),
            (settings.session_idle, settings.session_absolute),
            Deletion { media, feed: feed.clone() },
            clock.clone(),
        );
        if settings.seed_demo {
            let seeded = photos.seed_demo(&PasswordHasher::new(1), crate::assets::demo_photos()).await?;
            if seeded > 0 {
                tracing::info!(photos = seeded, "seeded the demo photos");
            }
        }
        let (access_log, traffic) = open_access_log(&settings, metrics.clone()).await?;
        let assets = Arc::new(StaticAssets::load());
        let draining = Arc::<std::sync::atomic::AtomicBool>::default();
        let architecture =
            Arc::new(ArchitectureService::new(&settings, format!("{host}:{}", settings.port), roster, metrics.clone()));
        architecture.start_heartbeat(draining.clone());
        let sample_image_url = match BlobKey::parse("photos/sample.jpg") {
            Some(key) => backends.store.url(&key).await.ok(),
            None => None,
        };
        let csp = content_security_policy(sample_image_url.as_deref());
        Ok(Self {
            views: Views::default(),
            assets,
            csrf: CsrfKey::derive(&secret),
            served_by,
            csp,
            settings,
            backends,
            accounts,
            photos,
            feed,
            metrics,
            draining,
            access_log: Arc::new(access_log),
            traffic,
            architecture,
            failing: std::sync::Mutex::default(),
            clock,
        })
    }
}

/// Each backend's answer to a ping, for `/readyz`.
pub struct Readiness {
    pub ready: bool,
    checks: Vec<(&'static str, Result<(), String>)>,
}

impl Readiness {
    pub fn to_json(&self) -> serde_json::Value {
        let backends: serde_json::Map<String, serde_json::Value> = self
            .checks
            .iter()
            .map(|(name, result)| {
                let value = match result {
                    Ok(()) => serde_json::json!({ "ok": true }),
                    Err(e) => serde_json::json!({ "ok": false, "error": e }),
                };
                ((*name).to_owned(), value)
            })
            .collect();
        serde_json::json!({ "status": if self.ready { "ready" } else { "unavailable" }, "backends": backends })
    }
}

async fn check<E: std::fmt::Display>(ping: impl Future<Output = Result<(), E>>) -> Result<(), String> {
    match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

impl App {
    pub async fn readiness(&self) -> Readiness {
        let b = &self.backends;
        let (database, store, cache, sessions) =
            tokio::join!(check(b.repo.ping()), check(b.store.ping()), check(b.cache.ping()), check(b.sessions.ping()));
        let checks = vec![("database", database), ("store", store), ("cache", cache), ("sessions", sessions)];
        self.log_changes(&checks);
        let mut checks = checks;
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            checks.push(("instance", Err("shutting down (SIGTERM): finishing requests in flight".into())));
        }
        Readiness { ready: checks.iter().all(|(_, r)| r.is_ok()), checks }
    }

    /// One line when a backend stops answering, naming its server and the reason, and one
    /// for each other reason in the same outage (pooled connections to a restarted server
    /// first fail as closed), one when it is back: a load balancer probing every few seconds
    /// must not flood the log.
    fn log_changes(&self, checks: &[(&'static str, Result<(), String>)]) {
        const REASONS_PER_OUTAGE: usize = 8;
        let Ok(mut failing) = self.failing.lock() else { return };
        for (name, result) in checks {
            match result {
                Err(e) => {
                    let logged = failing.entry(*name).or_default();
                    if logged.len() < REASONS_PER_OUTAGE && logged.insert(e.clone()) {
                        tracing::error!("not ready: {name} at {}: {e}", server_of(&self.settings, name));
                    }
                }
                Ok(()) if failing.remove(name).is_some() => tracing::info!("ready again: {name}"),
                Ok(()) => {}
            }
        }
    }
}

/// Where backend `name` lives, passwords redacted.
fn server_of(settings: &Settings, name: &str) -> String {
    match (name, &settings.database, &settings.storage, &settings.cache, &settings.sessions) {
        ("database", DatabaseUrl::Mysql(url), ..) => url.redacted(),
        ("database", DatabaseUrl::Sqlite(path), ..) => path.display().to_string(),
        ("store", _, StorageUrl::S3 { bucket, prefix }, ..) => format!("s3://{bucket}/{prefix}"),
        ("store", _, StorageUrl::File(dir), ..) => dir.display().to_string(),
        ("cache", _, _, CacheUrl::Redis(url) | CacheUrl::Memcached(url), _) => url.redacted(),
        ("sessions", .., SessionUrl::Redis(url) | SessionUrl::Memcached(url)) => url.redacted(),
        _ => "this process".into(),
    }
}
