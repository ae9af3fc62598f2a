//! The upload pipeline: sniff → header dimensions → decode under limits → strip → thumbnail.
//! CPU-heavy steps run on blocking threads, under a bound on concurrent jobs and a budget on
//! decoded pixel memory, so memory stays bounded whatever is uploaded and however many at once.

mod sniff;
mod strip;

pub use sniff::{Sniffed, sniff};

use std::io::Cursor;
use std::path::Path;

use bytes::Bytes;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use jpeg_encoder::{ColorType, Encoder as JpegEncoder};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ImageKind;
use crate::store::BlobBody;

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
#[derive(Debug)]
pub struct Processed {
    pub kind: ImageKind,
    /// The original with identifying metadata removed.
    pub original: BlobBody,
    /// A JPEG, long edge at most `THUMBNAIL_EDGE`, orientation applied.
    pub thumbnail: Bytes,
    /// Displayed size (after orientation).
    pub width: u32,
    pub height: u32,
    /// The upload's share of the memory budget: keep it until the blobs are stored, so that
    /// uploads waiting on storage count against the budget too.
    pub slot: Option<OwnedSemaphorePermit>,
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
    /// CPU-bound jobs at once.
    jobs: Semaphore,
    /// Memory budget in KiB: decoded pixels, and uploads' bytes until they are stored.
    memory_kib: Arc<Semaphore>,
    memory_budget_kib: u32,
}

impl Pipeline {
    pub fn new(limits: PixelLimits, concurrency: usize, memory_budget_bytes: u64) -> Self {
        let memory_budget_kib = u32::try_from(memory_budget_bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            limits,
            jobs: Semaphore::new(concurrency.max(1)),
            memory_kib: Arc::new(Semaphore::new(memory_budget_kib as usize)),
            memory_budget_kib,
        }
    }

    /// Loads and processes an upload. `Ok(Err(_))` is the user's file being
    /// refused; `Err` is the server failing.
    pub async fn process_upload(&self, data: UploadData<'_>) -> Result<Result<Processed, Rejection>, PipelineError> {
        match data {
            UploadData::File(path) => self.process(async { Ok(Bytes::from(tokio::fs::read(path).await?)) }).await,
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
        // The job permit comes before loading, so at most `concurrency` files sit in memory
        // unaccounted while they wait for their memory permit.
        let _job = self.jobs.acquire().await.map_err(|_| PipelineError::Closed)?;
        let data = load.await?;
        let inspected = match inspect(&data, self.limits) {
            Ok(inspected) => inspected,
            Err(rejection) => return Ok(Err(rejection)),
        };
        // One acquisition for the upload's bytes and its decoding (no hold-and-wait, so no
        // deadlock); the decoding share is returned as soon as pixels are freed, the upload's
        // share travels with the result until its blobs are stored.
        let kib = |bytes: u64| u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let held_kib = kib(data.len() as u64).clamp(1, self.memory_budget_kib);
        let decode_kib = kib(inspected.decoded_bytes).min(self.memory_budget_kib - held_kib);
        let mut held = self
            .memory_kib
            .clone()
            .acquire_many_owned(held_kib + decode_kib)
            .await
            .map_err(|_| PipelineError::Closed)?;
        let decoding = held.split(decode_kib as usize);
        let limits = self.limits;
        let processed = tokio::task::spawn_blocking(move || decode_and_derive(data, inspected, limits)).await?;
        drop(decoding);
        Ok(processed.map(|p| Processed { slot: Some(held), ..p }))
    }
}

/// What the header says, read before any pixel is decoded.
#[derive(Debug, Clone, Copy)]
struct Inspected {
    kind: ImageKind,
    /// Stored size, before orientation.
    width: u32,
    height: u32,
    orientation: Orientation,
    /// Estimated peak bytes of decoding and thumbnailing, charged against the memory budget.
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

/// The thumbnail's size for an image of `width`×`height`: long edge at most `THUMBNAIL_EDGE`.
fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= THUMBNAIL_EDGE {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(THUMBNAIL_EDGE) + u64::from(long) / 2) / u64::from(long)).max(1) as u32
    };
    (scale(width), scale(height))
}

