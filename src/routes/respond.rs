//! Responders for pages, the request guard that renders them, the fairing that loads their
//! templates, and the fairing that puts security and teaching headers on every response.

use std::io::Cursor;

use rocket::fairing::{AdHoc, Fairing, Info, Kind};
use rocket::figment::providers::Serialized;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Body, Responder, Response};
use rocket_dyn_templates::Template;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::compress::{self, Effort, Encoded, Encoding};
use crate::service::{FeedSource, Timings};
use crate::state::App;
use crate::views::{Pages, Rendered, TemplateDir};

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Pages<'r> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        match request.rocket().state::<App>() {
            Some(app) => Outcome::Success(Pages::new(request.rocket(), &app.views)),
            None => Outcome::Error((Status::InternalServerError, ())),
        }
    }
}

/// Once `App` is built (the templates need its static files' hashed names): rocket_dyn_templates'
/// fairing, reading `template_dir` (or, without one, an empty directory), with the embedded
/// templates registered by `Views::loader`. A template there that does not compile stops the
/// launch, as a bad setting does.
pub fn templates() -> AdHoc {
    AdHoc::try_on_ignite("templates", |rocket| async move {
        let Some(app) = rocket.state::<App>() else {
            return Ok(rocket);
        };
        let dir = match TemplateDir::choose(app.settings.template_dir.as_deref()) {
            Ok(dir) => dir,
            Err(e) => {
                tracing::error!("cannot make an empty template directory: {e}");
                return Err(rocket);
            }
        };
        let load = app.views.loader(app.assets.clone());
        // The key rocket_dyn_templates reads, set for every profile so no other source wins.
        let figment = rocket.figment().clone().merge(Serialized::global("template_dir", dir.path()));
        let fairing = Template::try_custom(move |engines| {
            // The directory lives as long as the fairing: it is watched for reloads.
            let _watched = &dir;
            load(&mut engines.minijinja).map_err(Into::into)
        });
        Ok(rocket.configure(figment).attach(fairing))
    })
}

/// An HTML page, with `X-Cache` when it shows a cacheable list; compressed when the client
/// accepts it (from the memo of a memoised page, else on the spot).
pub struct Page {
    pub html: Bytes,
    pub encoded: Option<Arc<Encoded>>,
    pub status: Status,
    pub source: Option<FeedSource>,
    /// `Server-Timing`: where the list's time went, and rendering.
    pub timings: Option<(Timings, Duration)>,
}

impl Page {
    pub fn ok(html: String) -> Self {
        Self::rendered(Rendered { html: html.into(), encoded: None })
    }

    pub fn rendered(page: Rendered) -> Self {
        Self { html: page.html, encoded: page.encoded, status: Status::Ok, source: None, timings: None }
    }

    /// A page answering a refused form: the form again, with the refusal's status.
    pub fn with_status(html: String, status: Status) -> Self {
        Self { status, ..Self::ok(html) }
    }

    pub fn with_source(mut self, source: FeedSource) -> Self {
        self.source = Some(source);
        self
    }

    pub fn with_timings(mut self, timings: Timings, render: Duration) -> Self {
        self.timings = Some((timings, render));
        self
    }
}

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(self.status).header(ContentType::HTML).raw_header("Vary", "Accept-Encoding");
        if let Some(source) = self.source {
            response.header(Header::new("X-Cache", source.header_value()));
        }
        if let Some((timings, render)) = self.timings {
            response.header(Header::new("Server-Timing", server_timing(&timings, render)));
        }
        let mut body = self.html;
        if body.len() >= compress::MIN_BYTES
            && let Some(encoding) = Encoding::negotiate(request.headers().get_one("Accept-Encoding"))
        {
            let compressed = match &self.encoded {
                Some(memo) => memo.get(&body, encoding),
                None => encoding.compress(&body, Effort::Fast).map(Bytes::from),
            };
            if let Some(compressed) = compressed {
                response.raw_header("Content-Encoding", encoding.token());
                body = compressed;
            }
        }
        // One chunk for the whole page: Rocket's default 4 KiB chunks split a typical page in
        // two writes, which cost the front page a third of its throughput.
        let len = body.len();
        let mut response = response.sized_body(len, Cursor::new(body)).finalize();
        response.set_max_chunk_size(len.max(Body::DEFAULT_MAX_CHUNK));
        Ok(response)
    }
}

fn server_timing(timings: &Timings, render: Duration) -> String {
    use std::fmt::Write;
    let mut header = String::with_capacity(64);
    let parts = [("cache", timings.cache), ("db", timings.db), ("store", timings.store), ("render", Some(render))];
    for (name, duration) in parts {
        if let Some(duration) = duration {
            let sep = if header.is_empty() { "" } else { ", " };
            // Milliseconds with three decimals from integer microseconds: float formatting cost
            // more than the rest of this responder on the cached front page.
            let micros = duration.as_micros();
            let _ = write!(header, "{sep}{name};dur={}.{:03}", micros / 1000, micros % 1000);
        }
    }
    header
}

pub struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info { name: "security and teaching headers", kind: Kind::Response }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(app) = request.rocket().state::<App>() else {
            return;
        };
        response.set_header(Header::new("X-Served-By", app.served_by.as_str()));
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        // `cookie_secure` says the site is served over HTTPS (the cookie would not come back
        // otherwise), so browsers may be told never to try plain HTTP: two years, the preload
        // list's minimum, subdomains included.
        if app.settings.cookie_secure {
            response.set_header(Header::new("Strict-Transport-Security", "max-age=63072000; includeSubDomains"));
        }
        // The raw value, not `content_type()`, which parses the media type for every image.
        let html = response.headers().get_one("Content-Type").is_some_and(|ct| ct.starts_with("text/html"));
        if html {
            response.set_header(Header::new("Content-Security-Policy", app.csp.as_str()));
            response.set_header(Header::new("Referrer-Policy", "same-origin"));
            response.set_header(Header::new("X-Frame-Options", "DENY"));
            // Pages differ per visitor: no shared cache (a CDN) may keep one.
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_gives_milliseconds_with_three_decimals() {
        let timings =
            Timings { cache: Some(Duration::from_micros(70)), db: None, store: Some(Duration::from_millis(12)) };
        assert_eq!(
            server_timing(&timings, Duration::from_nanos(1_234_567)),
            "cache;dur=0.070, store;dur=12.000, render;dur=1.234"
        );
        let none = Timings { cache: None, db: None, store: None };
        assert_eq!(server_timing(&none, Duration::ZERO), "render;dur=0.000");
    }
}
