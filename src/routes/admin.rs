use rocket::State;
use rocket::http::CookieJar;

use super::guards::Admin;
use super::pages::frame;
use super::respond::Page;
use super::visitor::Visitor;
use crate::error::AppError;
use crate::service::ServiceError;
use crate::state::App;
use crate::views::Pages;

/// Level 6's live view: requests per client IP over the latest windows, refreshing itself.
#[rocket::get("/admin/traffic")]
pub async fn traffic(
    app: &State<App>,
    pages: Pages<'_>,
    _admin: Admin,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
) -> Result<Page, AppError> {
    let windows = app.traffic.recent().await.map_err(ServiceError::from)?;
    let frame = frame(app, visitor, cookies, false, None);
    Ok(Page::ok(pages.traffic_page(
        &frame,
        windows.as_deref(),
        app.traffic.source_name(),
        app.traffic.window_secs(),
    )?))
}