/// The JPEG DCT scaling denominator (2, 4 or 8) that still yields at least the thumbnail's
/// size, when one does: decoding at 1/8 a 24-megapixel photo needs 1/64 of the memory.
fn jpeg_scale(kind: ImageKind, width: u32, height: u32) -> Option<u32> {
    if kind != ImageKind::Jpeg {
        return None;
    }
    let (tw, th) = thumbnail_size(width, height);
    [8, 4, 2].into_iter().find(|s| width.div_ceil(*s) >= tw && height.div_ceil(*s) >= th)
}

/// Whether the JPEG's frame is progressive (its coefficients are then all held at once).
fn jpeg_is_progressive(data: &[u8]) -> bool {
    jpeg_segments(data).any(|(marker, _)| matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE))
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
    let header = if kind == ImageKind::Jpeg { jpeg_header(data) } else { other_header(data, kind) };
    let Header { width, height, orientation, full_bytes: full } = header.map_err(|e| unusable(kind, e))?;
    if width == 0 || height == 0 {
        return Err(unusable(kind, format_args!("it claims a size of {width}×{height} pixels")));
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
    let decoded_bytes = match jpeg_scale(kind, width, height) {
        Some(_) if jpeg_is_progressive(data) => full * 3,
        Some(s) => full / u64::from(s * s) + (1 << 20),
        // The decoded image, plus a converted copy when its pixel type must change to resize.
        None => full * 2,
    };
    Ok(Inspected { kind, width, height, orientation, decoded_bytes })
}

struct Header {
    width: u32,
    height: u32,
    orientation: Orientation,
    /// Bytes of the fully decoded image.
    full_bytes: u64,
}

/// A JPEG's size and orientation from its header segments. `image`'s JPEG decoder would copy
/// the whole file first; at 20 MB an upload that copy is what bounds memory.
fn jpeg_header(data: &[u8]) -> Result<Header, String> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(data));
    decoder.read_info().map_err(|e| e.to_string())?;
    let info = decoder.info().ok_or("no frame header")?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let orientation = jpeg_segments(data)
        .find_map(|(marker, body)| (marker == 0xE1).then(|| body.strip_prefix(b"Exif\0\0")).flatten())
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let full_bytes = u64::from(width) * u64::from(height) * info.pixel_format.pixel_bytes() as u64;
    Ok(Header { width, height, orientation, full_bytes })
}

fn other_header(data: &[u8], kind: ImageKind) -> Result<Header, String> {
    let mut decoder =
        ImageReader::with_format(Cursor::new(data), format_of(kind)).into_decoder().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(Header { width, height, orientation, full_bytes: decoder.total_bytes() })
}

/// The JPEG's marker segments before the first scan, as (marker, contents).
fn jpeg_segments(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 2;
    std::iter::from_fn(move || {
        if at + 4 > data.len() || data[at] != 0xFF || data[at + 1] == 0xDA {
            return None;
        }
        let marker = data[at + 1];
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let body = data.get(at + 4..at + 2 + len.max(2))?;
        at += 2 + len;
        Some((marker, body))
    })
}

/// A JPEG cut short loses its end-of-image marker; decoders forgive that silently and grey out
/// the rest, so the check is explicit. Trailing bytes after the marker are tolerated.
fn has_end_of_image(data: &[u8]) -> bool {
    let tail = &data[data.len().saturating_sub(64 * 1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes a JPEG with DCT scaling straight to about the thumbnail's size. `Ok(None)` when
/// scaling does not apply (small images, CMYK), and the full decoder is used instead.
fn decode_jpeg_scaled(data: &[u8], inspected: &Inspected, limits: PixelLimits) -> Result<Option<DynamicImage>, String> {
    if jpeg_scale(inspected.kind, inspected.width, inspected.height).is_none() {
        return Ok(None);
    }
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(data));
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX));
    decoder.read_info().map_err(|e| e.to_string())?;
    let Some(info) = decoder.info() else { return Ok(None) };
    if info.pixel_format == jpeg_decoder::PixelFormat::CMYK32 {
        return Ok(None);
    }
    let (tw, th) = thumbnail_size(inspected.width, inspected.height);
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (w, h) = decoder.scale(clamp(tw), clamp(th)).map_err(|e| e.to_string())?;
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (w, h) = (u32::from(w), u32::from(h));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        jpeg_decoder::PixelFormat::RGB24 => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        jpeg_decoder::PixelFormat::L16 => {
            let samples = pixels.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
            image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageLuma16)
        }
        jpeg_decoder::PixelFormat::CMYK32 => None,
    };
    image.map(Some).ok_or_else(|| "decoded data does not match its size".to_owned())
}

