//! Requests refused before any route sees them, counted and logged like the others.
//!
//! Two places refuse them. Rocket answers a request it cannot turn into its own (an unknown
//! method, a malformed URI) through the catchers, without the request fairings: the catcher
//! calls [`AccessLog::record_unrouted`]. The HTTP layer (hyper) answers a head too large
//! (431), a URI too long (414) or an unparsable request (400) itself, before Rocket sees a
//! request; Rocket 0.5 offers no hook there, only its warning `Connection failed: <cause>`,
//! which [`RefusalHook`] (a tracing layer the binary installs) turns into the same record.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use rocket::Request;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

use super::AccessLog;
use crate::metrics::Arrival;

/// The status hyper answered with, from the cause Rocket logged; `None` for a connection
/// that failed without a refusal (a reset, a timeout, a client that went away).
fn refused_status(message: &str) -> Option<u16> {
    match message.strip_prefix("Connection failed: ")? {
        "message head is too large" => Some(431),
        "URI too long" => Some(414),
        "invalid HTTP method parsed" | "invalid HTTP version parsed" | "invalid URI" | "invalid HTTP header parsed" => {
            Some(400)
        }
        _ => None,
    }
}

impl AccessLog {
    /// For the catchers: when the request never passed the request fairings, Rocket refused it
    /// before routing, and it is recorded here (with what Rocket salvaged of it).
    pub fn record_unrouted(&self, status: u16, request: &Request<'_>) {
        if request.local_cache(Arrival::unrouted).routed {
            return;
        }
        let client = request.remote().map(|_| self.client_ip(request));
        // Rocket salvages an unknown method as GET: the method is not known.
        self.record_refused(status, client, None, Some(request.uri().path().as_str()));
    }
}

/// A tracing layer that records the HTTP layer's refusals once the app's access log is
/// attached (the subscriber is installed before the app is built).
#[derive(Clone, Default)]
pub struct RefusalHook(Arc<OnceLock<Arc<AccessLog>>>);

impl RefusalHook {
    /// Sends refusals to `log` from now on; a second call is ignored.
    pub fn attach(&self, log: Arc<AccessLog>) {
        let _ = self.0.set(log);
    }
}

impl<S: tracing::Subscriber> Layer<S> for RefusalHook {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        let Some(log) = self.0.get() else {
            return;
        };
        let mut message = Message(String::new());
        event.record(&mut message);
        if let Some(status) = refused_status(&message.0) {
            log.record_refused(status, None, None, None);
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_refusals_are_told_from_other_connection_failures() {
        assert_eq!(refused_status("Connection failed: message head is too large"), Some(431));
        assert_eq!(refused_status("Connection failed: URI too long"), Some(414));
        assert_eq!(refused_status("Connection failed: invalid HTTP method parsed"), Some(400));
        assert_eq!(refused_status("Connection failed: invalid HTTP header parsed"), Some(400));
        // Nothing was answered for these.
        assert_eq!(refused_status("Connection failed: invalid HTTP version parsed (found HTTP2 preface)"), None);
        assert_eq!(refused_status("Connection failed: connection closed before message completed"), None);
        assert_eq!(refused_status("message head is too large"), None);
    }
}
