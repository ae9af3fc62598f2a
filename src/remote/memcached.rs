//! memcached over its text protocol (async-memcached), for one or many servers
//! (`memcache://host:11211,host2:11211`, or `memcache+tls://...` over TLS): each key lives on
//! the server its hash picks, and each server gets a few connections, re-opened after any
//! failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_memcached::{AsciiProtocol, Client, Error, MetaProtocol, Status};
use tokio::sync::Mutex;

use super::memcached_tls::TlsDialer;
use super::tls::TlsTrust;
use super::{RemoteError, with_timeout};

const CONNECTIONS_PER_SERVER: usize = 4;
/// memcached reads a TTL above 30 days as an absolute Unix time.
const MAX_RELATIVE_TTL: u64 = 30 * 24 * 3600;

/// How a connection to one server is opened.
enum Dialer {
    Plain,
    Tls(TlsDialer),
}

struct Server {
    address: String,
    dialer: Dialer,
    connections: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

pub struct Memcached {
    servers: Vec<Server>,
}

fn remote(e: Error) -> RemoteError {
    RemoteError::Memcached(e.to_string())
}

/// FNV-1a: a stable hash, so every instance maps a key to the same server.
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn ttl_field(ttl_secs: u64) -> i64 {
    let ttl = ttl_secs.max(1);
    if ttl <= MAX_RELATIVE_TTL { ttl as i64 } else { crate::domain::now_unix() + ttl as i64 }
}

impl Memcached {
    /// Connects to `url` trusting the platform's roots only; see `connect_with`.
    pub async fn connect(url: &str) -> Result<Self, RemoteError> {
        Self::connect_with(url, &TlsTrust::default()).await
    }

    /// Parses `memcache://host:port[,host:port...]` (or `memcache+tls://`, verified against
    /// `trust`) and checks that every server answers.
    pub async fn connect_with(url: &str, trust: &TlsTrust) -> Result<Self, RemoteError> {
        let (list, tls) = match (url.strip_prefix("memcache://"), url.strip_prefix("memcache+tls://")) {
            (Some(list), _) => (list, None),
            (None, Some(list)) => (list, Some(trust.client_config())),
            (None, None) => return Err(RemoteError::Url(url.to_owned())),
        };
        let mut servers = Vec::new();
        for address in list.trim_end_matches('/').split(',').filter(|a| !a.is_empty()) {
            let dialer = match &tls {
                Some(config) => Dialer::Tls(TlsDialer::new(address, config.clone())?),
                None => Dialer::Plain,
            };
            servers.push(Server {
                address: address.to_owned(),
                dialer,
                connections: (0..CONNECTIONS_PER_SERVER).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            });
        }
        if servers.is_empty() {
            return Err(RemoteError::Url(url.to_owned()));
        }
        let memcached = Self { servers };
        memcached.ping().await?;
        Ok(memcached)
    }

    fn server(&self, key: &str) -> &Server {
        &self.servers[(fnv1a(key) % self.servers.len() as u64) as usize]
    }

    /// Runs `op` on a connection to the server that owns `key`; a failed connection is
    /// dropped so the next call opens a fresh one.
    async fn on_server<T>(
        &self,
        server: &Server,
        op: impl AsyncFnOnce(&mut Client) -> Result<T, Error>,
    ) -> Result<T, RemoteError> {
        let slot = server.next.fetch_add(1, Ordering::Relaxed) % server.connections.len();
        let mut guard = server.connections[slot].lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(
                with_timeout(async {
                    match &server.dialer {
                        Dialer::Plain => Client::new(format!("tcp://{}", server.address)).await.map_err(remote),
                        Dialer::Tls(dialer) => dialer.connect().await,
                    }
                })
                .await?,
            );
        }
        let Some(client) = guard.as_mut() else { return Err(RemoteError::Memcached("no connection".into())) };
        let result = with_timeout(async { op(client).await.map_err(remote) }).await;
        if result.is_err() {
            *guard = None;
        }
        result
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let value = self.on_server(self.server(key), async |c: &mut Client| c.get(key).await).await?;
        Ok(value.and_then(|v| v.data))
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl_secs: u64) -> Result<(), RemoteError> {
        self.on_server(self.server(key), async |c: &mut Client| {
            c.set(key, value, Some(ttl_field(ttl_secs)), None).await
        })
        .await
    }