fn decode_full(data: &[u8], kind: ImageKind, limits: PixelLimits) -> Result<DynamicImage, String> {
    let mut decoder =
        ImageReader::with_format(Cursor::new(data), format_of(kind)).into_decoder().map_err(|e| e.to_string())?;
    decoder.set_limits(image_limits(limits)).map_err(|e| e.to_string())?;
    DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())
}

fn decode_and_derive(data: Bytes, inspected: Inspected, limits: PixelLimits) -> Result<Processed, Rejection> {
    let kind = inspected.kind;
    let image = match decode_jpeg_scaled(&data, &inspected, limits).map_err(|e| unusable(kind, e))? {
        Some(image) => image,
        None => decode_full(&data, kind, limits).map_err(|e| unusable(kind, e))?,
    };
    let orientation = inspected.orientation;
    let (mut width, mut height) = (inspected.width, inspected.height);
    if matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    ) {
        std::mem::swap(&mut width, &mut height);
    }
    let (tw, th) = thumbnail_size(inspected.width, inspected.height);
    let thumbnail = make_thumbnail(image, (tw, th), orientation).map_err(|e| unusable(kind, e))?;
    let original = strip::strip_metadata(kind, data, orientation).map_err(|e| unusable(kind, e))?;
    Ok(Processed { kind, original, thumbnail, width, height, slot: None })
}

fn make_thumbnail(image: DynamicImage, (tw, th): (u32, u32), orientation: Orientation) -> Result<Bytes, String> {
    let mut thumb = if (image.width(), image.height()) == (tw, th) {
        image
    } else {
        let source = match image {
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => image,
            other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
            other => DynamicImage::ImageRgb8(other.to_rgb8()),
        };
        let mut resized = DynamicImage::new(tw, th, source.color());
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resizer::new().resize(&source, &mut resized, &options).map_err(|e| e.to_string())?;
        resized
    };
    thumb.apply_orientation(orientation);
    let rgb = flatten_on_white(&thumb);
    let (w, h) = (u16::try_from(rgb.width()), u16::try_from(rgb.height()));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err("thumbnail too large".into());
    };
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new(&mut out, THUMBNAIL_QUALITY)
        .encode(rgb.as_raw(), w, h, ColorType::Rgb)
        .map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_sizes_keep_the_aspect() {
        assert_eq!(thumbnail_size(1600, 1200), (640, 480));
        assert_eq!(thumbnail_size(4000, 300), (640, 48));
        assert_eq!(thumbnail_size(300, 4000), (48, 640));
        assert_eq!(thumbnail_size(640, 10), (640, 10));
        assert_eq!(thumbnail_size(10000, 1), (640, 1));
    }

    #[test]
    fn jpeg_scale_never_undershoots_the_thumbnail() {
        assert_eq!(jpeg_scale(ImageKind::Jpeg, 6000, 4000), Some(8));
        assert_eq!(jpeg_scale(ImageKind::Jpeg, 1600, 1200), Some(2));
        assert_eq!(jpeg_scale(ImageKind::Jpeg, 1000, 750), None);
        assert_eq!(jpeg_scale(ImageKind::Png, 6000, 4000), None);
        for (w, h) in [(4000, 300), (1281, 961), (9999, 17)] {
            let (tw, th) = thumbnail_size(w, h);
            if let Some(s) = jpeg_scale(ImageKind::Jpeg, w, h) {
                assert!(w.div_ceil(s) >= tw && h.div_ceil(s) >= th, "{w}x{h} at 1/{s}");
            }
        }
    }
}
