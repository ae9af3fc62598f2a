use rocket::State;
use rocket::form::error::ErrorKind;
use rocket::form::{Errors, Form, FromForm};
use rocket::fs::TempFile;
use rocket::response::Redirect;

use super::guards::SignedIn;
use crate::auth::Visitor;
use crate::domain::{Caption, PhotoId};
use crate::error::AppError;
use crate::photos::{Rejection, UploadData};
use crate::service::DeleteRejected;
use crate::state::App;

#[derive(FromForm)]
pub struct UploadForm<'r> {
    /// A `Result`, not an `Option`: an over-limit file must surface as its error, not as absence.
    photo: rocket::form::Result<'r, TempFile<'r>>,
    caption: Option<String>,
    csrf: Option<String>,
}

#[derive(FromForm)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// Rocket reports an over-limit body as a form error; it is a 413 to the user.
fn form_error(errors: &Errors<'_>) -> AppError {
    let too_large = |kind: &ErrorKind<'_>| match kind {
        ErrorKind::InvalidLength { .. } => true,
        ErrorKind::Multipart(e) => {
            matches!(e, multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. })
        }
        _ => false,
    };
    if errors.iter().any(|e| too_large(&e.kind)) {
        AppError::TooLarge(
            "The photo is larger than the upload limit. Resize it or export it at a lower quality and try again."
                .into(),
        )
    } else {
        AppError::Unprocessable(format!("The upload form could not be read: {errors}"))
    }
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Unsupported(advice) => AppError::UnsupportedMedia(advice.into()),
            Rejection::Unusable(reason) => AppError::Unprocessable(reason),
        }
    }
}

/// Rocket streams file parts to a temporary file; a plain text field named `photo` arrives
/// buffered in memory instead (and is then refused by its bytes like anything else).
async fn upload_data<'a>(file: &'a TempFile<'_>) -> Result<UploadData<'a>, AppError> {
    if let Some(path) = file.path() {
        return Ok(UploadData::File(path));
    }
    let mut bytes = Vec::new();
    let mut reader =
        file.open().await.map_err(|e| AppError::Unprocessable(format!("The upload could not be read: {e}")))?;
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut bytes)
        .await
        .map_err(|e| AppError::Unprocessable(format!("The upload could not be read: {e}")))?;
    Ok(UploadData::Bytes(bytes.into()))
}

#[rocket::post("/photos", data = "<form>")]
pub async fn upload(
    app: &State<App>,
    signed_in: SignedIn<'_>,
    visitor: &Visitor,
    form: Result<Form<UploadForm<'_>>, Errors<'_>>,
) -> Result<Redirect, AppError> {
    let form = form.map_err(|e| form_error(&e))?;
    visitor.verify_csrf(app, form.csrf.as_deref())?;
    let caption = Caption::parse(form.caption.as_deref().unwrap_or_default())
        .ok_or_else(|| AppError::Unprocessable(Caption::RULE.into()))?;
    let file = form.photo.as_ref().map_err(|errors| {
        if errors.iter().all(|e| matches!(e.kind, ErrorKind::Missing)) {
            AppError::Unprocessable("Choose a photo to upload.".into())
        } else {
            form_error(errors)
        }
    })?;
    let owner = &signed_in.0.data;
    let id = app.photos.upload(owner.user_id, &owner.username, upload_data(file).await?, caption).await??;
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
