//! One Redis connection for the process: a single server (`redis://`, reconnecting on its own
//! through redis' `ConnectionManager`) or a cluster (`redis+cluster://host:port,host:port`, as
//! ElastiCache's cluster mode).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline};

use super::{RemoteError, with_timeout};

#[derive(Clone)]
pub enum Redis {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Redis {
    /// Connects to `url`. Fails when the server does not answer now; later outages are
    /// per-command errors, and the connection recovers when the server is back.
    pub async fn connect(url: &str) -> Result<Self, RemoteError> {
        if let Some(nodes) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{}", n.trim_end_matches('/'))).collect();
            let client = ClusterClient::builder(nodes)
                .connection_timeout(super::ROUND_TRIP_TIMEOUT)
                .response_timeout(super::ROUND_TRIP_TIMEOUT)
                .build()?;
            return Ok(Redis::Cluster(with_timeout(client.get_async_connection()).await?));
        }
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(super::ROUND_TRIP_TIMEOUT))
            .set_response_timeout(Some(super::ROUND_TRIP_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Redis::Single(with_timeout(ConnectionManager::new_with_config(client, config)).await?))
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
