//! memcached over TLS (`memcache+tls://`, ElastiCache's in-transit encryption). async-memcached
//! opens its own TCP or Unix socket and takes no other stream, so each connection is a TLS
//! stream to the server, verified here, joined to a Unix socket in a private (0700) directory
//! that the client then opens.

use std::sync::Arc;

use async_memcached::Client;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UnixListener};
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use super::RemoteError;

pub struct TlsDialer {
    address: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    socket: std::path::PathBuf,
    // One joining at a time, so the client that connects is the one this call accepts.
    listener: Mutex<UnixListener>,
    _dir: tempfile::TempDir,
}

fn failed(address: &str, what: &str, e: impl std::fmt::Display) -> RemoteError {
    RemoteError::Memcached(format!("{address}: {what}: {e}"))
}

impl TlsDialer {
    /// A dialer for `address` (`host:port`), whose certificate must verify under `config`
    /// for `host`.
    pub fn new(address: &str, config: Arc<ClientConfig>) -> Result<Self, RemoteError> {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host).trim_matches(['[', ']']);
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|e| failed(address, "not a host name for TLS", e))?;
        let dir = tempfile::Builder::new()
            .prefix("stratus-memcached-tls")
            .tempdir()
            .map_err(|e| failed(address, "private socket directory", e))?;
        let socket = dir.path().join("s");
        let listener = UnixListener::bind(&socket).map_err(|e| failed(address, "private socket", e))?;
        Ok(Self {
            address: address.to_owned(),
            server_name,
            connector: TlsConnector::from(config),
            socket,
            listener: Mutex::new(listener),
            _dir: dir,
        })
    }

    /// A client on a new, verified TLS connection; the TLS stream lives as long as the client.
    pub async fn connect(&self) -> Result<Client, RemoteError> {
        let tcp = TcpStream::connect(&self.address).await.map_err(|e| failed(&self.address, "connect", e))?;
        tcp.set_nodelay(true).map_err(|e| failed(&self.address, "connect", e))?;
        let mut tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| failed(&self.address, "TLS handshake", e))?;
        let listener = self.listener.lock().await;
        let joined = tokio::try_join!(
            async {
                Client::new(format!("unix://{}", self.socket.display()))
                    .await
                    .map_err(|e| failed(&self.address, "private socket", e))
            },
            async { listener.accept().await.map_err(|e| failed(&self.address, "private socket", e)) },
        );
        drop(listener);
        let (client, (mut local, _)) = joined?;
        // Ends when either side closes: a dropped client closes the TLS connection, and a
        // server that hangs up leaves the client at end of stream (it then reconnects).
        tokio::spawn(async move {
            tokio::io::copy_bidirectional(&mut local, &mut tls).await.ok();
        });
        Ok(client)
    }
}
