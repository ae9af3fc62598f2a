use rocket::State;
use rocket::http::CookieJar;
use rocket::request::{FromRequest, Outcome, Request};

use super::pages::frame;
use super::respond::Page;
use super::visitor::Visitor;
use crate::error::AppError;
use crate::state::App;
use crate::views::Pages;

/// Whether the request reached this instance through a trusted proxy (a load balancer).
pub struct ViaProxy(bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ViaProxy {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let via = request.rocket().state::<App>().is_some_and(|app| app.access_log.via_proxy(request));
        Outcome::Success(ViaProxy(via))
    }
}

/// The deployment this instance runs in, drawn live: every instance of the fleet, the
/// backends by host and name, this instance's figures on the arrows.
#[rocket::get("/architecture")]
pub async fn architecture(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    via: ViaProxy,
) -> Result<Page, AppError> {
    let view = app.architecture.view(via.0).await;
    Ok(Page::ok(pages.architecture_page(&frame(app, visitor, cookies, false, None), &view)?))
}
