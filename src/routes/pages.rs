use rocket::State;
use rocket::http::CookieJar;

use super::flash::{self, Notice};
use super::guards::SiteOrigin;
use super::respond::Page;
use super::visitor::Visitor;
use crate::domain::{PhotoId, Username};
use crate::error::AppError;
use crate::service::FeedSource;
use crate::state::App;
use crate::views::Frame;
use crate::views::Pages;

/// The page frame. A CSRF token is minted only where the page has a form, so an anonymous
/// front page sets no cookie at all.
pub(crate) fn frame<'a>(
    app: &'a App,
    visitor: &'a Visitor,
    cookies: &CookieJar<'_>,
    has_form: bool,
    source: Option<FeedSource>,
) -> Frame<'a> {
    let needs_token = has_form || visitor.session.is_some();
    Frame {
        user: visitor.username(),
        csrf: if needs_token { visitor.csrf_token(app, cookies) } else { String::new() },
        served_by: &app.served_by,
        fingerprint: visitor.session.as_ref().map(|s| s.fingerprint.as_str()),
        source: source.map(FeedSource::description),
        cache: source.map(FeedSource::header_value),
        profile: &app.settings.profile,
        level: app.settings.level.as_deref(),
        upload_limit_bytes: app.settings.upload_limit_bytes,
        notice: flash::take(cookies).map(Notice::text),
        origin: None,
        timed: false,
        teaching_open: app.settings.level.is_some() || app.settings.teaching_panel,
    }
}

#[rocket::get("/?<before>")]
pub async fn index(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    before: Option<PhotoId>,
) -> Result<Page, AppError> {
    let feed = app.feed.front_page(before).await?;
    let frame = Frame { timed: true, ..frame(app, visitor, cookies, false, Some(feed.source)) };
    let started = std::time::Instant::now();
    let rendered = pages.front_page(&frame, &feed)?;
    Ok(Page::rendered(rendered).with_source(feed.source).with_timings(feed.timings, started.elapsed()))
}

#[rocket::get("/photos/<id>")]
pub async fn photo(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    origin: SiteOrigin,
    id: Result<PhotoId, &str>,
) -> Result<Page, AppError> {
    // A malformed id names no photo: 404, like an unknown one.
    let (photo, view, neighbours) =
        app.photos.page(id.map_err(|_| AppError::NotFound)?).await?.ok_or(AppError::NotFound)?;
    let is_owner = visitor.session.as_ref().is_some_and(|s| s.data.user_id == photo.owner_id);
    let frame = Frame { origin: Some(origin.0), ..frame(app, visitor, cookies, is_owner, None) };
    Ok(Page::ok(pages.photo_page(&frame, &view, neighbours, is_owner)?))
}

/// One person's photos, newest first, paged like the front page.
#[rocket::get("/u/<name>?<before>")]
pub async fn user(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    name: &str,
    before: Option<PhotoId>,
) -> Result<Page, AppError> {
    // A name no account can have is nobody's page: 404, like an unknown one.
    let name = Username::parse(name).ok_or(AppError::NotFound)?;
    let page = app.feed.owner_page(&name, before).await?.ok_or(AppError::NotFound)?;
    Ok(Page::ok(pages.user_page(&frame(app, visitor, cookies, false, None), &page)?))
}

#[rocket::get("/login")]
pub fn login_form(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
) -> Result<Page, AppError> {
    Ok(Page::ok(pages.account_form(&frame(app, visitor, cookies, true, None), "login", "", None)?))
}

#[rocket::get("/register")]
pub fn register_form(
    app: &State<App>,
    pages: Pages<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
) -> Result<Page, AppError> {
    Ok(Page::ok(pages.account_form(&frame(app, visitor, cookies, true, None), "register", "", None)?))
}
