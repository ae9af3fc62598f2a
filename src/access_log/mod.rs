//! Level 6: one JSON line per request in the tutorial's field layout (all values strings),
//! written to stdout or a file and, in a fleet, appended to a Redis Stream or a Kinesis Data
//! Stream that `stratus traffic` and `/admin/traffic` read. Lines leave the request path
//! through bounded channels: a slow disk or a dead Redis or Kinesis drops lines (counted in
//! `/metrics`), never requests.

//! Level 6 in one module: one JSON line per request in the tutorial's field layout (all values
//! strings, [`line`]), written to stdout or a file and, in a fleet, appended to a Redis Stream
//! or a Kinesis Data Stream ([`sink`]); read back from any of them by one reader ([`source`])
//! into tumbling windows ([`windows`]) for `stratus traffic` ([`query`]) and `/admin/traffic`
//! ([`recent`]). Lines leave the request path through bounded channels: a slow disk or a dead
//! Redis or Kinesis drops lines (counted in `/metrics`), never requests.

pub mod line;
pub mod query;
pub mod recent;
mod refused;
pub mod sink;
pub mod source;
pub mod windows;

use std::net::IpAddr;
use std::sync::Arc;

use rocket::{Request, Response};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::metrics::{Arrival, Metrics};
use crate::net::TrustedProxies;

pub use line::{AccessLine, MAX_LINE_BYTES, TRUNCATION_MARK, apache_time, parse_apache_time};
pub use recent::{TrafficService, WindowView};
pub use refused::RefusalHook;
pub use sink::{Destination, KinesisSink, Retry, SharedSink, StreamBounds, StreamSink};
pub use source::{ReadError, Source, Stream};

/// Where lines go: the queues of the writer tasks, and how a line's addresses are found.
pub struct AccessLog {
    file: Option<mpsc::Sender<String>>,
    stream: Option<mpsc::Sender<String>>,
    trusted: TrustedProxies,
    server_ip: String,
    metrics: Arc<Metrics>,
    closing: watch::Sender<bool>,
    writers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl AccessLog {
    /// Starts the writer tasks for `destination` and, when given, the shared stream.
    pub fn start(
        destination: Destination,
        stream: Option<SharedSink>,
        trusted: TrustedProxies,
        server_ip: IpAddr,
        metrics: Arc<Metrics>,
    ) -> Self {
        let file = sink::spawn_file(destination, metrics.clone());
        let (closing, closed) = watch::channel(false);
        let (stream, writer) = match stream.map(|sink| sink.spawn(metrics.clone(), closed)) {
            Some((queue, writer)) => (Some(queue), writer),
            None => (None, None),
        };
        let writers = std::sync::Mutex::new(writer.into_iter().collect());
        Self { file, stream, trusted, server_ip: server_ip.to_string(), metrics, closing, writers }
    }

    /// At exit: lets the writers that hold lines back for fuller batches (Kinesis) send what
    /// they hold and what is queued now, and waits for them up to `within`.
    pub async fn close(&self, within: std::time::Duration) {
        self.closing.send_replace(true);
        let writers = std::mem::take(&mut *self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if tokio::time::timeout(within, futures::future::join_all(writers)).await.is_err() {
            tracing::warn!(within = ?within, "access log: lines still unsent at exit are lost");
        }
    }

    /// The client address: the forwarded-address header (every line of it) believed from
    /// trusted proxies only.
    pub fn client_ip(&self, request: &Request<'_>) -> IpAddr {
        let peer = request.remote().map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
        self.trusted.client_ip(peer, request.headers().get(self.trusted.header().name()))
    }

    /// Whether the request reached this instance through a trusted proxy (a load balancer).
    pub fn via_proxy(&self, request: &Request<'_>) -> bool {
        request.remote().is_some_and(|peer| {
            self.trusted.forwarded_by_proxy(peer.ip(), request.headers().get(self.trusted.header().name()))
        })
    }

    fn send(&self, queue: &Option<mpsc::Sender<String>>, destination: &str, line: &str) {
        if let Some(queue) = queue
            && queue.try_send(line.to_owned()).is_err()
        {
            self.metrics.access_log_dropped.with_label_values(&[destination]).inc();
        }
    }

    fn enabled(&self) -> bool {
        self.file.is_some() || self.stream.is_some()
    }

    /// Logs one answered request (the response fairing calls this).
    pub fn record(&self, request: &Request<'_>, response: &Response<'_>) {
        if !self.enabled() {
            return;
        }
        let client_ip = self.client_ip(request).to_string();
        let header = |name: &str| line::capped(request.headers().get_one(name).unwrap_or("-"));
        // Rocket answers HEAD with the GET route and says GET from then on: the method the
        // client sent was kept when the request arrived.
        let method = request.local_cache(|| Arrival::now(request.method())).method;
        self.write(AccessLine {
            request_time: apache_time(crate::domain::now_unix()),
            client_hostname: client_ip.clone(),
            client_ip,
            server_ip: self.server_ip.clone(),
            request: line::capped(request.uri().path().as_str()),
            http_method: method.as_str().to_owned(),
            status: response.status().code.to_string(),
            size: response.body().preset_size().unwrap_or(0).to_string(),
            user_agent: header("User-Agent"),
            referer: header("Referer"),
        });
    }

    /// A request refused before it was routed (by the HTTP layer, or by Rocket for an
    /// unknown method or a malformed URI): counted, and logged with what is known of it.
    pub fn record_refused(&self, status: u16, client_ip: Option<IpAddr>, method: Option<&str>, path: Option<&str>) {
        self.metrics.refused.with_label_values(&[&status.to_string()]).inc();
        if !self.enabled() {
            return;
        }
        let client_ip = client_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        self.write(AccessLine {
            request_time: apache_time(crate::domain::now_unix()),
            client_hostname: client_ip.clone(),
            client_ip,
            server_ip: self.server_ip.clone(),
            request: line::capped(path.unwrap_or("-")),
            http_method: line::capped(method.unwrap_or("-")),
            status: status.to_string(),
            size: "0".into(),
            user_agent: "-".into(),
            referer: "-".into(),
        });
    }

    fn write(&self, line: AccessLine) {
        let Ok(json) = serde_json::to_string(&line) else {
            return;
        };
        self.send(&self.file, "log", &json);
        self.send(&self.stream, "stream", &json);
    }
}
