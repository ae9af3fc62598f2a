use std::io::Cursor;
use std::path::PathBuf;

use rocket::State;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

use super::guards::IfNoneMatch;
use crate::assets::StaticAsset;
use crate::domain::BlobKey;
use crate::error::AppError;
use crate::state::App;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A stored blob (or 304 when the browser's copy is current).
pub struct Media {
    bytes: bytes::Bytes,
    content_type: String,
    etag: Option<String>,
    not_modified: bool,
}

impl<'r> Responder<'r, 'static> for Media {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.raw_header("Cache-Control", IMMUTABLE);
        if let Some(etag) = self.etag {
            response.header(Header::new("ETag", etag));
        }
        if self.not_modified {
            return response.status(Status::NotModified).ok();
        }
        response
            .raw_header("Content-Type", self.content_type)
            .sized_body(self.bytes.len(), Cursor::new(self.bytes))
            .ok()
    }
}

#[rocket::get("/media/<path..>")]
pub async fn media(app: &State<App>, path: PathBuf, if_none_match: IfNoneMatch) -> Result<Media, AppError> {
    let key = path.to_str().and_then(BlobKey::parse).ok_or(AppError::NotFound)?;
    let blob = app.photos.blob(&key).await?.ok_or(AppError::NotFound)?;
    let not_modified = blob.etag.is_some() && blob.etag == if_none_match.0;
    Ok(Media { bytes: blob.bytes, content_type: blob.content_type, etag: blob.etag, not_modified })
}

pub struct Static(StaticAsset);

impl<'r> Responder<'r, 'static> for Static {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .raw_header("Content-Type", self.0.content_type)
            .raw_header("Cache-Control", IMMUTABLE)
            .sized_body(self.0.bytes.len(), Cursor::new(self.0.bytes))
            .ok()
    }
}

#[rocket::get("/static/<name>")]
pub fn static_file(app: &State<App>, name: &str) -> Option<Static> {
    app.assets.get(name).copied().map(Static)
}