    /// Appends `line` and a newline to the value under `key`, in one atomic step; an absent key
    /// starts with that line, expiring after `ttl_secs` (an existing key keeps its expiry).
    pub async fn append_line(&self, key: &str, line: &str, ttl_secs: u64) -> Result<(), RemoteError> {
        let value = format!("{line}\n");
        let ttl = format!("T{}", ttl_field(ttl_secs));
        self.on_server(self.server(key), async |c: &mut Client| {
            // Append, else add; two instances may both miss and both add: the loser's add is
            // NOT_STORED and it appends to the winner's value instead. (memcached before 1.6.21
            // cannot append-or-create in one command.)
            for _ in 0..3 {
                match c.meta_set(key, value.as_bytes(), false, None, Some(&["MA"])).await {
                    Err(Error::Protocol(Status::NotStored)) => {}
                    other => return other.map(drop),
                }
                match c.meta_set(key, value.as_bytes(), false, None, Some(&["ME", ttl.as_str()])).await {
                    Err(Error::Protocol(Status::NotStored)) => {}
                    other => return other.map(drop),
                }
            }
            Err(Error::Protocol(Status::NotStored))
        })
        .await
    }

    /// The value under `key` with its CAS token, for `replace_if_unchanged`; `None` when absent.
    pub async fn get_with_cas(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, RemoteError> {
        let hit = self
            .on_server(self.server(key), async |c: &mut Client| c.meta_get(key, false, None, Some(&["v", "c"])).await)
            .await?;
        Ok(hit.and_then(|v| Some((v.data?, v.cas?))))
    }

    /// Replaces the value under `key` only if it is still the one `cas` was read with, with a
    /// new expiry; `false` when another write came first or the key is gone (nothing changes).
    pub async fn replace_if_unchanged(
        &self,
        key: &str,
        value: &[u8],
        cas: u64,
        ttl_secs: u64,
    ) -> Result<bool, RemoteError> {
        let (compare, ttl) = (format!("C{cas}"), format!("T{}", ttl_field(ttl_secs)));
        self.on_server(self.server(key), async |c: &mut Client| {
            match c.meta_set(key, value, false, None, Some(&[compare.as_str(), ttl.as_str()])).await {
                Ok(_) => Ok(true),
                Err(Error::Protocol(Status::Exists | Status::NotFound)) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Deletes `key`; a key already absent is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        self.on_server(self.server(key), async |c: &mut Client| match c.delete(key).await {
            Err(Error::Protocol(Status::NotFound)) => Ok(()),
            other => other,
        })
        .await
    }

    /// Adds one to the counter under `key` and returns the new count; an absent key starts at
    /// 1 expiring after `ttl_secs` (later increments keep that expiry).
    pub async fn increment_or_start(&self, key: &str, ttl_secs: u64) -> Result<u64, RemoteError> {
        self.on_server(self.server(key), async |c: &mut Client| {
            // Two instances may both miss and both `add`: the loser's add is NOT_STORED and it
            // increments the winner's counter instead.
            for _ in 0..3 {
                match c.increment(key, 1).await {
                    Err(Error::Protocol(Status::NotFound)) => {}
                    other => return other,
                }
                match c.add(key, "1", Some(ttl_field(ttl_secs)), None).await {
                    Ok(()) => return Ok(1),
                    Err(Error::Protocol(Status::NotStored)) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(Error::Protocol(Status::NotFound))
        })
        .await
    }

    /// Subtracts one from the counter under `key` (memcached stops at zero); an absent key is
    /// left absent.
    pub async fn decrement(&self, key: &str) -> Result<(), RemoteError> {
        self.on_server(self.server(key), async |c: &mut Client| match c.decrement(key, 1).await {
            Err(Error::Protocol(Status::NotFound)) => Ok(()),
            other => other.map(drop),
        })
        .await
    }

    /// Restarts `key`'s time to live; `false` when the key is absent.
    pub async fn touch(&self, key: &str, ttl_secs: u64) -> Result<bool, RemoteError> {
        let flag = format!("T{}", ttl_field(ttl_secs));
        let hit = self
            .on_server(self.server(key), async |c: &mut Client| {
                c.meta_get(key, false, None, Some(&["v", flag.as_str()])).await
            })
            .await?;
        Ok(hit.is_some())
    }

    /// Every server answers a `version`.
    pub async fn ping(&self) -> Result<(), RemoteError> {
        for server in &self.servers {
            self.on_server(server, async |c: &mut Client| c.version().await.map(drop)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_stable_and_ttls_stay_relative() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(ttl_field(0), 1);
        assert_eq!(ttl_field(300), 300);
        assert!(ttl_field(MAX_RELATIVE_TTL + 1) > 1_700_000_000, "long TTLs become absolute times");
    }
}
