//! A TCP proxy the tests can cut and restore, so one shared server can "go down" for one app
//! while it keeps serving every other test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
    /// Bytes forwarded from clients to the server so far.
    sent: Arc<AtomicU64>,
    /// Each chunk of every answer from the server is held this many milliseconds.
    answer_delay_ms: Arc<AtomicU64>,
}

/// Copies `from` to `to`, counting bytes into `count` and holding each chunk for `delay_ms`.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::SeqCst);
    }
    to.shutdown().await.ok();
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let target = target.to_owned();
        let (sent, answer_delay_ms) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let acceptor = tokio::spawn({
            let (open, links, sent, answer_delay_ms) =
                (open.clone(), links.clone(), sent.clone(), answer_delay_ms.clone());
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection closed at once
                    }
                    let target = target.clone();
                    let (sent, answer_delay_ms) = (sent.clone(), answer_delay_ms.clone());
                    let link = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(&target).await {
                            let (client_read, client_write) = inbound.into_split();
                            let (server_read, server_write) = outbound.into_split();
                            let no_delay = Arc::new(AtomicU64::new(0));
                            tokio::join!(
                                pipe(client_read, server_write, sent, no_delay),
                                pipe(server_read, client_write, Arc::default(), answer_delay_ms),
                            );
                        }
                    });
                    if let Ok(mut links) = links.lock() {
                        links.push(link);
                    }
                }
            }
        });
        Self { addr, open, links, acceptor, sent, answer_delay_ms }
    }

    /// Bytes clients have sent through the proxy so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Holds every chunk of the server's answers for `delay` (zero: none): a slow server.
    pub fn delay_answers(&self, delay: Duration) {
        self.answer_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Drops every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        if let Ok(mut links) = self.links.lock() {
            for link in links.drain(..) {
                link.abort();
            }
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}
