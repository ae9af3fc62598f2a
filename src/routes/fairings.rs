//! The fairings: per-request metrics and the access log line, each handed the part of `App`
//! it needs.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};

use crate::metrics::Arrival;
use crate::state::App;

/// Per-request metrics: requests in flight, duration by route template, upload outcomes.
pub struct RequestMetrics;

#[rocket::async_trait]
impl Fairing for RequestMetrics {
    fn info(&self) -> Info {
        Info { name: "request metrics", kind: Kind::Request | Kind::Response }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        request.local_cache(|| Arrival::now(request.method()));
        if let Some(app) = request.rocket().state::<App>() {
            app.metrics.in_flight.inc();
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(app) = request.rocket().state::<App>() else {
            return;
        };
        app.metrics.in_flight.dec();
        let arrival = request.local_cache(|| Arrival::now(request.method()));
        let route = request.route().map_or("unmatched", |r| r.uri.origin.path().as_str());
        let upload = request.method() == rocket::http::Method::Post && route == "/photos";
        app.metrics.record_response(route, arrival, response.status().code, upload);
    }
}

/// Level 6: one access log line per answered request.
pub struct AccessLogFairing;

#[rocket::async_trait]
impl Fairing for AccessLogFairing {
    fn info(&self) -> Info {
        Info { name: "access log", kind: Kind::Response }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if let Some(app) = request.rocket().state::<App>() {
            app.access_log.record(request, response);
        }
    }
}

/// For the catchers: a request Rocket refused before routing is counted and logged too.
pub fn record_refused_before_routing(status: u16, request: &Request<'_>) {
    if let Some(app) = request.rocket().state::<App>() {
        app.access_log.record_unrouted(status, request);
    }
}
