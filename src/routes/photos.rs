use rocket::State;
use rocket::form::{Form, FromForm};
use rocket::http::CookieJar;
use rocket::response::Redirect;

use super::flash::{self, Notice};
use super::guards::SignedIn;
use super::pages::frame;
use super::refused::{Refusal, Refused, kept};
use super::respond::Page;
use super::upload_form::UploadForm;
use super::visitor::Visitor;
use crate::domain::{AltText, Caption, PhotoId};
use crate::error::AppError;
use crate::photos::{Rejection, UploadData};
use crate::service::{DeleteRejected, EditRejected, Words};
use crate::state::App;
use crate::views::Pages;

#[derive(FromForm)]
pub struct CsrfForm {
    csrf: Option<String>,
}

#[derive(FromForm)]
pub struct WordsForm {
    caption: Option<String>,
    alt: Option<String>,
    csrf: Option<String>,
}

/// The caption and text alternative as sent, each checked against its rule.
fn words(caption: &str, alt: &str) -> Result<Words, AppError> {
    let caption = Caption::parse(caption).ok_or_else(|| AppError::Unprocessable(Caption::RULE.into()))?;
    let alt = AltText::parse(alt).ok_or_else(|| AppError::Unprocessable(AltText::RULE.into()))?;
    Ok(Words { caption, alt })
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Unsupported(advice) => AppError::UnsupportedMedia(advice.into()),
            Rejection::Unusable(reason) => AppError::Unprocessable(reason),
        }
    }
}

/// The upload form on a page of its own: where a refused no-script upload is shown again.
#[rocket::get("/photos")]
pub fn upload_page(
    app: &State<App>,
    pages: Pages<'_>,
    _signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
) -> Result<Page, AppError> {
    Ok(Page::ok(pages.upload_page(&frame(app, visitor, cookies, true, None), ("", ""), None)?))
}

/// `form` is read only after the session guard passed, and it checks the CSRF token before
/// the photo (see `upload_form`).
#[rocket::post("/photos", data = "<form>")]
pub async fn upload(
    app: &State<App>,
    pages: Pages<'_>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    form: Result<UploadForm, AppError>,
) -> Result<Redirect, Refused> {
    let caption = kept(form.as_ref().ok().map(|f| f.caption.as_str()));
    let alt = kept(form.as_ref().ok().map(|f| f.alt.as_str()));
    try_upload(app, &signed_in, cookies, form).await.map_err(|refusal| {
        let frame = frame(app, visitor, cookies, true, None);
        refusal.form_again(|error| pages.upload_page(&frame, (&caption, &alt), Some(error)))
    })
}

async fn try_upload(
    app: &App,
    signed_in: &SignedIn<'_>,
    cookies: &CookieJar<'_>,
    form: Result<UploadForm, AppError>,
) -> Result<Redirect, Refusal> {
    let form = form.map_err(|e| match e {
        AppError::TooLarge(_) => Refusal::on("photo", e),
        other => Refusal::from(other),
    })?;
    let caption = Caption::parse(&form.caption)
        .ok_or_else(|| Refusal::on("caption", AppError::Unprocessable(Caption::RULE.into())))?;
    let alt =
        AltText::parse(&form.alt).ok_or_else(|| Refusal::on("alt", AppError::Unprocessable(AltText::RULE.into())))?;
    let photo = form
        .photo
        .as_ref()
        .ok_or_else(|| Refusal::on("photo", AppError::Unprocessable("Choose a photo to upload.".into())))?;
    let owner = &signed_in.0.data;
    let uploaded =
        app.photos.upload(owner.user_id, &owner.username, UploadData::File(photo.path()), Words { caption, alt }).await;
    let id = uploaded.map_err(AppError::from)?.map_err(|rejection| Refusal::on("photo", rejection.into()))?;
    Ok(flash::redirect(cookies, Notice::PhotoUploaded, format!("/photos/{id}")))
}

/// Deleting asks first: this page (no script needed), or the photo page's dialog.
#[rocket::get("/photos/<id>/delete")]
pub async fn confirm_delete(
    app: &State<App>,
    pages: Pages<'_>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    id: Result<PhotoId, &str>,
) -> Result<Page, AppError> {
    let (photo, view) = app.photos.get(id.map_err(|_| AppError::NotFound)?).await?.ok_or(AppError::NotFound)?;
    if photo.owner_id != signed_in.0.data.user_id {
        return Err(AppError::Forbidden(NOT_OWNER.into()));
    }
    Ok(Page::ok(pages.confirm_delete_page(&frame(app, visitor, cookies, true, None), &view)?))
}

const NOT_OWNER: &str = "Only the photo's owner can delete it.";

#[rocket::post("/photos/<id>/delete", data = "<form>")]
pub async fn delete(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    id: Result<PhotoId, &str>,
    form: Form<CsrfForm>,
) -> Result<Redirect, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let id = id.map_err(|_| AppError::NotFound)?;
    match app.photos.delete(signed_in.0.data.user_id, id).await? {
        Ok(()) => Ok(flash::redirect(cookies, Notice::PhotoDeleted, "/")),
        Err(DeleteRejected::NotFound) => Err(AppError::NotFound),
        Err(DeleteRejected::NotOwner) => Err(AppError::Forbidden(NOT_OWNER.into())),
    }
}

/// The owner rewrites the caption and text alternative.
#[rocket::post("/photos/<id>/caption", data = "<form>")]
pub async fn edit(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    cookies: &CookieJar<'_>,
    id: Result<PhotoId, &str>,
    form: Form<WordsForm>,
) -> Result<Redirect, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let id = id.map_err(|_| AppError::NotFound)?;
    let words = words(form.caption.as_deref().unwrap_or_default(), form.alt.as_deref().unwrap_or_default())?;
    match app.photos.edit(signed_in.0.data.user_id, id, words).await? {
        Ok(()) => Ok(flash::redirect(cookies, Notice::CaptionSaved, format!("/photos/{id}"))),
        Err(EditRejected::NotFound) => Err(AppError::NotFound),
        Err(EditRejected::NotOwner) => Err(AppError::Forbidden("Only the photo's owner can edit its caption.".into())),
    }
}
