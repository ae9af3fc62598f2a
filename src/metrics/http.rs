//! Per-request metrics: duration by route template, requests in flight, upload outcomes.

use std::time::Instant;

use rocket::http::Method;

use super::Metrics;

/// When the request arrived and with which method, kept in Rocket's request-local cache by
/// the first request fairing: Rocket answers HEAD through the GET route and says GET from
/// then on.
pub struct Arrival {
    pub at: Instant,
    pub method: Method,
    /// False for a request Rocket refused before the request fairings (catchers only).
    pub routed: bool,
}

impl Arrival {
    pub fn now(method: Method) -> Self {
        Self { at: Instant::now(), method, routed: true }
    }

    /// What a catcher finds for a request that never passed the request fairings.
    pub fn unrouted() -> Self {
        Self { at: Instant::now(), method: Method::Get, routed: false }
    }
}

/// An upload's outcome from its status: the handler has already turned every refusal into one.
fn upload_outcome(status: u16) -> (&'static str, &'static str) {
    match status {
        200..=399 => ("accepted", ""),
        401 => ("refused", "signed_out"),
        403 => ("refused", "csrf"),
        413 => ("refused", "too_large"),
        415 => ("refused", "unsupported_type"),
        422 => ("refused", "unusable_image"),
        400..=499 => ("refused", "bad_request"),
        503 => ("failed", "backend_unavailable"),
        _ => ("failed", "error"),
    }
}

/// The status as a label, without an allocation for the statuses this app answers with.
fn status_label(code: u16) -> std::borrow::Cow<'static, str> {
    let known = match code {
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        413 => "413",
        414 => "414",
        415 => "415",
        422 => "422",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        other => return other.to_string().into(),
    };
    known.into()
}

impl Metrics {
    /// One answered request: its duration under its route's template (`unmatched` for none:
    /// one series per route, however many photo ids exist) and, for an upload, its outcome.
    pub fn record_response(&self, route: &str, arrival: &Arrival, status: u16, upload: bool) {
        self.http_duration
            .with_label_values(&[route, arrival.method.as_str(), status_label(status).as_ref()])
            .observe(arrival.at.elapsed().as_secs_f64());
        if upload {
            let (result, reason) = upload_outcome(status);
            self.uploads.with_label_values(&[result, reason]).inc();
        }
    }
}
