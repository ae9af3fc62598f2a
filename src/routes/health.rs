use rocket::State;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;

use crate::state::App;

/// Liveness: the process answers. Touches no dependency.
#[rocket::get("/healthz")]
pub fn healthz() -> &'static str {
    "ok"
}

/// Level 3's signals in Prometheus text format; 404 when `metrics = false`.
#[rocket::get("/metrics")]
pub fn metrics(app: &State<App>) -> Option<(ContentType, String)> {
    let content_type = ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    app.settings.metrics.then(|| (content_type, app.metrics.render()))
}

/// Readiness: every backend answers; 503 (with which one failed) otherwise.
#[rocket::get("/readyz")]
pub async fn readyz(app: &State<App>) -> (Status, Json<serde_json::Value>) {
    let report = app.readiness().await;
    let status = if report.ready { Status::Ok } else { Status::ServiceUnavailable };
    (status, Json(report.to_json()))
}

/// What crawlers may index: every page a visitor can read, but not a person's account, the
/// admin pages, the JSON API or the operators' endpoints.
const ROBOTS: &str = "\
User-agent: *
Disallow: /account
Disallow: /admin/
Disallow: /api/
Disallow: /healthz
Disallow: /readyz
Disallow: /metrics
";

#[rocket::get("/robots.txt")]
pub fn robots() -> &'static str {
    ROBOTS
}
