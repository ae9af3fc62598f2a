//! Level 3's signals: what an autoscaler and an operator read off `/metrics` (Prometheus text
//! format). One registry per `App`, so tests can build many apps in one process.

mod http;
mod observed;

pub use http::Arrival;
pub use observed::{ObservedRepo, ObservedSessions, ObservedStore};

use std::time::Instant;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Request and backend latencies: from a sub-millisecond cache hit to a 10 s stall.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub struct Metrics {
    registry: Registry,
    pub http_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub front_page: IntCounterVec,
    pub db_duration: HistogramVec,
    pub db_errors: IntCounterVec,
    pub store_duration: HistogramVec,
    pub store_errors: IntCounterVec,
    pub uploads: IntCounterVec,
    pub upload_bytes: IntCounter,
    pub session_errors: IntCounterVec,
    pub access_log_dropped: IntCounterVec,
    pub refused: IntCounterVec,
}

#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<HistogramVec, MetricsError> {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, MetricsError> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    /// A registry with every metric, `stratus_build_info` set from `version`, `profile` and
    /// `instance`.
    pub fn new(profile: &str, instance: &str) -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let in_flight = IntGauge::new("stratus_http_requests_in_flight", "Requests being handled now.")?;
        registry.register(Box::new(in_flight.clone()))?;
        let upload_bytes =
            IntCounter::new("stratus_upload_bytes_total", "Bytes of accepted photos, as stored (metadata removed).")?;
        registry.register(Box::new(upload_bytes.clone()))?;
        let build = IntGaugeVec::new(
            Opts::new("stratus_build_info", "Always 1; the labels say which build, profile and instance answers."),
            &["version", "profile", "instance"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), profile, instance]).set(1);
        registry.register(Box::new(build))?;
        Ok(Self {
            http_duration: histogram(
                &registry,
                "stratus_http_request_duration_seconds",
                "Time from request head to response, by route template, method and status.",
                &["route", "method", "status"],
            )?,
            in_flight,
            front_page: counter(
                &registry,
                "stratus_front_page_cache_total",
                "Front page lists by where they came from: hit, miss (filled from the database), bypass (cache down).",
                &["result"],
            )?,
            db_duration: histogram(
                &registry,
                "stratus_db_query_duration_seconds",
                "Database calls by repository operation (one call is one query or one transaction).",
                &["operation"],
            )?,
            db_errors: counter(&registry, "stratus_db_errors_total", "Failed database calls.", &["operation"])?,
            store_duration: histogram(
                &registry,
                "stratus_store_operation_duration_seconds",
                "Blob store calls by operation.",
                &["operation"],
            )?,
            store_errors: counter(&registry, "stratus_store_errors_total", "Failed blob store calls.", &["operation"])?,
            uploads: counter(
                &registry,
                "stratus_uploads_total",
                "Upload attempts by result (accepted, refused, failed) and reason.",
                &["result", "reason"],
            )?,
            upload_bytes,
            session_errors: counter(
                &registry,
                "stratus_session_store_errors_total",
                "Failed session store calls.",
                &["operation"],
            )?,
            access_log_dropped: counter(
                &registry,
                "stratus_access_log_dropped_total",
                "Access log lines dropped because their destination could not keep up or failed.",
                &["destination"],
            )?,
            refused: counter(
                &registry,
                "stratus_http_requests_refused_total",
                "Requests refused before routing (431 head too large, 414 URI too long, 400 unparsable or unknown method), by status.",
                &["status"],
            )?,
            registry,
        })
    }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Times `call`, recording its duration under `operation` and counting it in `errors` when it fails.
pub async fn observe<T, E>(
    duration: &HistogramVec,
    errors: &IntCounterVec,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    duration.with_label_values(&[operation]).observe(started.elapsed().as_secs_f64());
    if result.is_err() {
        errors.with_label_values(&[operation]).inc();
    }
    result
}
