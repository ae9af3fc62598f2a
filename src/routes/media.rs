use std::io::Cursor;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use rocket::State;
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

use super::conditional::{Conditions, Decision, Validators, decide, format_http_date};
use crate::assets::StaticAsset;
use crate::compress::Encoding;
use crate::domain::BlobKey;
use crate::error::AppError;
use crate::service::{MediaBlob, MediaBody};
use crate::state::App;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Chunks of a streamed body. Each costs a read, a hop through Rocket's body channel and a
/// write, so a 20 MB original goes in 80 rather than 300; a download holds about three at once
/// (one being read, one in the channel, one being written): 64 downloads, about 48 MB.
const STREAM_CHUNK: usize = 256 * 1024;

/// A `/media` response: the blob or a range of it, or a bodiless status its validators decided.
pub struct Media {
    blob: MediaBlob,
    answer: Answer,
}

enum Answer {
    Status(Status),
    Body { partial: Option<std::ops::Range<u64>>, body: MediaBody },
}

impl<'r> Responder<'r, 'static> for Media {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let Media { blob, answer } = self;
        let (meta, last_modified) = match &blob {
            MediaBlob::Memory(cached) => (&cached.meta, cached.last_modified.clone()),
            MediaBlob::Store(meta) => (meta, format_http_date(meta.last_modified)),
        };
        let mut response = Response::build();
        response.raw_header("Cache-Control", IMMUTABLE).raw_header("Accept-Ranges", "bytes");
        if let Some(etag) = &meta.etag {
            response.raw_header("ETag", etag.clone());
        }
        response.raw_header("Last-Modified", last_modified);
        let (partial, body) = match answer {
            Answer::Status(status) => {
                if status == Status::RangeNotSatisfiable {
                    response.header(Header::new("Content-Range", format!("bytes */{}", meta.size)));
                }
                return response.status(status).ok();
            }
            Answer::Body { partial, body } => (partial, body),
        };
        if let Some(range) = partial {
            response.status(Status::PartialContent).header(Header::new(
                "Content-Range",
                format!("bytes {}-{}/{}", range.start, range.end.saturating_sub(1), meta.size),
            ));
        }
        response.raw_header("Content-Type", meta.content_type.clone());
        let mut response = match body {
            MediaBody::Memory(bytes) => {
                let len = bytes.len();
                let mut response = response.sized_body(len, Cursor::new(bytes)).finalize();
                // One write for a cached blob, as for a page (see `respond::Page`).
                response.set_max_chunk_size(len.max(rocket::response::Body::DEFAULT_MAX_CHUNK));
                response
            }
            MediaBody::Stream(stream) => {
                let len = usize::try_from(stream.len()).unwrap_or(usize::MAX);
                response.sized_body(len, Unseekable(stream.into_reader())).finalize()
            }
        };
        if matches!(response.body().preset_size(), Some(n) if n > STREAM_CHUNK) {
            response.set_max_chunk_size(STREAM_CHUNK);
        }
        Ok(response)
    }
}

/// A reader whose size Rocket is told up front, so it never seeks it: Rocket wants `AsyncSeek`
/// for a body with a `Content-Length`, and a stream cannot seek.
struct Unseekable(Box<dyn AsyncRead + Send + Unpin>);

impl AsyncRead for Unseekable {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncSeek for Unseekable {
    fn start_seek(self: Pin<&mut Self>, _: std::io::SeekFrom) -> std::io::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "a streamed blob cannot seek"))
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "a streamed blob cannot seek")))
    }
}

/// A blob, honouring `Range`, `If-Range` and the conditional headers. `HEAD` is answered by
/// this route too (Rocket runs it and drops the body, keeping `Content-Length`).
#[rocket::get("/media/<path..>")]
pub async fn media(app: &State<App>, path: PathBuf, conditions: Conditions<'_>) -> Result<Media, AppError> {
    let key = path.to_str().and_then(BlobKey::parse).ok_or(AppError::NotFound)?;
    let blob = app.photos.media(&key).await?.ok_or(AppError::NotFound)?;
    let meta = blob.meta();
    let validators = Validators { etag: meta.etag.as_deref(), last_modified: meta.last_modified, size: meta.size };
    let (partial, range) = match decide(&conditions, &validators) {
        Decision::PreconditionFailed => return Ok(Media { blob, answer: Answer::Status(Status::PreconditionFailed) }),
        Decision::NotModified => return Ok(Media { blob, answer: Answer::Status(Status::NotModified) }),
        Decision::Unsatisfiable => return Ok(Media { blob, answer: Answer::Status(Status::RangeNotSatisfiable) }),
        Decision::Full => (None, 0..meta.size),
        Decision::Partial(range) => (Some(range.clone()), range),
    };
    let body = app.photos.media_body(&key, &blob, range).await?.ok_or(AppError::NotFound)?;
    Ok(Media { blob, answer: Answer::Body { partial, body } })
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
