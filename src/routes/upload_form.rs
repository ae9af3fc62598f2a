//! The upload form, read as a stream in the order its parts arrive: the CSRF token is checked
//! before a byte of the photo is read, text fields are refused at their cap instead of being
//! buffered whole, and the photo goes straight to a staging file under `data_dir`.
//!
//! Rocket's `Form` cannot do this: it reads every part before the handler runs, and buffers a
//! text part up to the whole body's limit (`data-form`, 21 MiB).

use std::path::Path;

use rocket::data::{self, Data, FromData, Limits, ToByteUnit};
use rocket::http::Status;
use rocket::request::Request;
use tokio::io::AsyncWriteExt;

use super::visitor::Visitor;
use crate::error::AppError;
use crate::service::ServiceError;
use crate::state::App;
use crate::store::{StoreError, staging};

/// Scripts may send the token in this header instead: then a forged upload is refused before
/// any of its body is read.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// A parsed upload: the photo staged on disk (removed when this is dropped), and the caption
/// and text alternative as sent (the handler parses them).
pub struct UploadForm {
    pub photo: Option<tempfile::NamedTempFile>,
    pub caption: String,
    pub alt: String,
}

#[rocket::async_trait]
impl<'r> FromData<'r> for UploadForm {
    type Error = AppError;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        match read(request, data).await {
            Ok(form) => data::Outcome::Success(form),
            Err(e) => data::Outcome::Error((e.status(), e)),
        }
    }
}

const TOO_LARGE: &str =
    "The photo is larger than the upload limit. Resize it or export it at a lower quality and try again.";

/// Why a multipart body could not be read, for the person who sent it.
fn unreadable(e: multer::Error) -> AppError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } if field_name.as_deref() == Some("photo") => {
            AppError::TooLarge(TOO_LARGE.into())
        }
        multer::Error::FieldSizeExceeded { limit, field_name } => AppError::TooLarge(format!(
            "The form field {:?} is longer than {} KiB, the most a text field may hold.",
            field_name.unwrap_or_default(),
            limit / 1024
        )),
        multer::Error::StreamSizeExceeded { .. } => AppError::TooLarge(TOO_LARGE.into()),
        other => AppError::BadRequest(format!(
            "The upload is not a well-formed multipart/form-data body ({other}). Send it again from the upload form."
        )),
    }
}

fn staging_failed(e: std::io::Error) -> AppError {
    ServiceError::from(StoreError::Staging(e)).into()
}

async fn read(request: &Request<'_>, data: Data<'_>) -> Result<UploadForm, AppError> {
    let app = request.rocket().state::<App>().ok_or(AppError::Caught(Status::InternalServerError))?;
    let visitor = request.guard::<&Visitor>().await.succeeded().ok_or(AppError::Unauthorized)?;
    let mut token_checked = false;
    if let Some(token) = request.headers().get_one(CSRF_HEADER) {
        visitor.verify_csrf(app, Some(token))?;
        token_checked = true;
    }
    let content_type = request.content_type().filter(|ct| ct.is_form_data()).ok_or_else(|| {
        AppError::BadRequest("An upload is sent as multipart/form-data, as the upload form does.".into())
    })?;
    let boundary = content_type.param("boundary").ok_or_else(|| {
        AppError::BadRequest("The multipart/form-data Content-Type has no boundary parameter.".into())
    })?;
    let limits = request.limits();
    let body_limit = limits.get("data-form").unwrap_or(Limits::DATA_FORM);
    let text_limit = limits.get("form").unwrap_or(64.kibibytes());
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(body_limit.as_u64())
            .per_field(text_limit.as_u64())
            .for_field("photo", limits.get("file").unwrap_or(Limits::FILE).as_u64()),
    );
    // One byte over the limit, so multer sees the excess and says so (rather than a body
    // silently cut at the limit looking unterminated).
    let mut parts = multer::Multipart::with_reader_with_constraints(data.open(body_limit + 1), boundary, constraints);
    let mut form = UploadForm { photo: None, caption: String::new(), alt: String::new() };
    while let Some(mut part) = parts.next_field().await.map_err(unreadable)? {
        match part.name() {
            Some("csrf") => {
                let token = part.text().await.map_err(unreadable)?;
                if !token_checked {
                    visitor.verify_csrf(app, Some(&token))?;
                    token_checked = true;
                }
            }
            Some("photo") => {
                if !token_checked {
                    return Err(AppError::Forbidden(
                        "The form's security token (csrf) must come before the photo, or in an X-CSRF-Token header. Reload the page and try again."
                            .into(),
                    ));
                }
                if form.photo.is_some() {
                    return Err(AppError::BadRequest("Send one photo per upload.".into()));
                }
                form.photo = Some(stage(&app.settings.data_dir, &mut part).await?);
            }
            Some("caption") => form.caption = part.text().await.map_err(unreadable)?,
            Some("alt") => form.alt = part.text().await.map_err(unreadable)?,
            // Unknown parts are skipped, within the text cap.
            _ => while part.chunk().await.map_err(unreadable)?.is_some() {},
        }
    }
    if !token_checked {
        return Err(AppError::Csrf);
    }
    Ok(form)
}

/// Streams the photo part to a new staging file; on any error the file is dropped (removed).
async fn stage(data_dir: &Path, part: &mut multer::Field<'_>) -> Result<tempfile::NamedTempFile, AppError> {
    let dir = data_dir.to_owned();
    let staged = tokio::task::spawn_blocking(move || staging::staged_file(&dir))
        .await
        .map_err(|e| staging_failed(std::io::Error::other(e)))?
        .map_err(staging_failed)?;
    let mut file = tokio::fs::File::from_std(staged.as_file().try_clone().map_err(staging_failed)?);
    while let Some(chunk) = part.chunk().await.map_err(unreadable)? {
        file.write_all(&chunk).await.map_err(staging_failed)?;
    }
    // tokio's File finishes a write in the background: wait for it before the file is read.
    file.flush().await.map_err(staging_failed)?;
    Ok(staged)
}
