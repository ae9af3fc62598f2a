//! The backend URLs, parsed where they enter: each type deserializes from its text form and
//! says in one line what it expected.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// A value that must never reach a log or a page: its `Debug` prints `[redacted]`, so a
/// `Settings` printed whole (a panic, a test failure, a `{:?}` in a log line) keeps it hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(text)
    }
}

/// The text as configured: only built-in defaults are ever serialized, and no secret has one.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Implements `Deserialize` (from the text, through `parse`) and `Serialize` (the text as
/// configured, password included: only built-in defaults are ever serialized).
macro_rules! text_form {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.text(false))
            }
        }

        impl std::fmt::Display for $name {
            /// The text form with any password masked.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.text(true))
            }
        }
    };
}

fn server_text(url: &ServerUrl, redacted: bool) -> String {
    if redacted { url.redacted() } else { url.0.clone() }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Mysql(ServerUrl),
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

    fn text(&self, redacted: bool) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Mysql(url) => server_text(url, redacted),
        }
    }
}
text_form!(DatabaseUrl);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    File(PathBuf),
    S3 { bucket: String, prefix: String },
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

    fn text(&self, _redacted: bool) -> String {
        match self {
            StorageUrl::File(dir) => format!("file://{}", dir.display()),
            StorageUrl::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            StorageUrl::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}
text_form!(StorageUrl);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheUrl {
    Memory,
    None,
    Redis(ServerUrl),
    Memcached(ServerUrl),
}

impl CacheUrl {
    /// `memory`, `none`, or a Redis or memcached server (see `SharedServer`).
    pub fn parse(url: &str) -> Result<Self, String> {
        match (url, shared_server(url)) {
            ("memory", _) => Ok(CacheUrl::Memory),
            ("none", _) => Ok(CacheUrl::None),
            (_, Some(SharedServer::Redis(url))) => Ok(CacheUrl::Redis(url)),
            (_, Some(SharedServer::Memcached(url))) => Ok(CacheUrl::Memcached(url)),
            (other, None) => Err(format!(
                "unknown value {other:?} (expected memory, none, redis://, redis+cluster:// or memcache://)"
            )),
        }
    }

    fn text(&self, redacted: bool) -> String {
        match self {
            CacheUrl::Memory => "memory".into(),
            CacheUrl::None => "none".into(),
            CacheUrl::Redis(url) | CacheUrl::Memcached(url) => server_text(url, redacted),
        }
    }
}
text_form!(CacheUrl);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionUrl {
    Memory,
    Redis(ServerUrl),
    Memcached(ServerUrl),
}

impl SessionUrl {
    /// `memory`, or a Redis or memcached server (see `SharedServer`).
    pub fn parse(url: &str) -> Result<Self, String> {
        match (url, shared_server(url)) {
            ("memory", _) => Ok(SessionUrl::Memory),
            (_, Some(SharedServer::Redis(url))) => Ok(SessionUrl::Redis(url)),
            (_, Some(SharedServer::Memcached(url))) => Ok(SessionUrl::Memcached(url)),
            (other, None) => {
                Err(format!("unknown value {other:?} (expected memory, redis://, redis+cluster:// or memcache://)"))
            }
        }
    }

    fn text(&self, redacted: bool) -> String {
        match self {
            SessionUrl::Memory => "memory".into(),
            SessionUrl::Redis(url) | SessionUrl::Memcached(url) => server_text(url, redacted),
        }
    }
}
text_form!(SessionUrl);

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

/// Either a value or unset: an empty string unsets it, so `ROCKET_KEY=` or a level file's
/// `key = ""` takes back what a profile set.
#[derive(Debug, Clone)]
pub struct Blankable<T>(pub Option<T>);

impl<T> Default for Blankable<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T> Deserialize<'de> for Blankable<T>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Self(None)),
            Some(text) if text.is_empty() => Ok(Self(None)),
            Some(text) => T::try_from(text).map(|value| Self(Some(value))).map_err(serde::de::Error::custom),
        }
    }
}

impl<T: Serialize> Serialize for Blankable<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl TryFrom<String> for AccessLogStream {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)?.ok_or_else(|| "expected redis://HOST:6379 or kinesis://STREAM".into())
    }
}

impl Serialize for AccessLogStream {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AccessLogStream::Redis(url) => serializer.serialize_str(url.expose()),
            AccessLogStream::Kinesis(name) => serializer.serialize_str(&format!("kinesis://{}", name.as_str())),
        }
    }
}
