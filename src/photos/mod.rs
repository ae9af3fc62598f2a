//! The upload pipeline: sniff → header dimensions → decode under limits → strip → thumbnail.
//! CPU-heavy steps run on blocking threads, under a bound on concurrent jobs and a budget on
//! decoded pixel memory, so memory stays bounded whatever is uploaded and however many at once.

mod sniff;
mod strip;

pub use sniff::{Sniffed, sniff};

use std::io::Cursor;
use std::path::Path;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

use crate::domain::ImageKind;

/// Long edge of generated thumbnails, in pixels.
pub const THUMBNAIL_EDGE: u32 = 640;
const THUMBNAIL_QUALITY: u8 = 80;

/// Why an upload was refused: the user's file, not the server, is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not an accepted format (HTTP 415).
    #[error("{0}")]
    Unsupported(&'static str),
    /// An accepted format that cannot be used: empty, corrupt, truncated, too many pixels (422).
    #[error("{0}")]
    Unusable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("reading the uploaded file: {0}")]
    Io(#[from] std::io::Error),
    #[error("image worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("image pipeline closed")]
    Closed,
}

/// What an accepted upload becomes.
#[derive(Debug, Clone)]
pub struct Processed {
    pub kind: ImageKind,
    /// The original with identifying metadata removed.
    pub original: Bytes,
    /// A JPEG, long edge at most `THUMBNAIL_EDGE`, orientation applied.
    pub thumbnail: Bytes,
    /// Displayed size (after orientation).
    pub width: u32,
    pub height: u32,
}

/// Where an upload's bytes are: streamed to a temporary file, or already in memory.
pub enum UploadData<'a> {
    File(&'a Path),
    Bytes(Bytes),
}

#[derive(Debug, Clone, Copy)]
pub struct PixelLimits {
    pub max_side: u32,
    pub max_pixels: u64,
}

pub struct Pipeline {
    limits: PixelLimits,
    jobs: Semaphore,
    /// Decoded-pixel budget in KiB.
    memory_kib: Semaphore,
    memory_budget_kib: u32,
}

impl Pipeline {
    pub fn new(limits: PixelLimits, concurrency: usize, memory_budget_bytes: u64) -> Self {
        let memory_budget_kib = u32::try_from(memory_budget_bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            limits,
            jobs: Semaphore::new(concurrency.max(1)),
            memory_kib: Semaphore::new(memory_budget_kib as usize),
            memory_budget_kib,
        }
    }

    /// Loads and processes an upload. `Ok(Err(_))` is the user's file being
    /// refused; `Err` is the server failing.
    pub async fn process_upload(&self, data: UploadData<'_>) -> Result<Result<Processed, Rejection>, PipelineError> {
        match data {
            UploadData::File(path) => {
                self.process(async { Ok(Bytes::from(tokio::fs::read(path).await?)) })
                    .await
            }
            UploadData::Bytes(bytes) => self.process_bytes(bytes).await,
        }
    }

    /// Processes bytes already in memory (small form values, the embedded demo photos).
    pub async fn process_bytes(&self, data: Bytes) -> Result<Result<Processed, Rejection>, PipelineError> {
        self.process(async { Ok(data) }).await
    }

