use std::io::Cursor;
use std::path::PathBuf;

use rocket::State;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

use super::guards::IfNoneMatch;
use crate::assets::StaticAsset;
use crate::compress::Encoding;
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

/// An `If-None-Match` header (RFC 9110 §13.1.2): `*`, or a list of entity tags, weak or strong.
enum Preconditions<'a> {
    Absent,
    Any,
    Tags(&'a str),
}

impl<'a> Preconditions<'a> {
    fn parse(header: Option<&'a str>) -> Self {
        match header.map(str::trim) {
            None => Self::Absent,
            Some("*") => Self::Any,
            Some(list) => Self::Tags(list),
        }
    }

    /// Whether the browser's copy is current: weak comparison (a `W/` prefix on either side is
    /// ignored). A list that does not parse matches nothing, so the full response is sent.
    fn current(&self, etag: Option<&str>) -> bool {
        let list = match self {
            Self::Absent => return false,
            Self::Any => return true,
            Self::Tags(list) => *list,
        };
        let Some(etag) = etag else { return false };
        let etag = etag.strip_prefix("W/").unwrap_or(etag);
        let mut rest = list;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return false;
            }
            let tag = rest.strip_prefix("W/").unwrap_or(rest);
            // A tag's opaque part may hold commas, so the list is split by quotes, not commas.
            let Some(end) = tag.strip_prefix('"').and_then(|t| t.find('"')) else {
                return false;
            };
            if tag[..end + 2] == *etag {
                return true;
            }
            rest = &tag[end + 2..];
        }
    }
}

#[rocket::get("/media/<path..>")]
pub async fn media(app: &State<App>, path: PathBuf, if_none_match: IfNoneMatch) -> Result<Media, AppError> {
    let key = path.to_str().and_then(BlobKey::parse).ok_or(AppError::NotFound)?;
    let preconditions = Preconditions::parse(if_none_match.0.as_deref());
    let blob = app.photos.blob(&key).await?.ok_or(AppError::NotFound)?;
    let not_modified = preconditions.current(blob.etag.as_deref());
    Ok(Media { bytes: blob.bytes, content_type: blob.content_type, etag: blob.etag, not_modified })
}

pub struct Static<'a>(&'a StaticAsset);

impl<'r> Responder<'r, 'static> for Static<'r> {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let asset = self.0;
        let mut response = Response::build();
        response.raw_header("Content-Type", asset.content_type).raw_header("Cache-Control", IMMUTABLE);
        let Some(encoded) = &asset.encoded else {
            return response.sized_body(asset.bytes.len(), Cursor::new(asset.bytes)).ok();
        };
        response.raw_header("Vary", "Accept-Encoding");
        let accepted = Encoding::negotiate(request.headers().get_one("Accept-Encoding"));
        match accepted.and_then(|encoding| Some((encoding, encoded.get(asset.bytes, encoding)?))) {
            Some((encoding, body)) => {
                response.raw_header("Content-Encoding", encoding.token()).sized_body(body.len(), Cursor::new(body)).ok()
            }
            None => response.sized_body(asset.bytes.len(), Cursor::new(asset.bytes)).ok(),
        }
    }
}

#[rocket::get("/static/<name>")]
pub fn static_file<'r>(app: &'r State<App>, name: &str) -> Option<Static<'r>> {
    app.assets.get(name).map(Static)
}

#[cfg(test)]
mod tests {
    use super::Preconditions;

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let etag = Some("\"a1-b2\"");
        let current = |header: Option<&str>| Preconditions::parse(header).current(etag);
        for hit in ["\"a1-b2\"", "W/\"a1-b2\"", "\"x\", \"a1-b2\"", "\"x,y\" ,W/\"a1-b2\"", " * "] {
            assert!(current(Some(hit)), "{hit}");
        }
        for miss in ["\"a1-b\"", "a1-b2", "\"\"a1-b2\"\"", "\"x\", junk, \"a1-b2\"", "\"a1-b2", "", "**"] {
            assert!(!current(Some(miss)), "{miss}");
        }
        assert!(!current(None));
        assert!(Preconditions::parse(Some("*")).current(None), "* matches any current representation");
        assert!(!Preconditions::parse(Some("\"a\"")).current(None));
    }
}
