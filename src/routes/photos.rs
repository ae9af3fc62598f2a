use rocket::State;
use rocket::form::{Form, FromForm};
use rocket::response::Redirect;

use super::guards::SignedIn;
use super::upload_form::UploadForm;
use crate::auth::Visitor;
use crate::domain::{AltText, Caption, PhotoId};
use crate::error::AppError;
use crate::photos::{Rejection, UploadData};
use crate::service::{DeleteRejected, EditRejected, Words};
use crate::state::App;

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

/// `form` is read only after the session guard passed, and it checks the CSRF token before
/// the photo (see `upload_form`).
#[rocket::post("/photos", data = "<form>")]
pub async fn upload(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    form: Result<UploadForm, AppError>,
) -> Result<Redirect, AppError> {
    let form = form?;
    let words = words(&form.caption, &form.alt)?;
    let photo = form.photo.as_ref().ok_or_else(|| AppError::Unprocessable("Choose a photo to upload.".into()))?;
    let owner = &signed_in.0.data;
    let id = app.photos.upload(owner.user_id, &owner.username, UploadData::File(photo.path()), words).await??;
    Ok(Redirect::to(format!("/photos/{id}")))
}

#[rocket::post("/photos/<id>/delete", data = "<form>")]
pub async fn delete(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    id: Result<PhotoId, &str>,
    form: Form<CsrfForm>,
) -> Result<Redirect, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let id = id.map_err(|_| AppError::NotFound)?;
    match app.photos.delete(signed_in.0.data.user_id, id).await? {
        Ok(()) => Ok(Redirect::to("/")),
        Err(DeleteRejected::NotFound) => Err(AppError::NotFound),
        Err(DeleteRejected::NotOwner) => Err(AppError::Forbidden("Only the photo's owner can delete it.".into())),
    }
}

/// The owner rewrites the caption and text alternative.
#[rocket::post("/photos/<id>/caption", data = "<form>")]
pub async fn edit(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    id: Result<PhotoId, &str>,
    form: Form<WordsForm>,
) -> Result<Redirect, AppError> {
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let id = id.map_err(|_| AppError::NotFound)?;
    let words = words(form.caption.as_deref().unwrap_or_default(), form.alt.as_deref().unwrap_or_default())?;
    match app.photos.edit(signed_in.0.data.user_id, id, words).await? {
        Ok(()) => Ok(Redirect::to(format!("/photos/{id}"))),
        Err(EditRejected::NotFound) => Err(AppError::NotFound),
        Err(EditRejected::NotOwner) => Err(AppError::Forbidden("Only the photo's owner can edit its caption.".into())),
    }
}