    async fn process(
        &self,
        load: impl Future<Output = Result<Bytes, PipelineError>>,
    ) -> Result<Result<Processed, Rejection>, PipelineError> {
        // The job permit comes before loading, so at most `concurrency` files sit in memory.
        let _job = self.jobs.acquire().await.map_err(|_| PipelineError::Closed)?;
        let data = load.await?;
        let inspected = match inspect(&data, self.limits) {
            Ok(inspected) => inspected,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let kib = u32::try_from(inspected.decoded_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.memory_budget_kib);
        let _memory = self
            .memory_kib
            .acquire_many(kib)
            .await
            .map_err(|_| PipelineError::Closed)?;
        let limits = self.limits;
        Ok(tokio::task::spawn_blocking(move || decode_and_derive(data, inspected, limits)).await?)
    }
}

/// What the header says, read before any pixel is decoded.
#[derive(Debug, Clone, Copy)]
struct Inspected {
    kind: ImageKind,
    decoded_bytes: u64,
}

fn format_of(kind: ImageKind) -> ImageFormat {
    match kind {
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Png => ImageFormat::Png,
        ImageKind::Gif => ImageFormat::Gif,
        ImageKind::Webp => ImageFormat::WebP,
    }
}

fn unusable(kind: ImageKind, detail: impl std::fmt::Display) -> Rejection {
    let name = kind.extension().to_uppercase();
    Rejection::Unusable(format!(
        "The {name} file is damaged or incomplete ({detail}). Open it in an image editor, save it again, and upload the new file."
    ))
}

fn image_limits(limits: PixelLimits) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    // 16-bit RGBA is the widest pixel the decoders produce.
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    l
}

fn inspect(data: &Bytes, limits: PixelLimits) -> Result<Inspected, Rejection> {
    let kind = match sniff(data) {
        Sniffed::Accepted(kind) => kind,
        Sniffed::Refused(advice) => return Err(Rejection::Unsupported(advice)),
        Sniffed::Empty => {
            return Err(Rejection::Unusable(
                "The file is empty (0 bytes). Choose the photo again; if it came from a download, download it again."
                    .into(),
            ));
        }
    };
    let decoder = ImageReader::with_format(Cursor::new(data.as_ref()), format_of(kind))
        .into_decoder()
        .map_err(|e| unusable(kind, e))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(unusable(
            kind,
            format_args!("it claims a size of {width}×{height} pixels"),
        ));
    }
    if width > limits.max_side || height > limits.max_side || u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Rejection::Unusable(format!(
            "The image is {width}×{height} pixels; the limit is {side} pixels a side and {mp} megapixels. Resize it and upload it again.",
            side = limits.max_side,
            mp = limits.max_pixels / 1_000_000,
        )));
    }
    if kind == ImageKind::Jpeg && !has_end_of_image(data) {
        return Err(unusable(kind, "it ends before the end-of-image marker"));
    }
    Ok(Inspected {
        kind,
        decoded_bytes: decoder.total_bytes(),
    })
}

/// A JPEG cut short loses its end-of-image marker; decoders forgive that silently and grey out
/// the rest, so the check is explicit. Trailing bytes after the marker are tolerated.
fn has_end_of_image(data: &[u8]) -> bool {
    let tail = &data[data.len().saturating_sub(64 * 1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn decode_and_derive(data: Bytes, inspected: Inspected, limits: PixelLimits) -> Result<Processed, Rejection> {
    let kind = inspected.kind;
    let mut decoder = ImageReader::with_format(Cursor::new(data.as_ref()), format_of(kind))
        .into_decoder()
        .map_err(|e| unusable(kind, e))?;
    decoder
        .set_limits(image_limits(limits))
        .map_err(|e| unusable(kind, e))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| unusable(kind, e))?;
    let (mut width, mut height) = (image.width(), image.height());
    if matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    ) {
        std::mem::swap(&mut width, &mut height);
    }
    let thumbnail = make_thumbnail(&image, orientation).map_err(|e| unusable(kind, e))?;
    drop(image);
    let original = strip::strip_metadata(kind, data, orientation).map_err(|e| unusable(kind, e))?;
    Ok(Processed {
        kind,
        original,
        thumbnail,
        width,
        height,
    })
}

fn make_thumbnail(image: &DynamicImage, orientation: Orientation) -> image::ImageResult<Bytes> {
    let mut thumb = if image.width().max(image.height()) > THUMBNAIL_EDGE {
        image.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE)
    } else {
        image.clone()
    };
    thumb.apply_orientation(orientation);
    let rgb = flatten_on_white(&thumb);
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY).encode_image(&rgb)?;
    Ok(Bytes::from(out))
}

/// JPEG has no alpha: transparent areas become white rather than whatever colour hides
/// under zero alpha.
fn flatten_on_white(image: &DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}
