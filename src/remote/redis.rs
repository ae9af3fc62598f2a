//! One Redis connection for the process: a single server (`redis://`, reconnecting on its own
//! through redis' `ConnectionManager`) or a cluster (`redis+cluster://host:port,host:port`, as
//! ElastiCache's cluster mode). `rediss://` and `rediss+cluster://` are the same over TLS,
//! verified against `TlsTrust`; an AUTH token or ACL user goes in the URL
//! (`rediss://:TOKEN@host`, `rediss+cluster://USER:PASSWORD@host:port,host:port`).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, TlsCertificates};

use super::tls::TlsTrust;
use super::{RemoteError, with_timeout, within};

#[derive(Clone)]
pub enum Redis {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Redis {
    /// Connects to `url` trusting the platform's roots only; see `connect_with`.
    pub async fn connect(url: &str) -> Result<Self, RemoteError> {
        Self::connect_with(url, &TlsTrust::default()).await
    }

    /// Connects to `url`, verifying TLS servers against `trust`. Fails when the server does
    /// not answer now or its certificate does not verify; later outages are per-command
    /// errors, and the connection recovers when the server is back.
    pub async fn connect_with(url: &str, trust: &TlsTrust) -> Result<Self, RemoteError> {
        if url.contains('#') {
            // redis reads `#insecure` as "skip certificate checks": never accepted here.
            // The URL is not repeated: it may hold a password, and every caller names it.
            return Err(RemoteError::Url(
                "a URL fragment (#...) is not accepted; certificates are always verified".into(),
            ));
        }
        let certificates = || TlsCertificates { client_tls: None, root_cert: Some(trust.pem_bundle()) };
        let cluster = [("redis+cluster://", "redis"), ("rediss+cluster://", "rediss")]
            .into_iter()
            .find_map(|(prefix, scheme)| url.strip_prefix(prefix).map(|rest| (rest, scheme)));
        if let Some((rest, scheme)) = cluster {
            // Every node gets the URL's user and password (ElastiCache's AUTH token or ACL user).
            let (userinfo, nodes) = match rest.rsplit_once('@') {
                Some((userinfo, nodes)) => (format!("{userinfo}@"), nodes),
                None => (String::new(), rest),
            };
            let nodes: Vec<String> =
                nodes.split(',').map(|n| format!("{scheme}://{userinfo}{}", n.trim_end_matches('/'))).collect();
            let mut builder = ClusterClient::builder(nodes)
                .connection_timeout(super::CONNECT_TIMEOUT)
                .response_timeout(super::ROUND_TRIP_TIMEOUT);
            if scheme == "rediss" {
                builder = builder.certs(certificates());
            }
            let client = builder.build()?;
            return Ok(Redis::Cluster(within(super::CONNECT_TIMEOUT, client.get_async_connection()).await?));
        }
        let client = if url.starts_with("rediss://") {
            redis::Client::build_with_tls(url, certificates())?
        } else {
            redis::Client::open(url)?
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(super::CONNECT_TIMEOUT))
            .set_response_timeout(Some(super::ROUND_TRIP_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Redis::Single(within(super::CONNECT_TIMEOUT, ConnectionManager::new_with_config(client, config)).await?))
    }

    /// Runs one command, within the round-trip timeout.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RemoteError> {
        match self {
            Redis::Single(conn) => with_timeout(cmd.query_async(&mut conn.clone())).await,
            Redis::Cluster(conn) => with_timeout(cmd.query_async(&mut conn.clone())).await,
        }
    }

    /// Runs several commands in one round trip, within the round-trip timeout.
    pub async fn pipeline<T: FromRedisValue>(&self, pipeline: &Pipeline) -> Result<T, RemoteError> {
        match self {
            Redis::Single(conn) => with_timeout(pipeline.query_async(&mut conn.clone())).await,
            Redis::Cluster(conn) => with_timeout(pipeline.query_async(&mut conn.clone())).await,
        }
    }
}
