use rocket::State;
use rocket::http::Status;
use rocket::serde::json::Json;

use crate::state::App;

/// Liveness: the process answers. Touches no dependency.
#[rocket::get("/healthz")]
pub fn healthz() -> &'static str {
    "ok"
}

/// Readiness: every backend answers; 503 (with which one failed) otherwise.
#[rocket::get("/readyz")]
pub async fn readyz(app: &State<App>) -> (Status, Json<serde_json::Value>) {
    let report = app.readiness().await;
    let status = if report.ready { Status::Ok } else { Status::ServiceUnavailable };
    (status, Json(report.to_json()))
}
