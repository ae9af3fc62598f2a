//! Connections to shared key-value servers, used by both the cache and the session backends,
//! and to the Kinesis stream of level 6 on AWS.

pub mod kinesis;
pub mod memcached;
mod memcached_tls;
pub mod redis;
pub mod tls;

use std::time::Duration;

/// How long any single round trip to a shared server may take before it counts as down:
/// a dead cache must cost a page milliseconds, not a hung worker.
pub const ROUND_TRIP_TIMEOUT: Duration = Duration::from_millis(500);

/// How long opening a connection may take: a TLS handshake costs a few round trips and a
/// certificate check, and a process starting beside others may wait for a core.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("memcached: {0}")]
    Memcached(String),
    #[error("kinesis: {0}")]
    Kinesis(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("bad server URL: {0}")]
    Url(String),
}

pub async fn with_timeout<T, E: Into<RemoteError>>(work: impl Future<Output = Result<T, E>>) -> Result<T, RemoteError> {
    within(ROUND_TRIP_TIMEOUT, work).await
}

pub async fn within<T, E: Into<RemoteError>>(
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, RemoteError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(RemoteError::Timeout(limit)),
    }
}
