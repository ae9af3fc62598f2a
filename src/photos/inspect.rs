//! What an upload is, read from its structure before any pixel is decoded: kind, size,
//! orientation, whether its data really covers the size it declares, and what decoding it will
//! cost in memory. Everything a hostile file could lie about is settled here, so refusals
//! come before any large allocation.

use std::io::Cursor;

use bytes::Bytes;
use image::metadata::Orientation;
use image::{ImageDecoder, ImageReader, Limits};

use super::decode::{Route, format_of, jpeg_scale};
use super::thumbs;
use super::{PixelLimits, Rejection, sniff, unusable};
use super::{Sniffed, gif, jpeg};
use crate::domain::ImageKind;

/// Allocations too small or too short-lived to count one by one (decoder state, row buffers,
/// Huffman tables, the thumbnail encoder's output).
const SLACK: u64 = 2 << 20;

/// An upload that passed inspection.
#[derive(Debug)]
pub struct Inspected {
    pub kind: ImageKind,
    /// Stored size, before orientation.
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub route: Route,
    /// Peak bytes decoding and thumbnailing allocate, beyond the upload's own bytes.
    pub decode_bytes: u64,
    /// The JPEG's structure, reused to strip it.
    pub jpeg: Option<jpeg::Structure>,
}

/// Inspects `data` (CPU-bound on large JPEGs: run it on a blocking thread). `budget` is the
/// whole decode memory budget: an upload that alone would need more is refused.
pub fn inspect(data: &Bytes, limits: PixelLimits, budget: u64) -> Result<Inspected, Rejection> {
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
    let inspected = match kind {
        ImageKind::Jpeg => inspect_jpeg(data, limits)?,
        ImageKind::Gif => inspect_gif(data, limits)?,
        ImageKind::Png | ImageKind::Webp => inspect_other(data, kind, limits, budget)?,
    };
    let needed = inspected.decode_bytes + data.len() as u64;
    if needed > budget {
        let mb = |bytes: u64| bytes.div_ceil(1 << 20);
        return Err(Rejection::Unusable(format!(
            "The image is {w}×{h} pixels and would need about {need} MB of memory to process; this server \
             processes at most {max} MB at once. Save it smaller, or as an 8-bit RGB JPEG, and upload it again.",
            w = inspected.width,
            h = inspected.height,
            need = mb(needed),
            max = mb(budget),
        )));
    }
    Ok(inspected)
}

fn check_size(kind: ImageKind, width: u32, height: u32, limits: PixelLimits) -> Result<(), Rejection> {
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
    Ok(())
}

fn inspect_jpeg(data: &Bytes, limits: PixelLimits) -> Result<Inspected, Rejection> {
    let kind = ImageKind::Jpeg;
    let structure = jpeg::parse(data).map_err(|e| unusable(kind, e))?;
    let frame = &structure.frame;
    let (width, height) = (frame.width, frame.height);
    check_size(kind, width, height, limits)?;
    jpeg::check_coverage(data, &structure).map_err(|e| unusable(kind, e))?;
    let orientation = structure.exif(data).and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);

    // Samples per component as decoders allocate them: padded to whole MCUs.
    let padded: Vec<u64> = frame
        .components
        .iter()
        .map(|c| {
            let (bw, bh) = frame.padded_blocks(c);
            u64::from(bw) * u64::from(bh) * 64
        })
        .collect();
    let samples: u64 = padded.iter().sum();
    let sample_bytes = if frame.precision > 8 { 2 } else { 1 };
    // A progressive decoder holds every coefficient (an i16 per sample) until the last scan.
    let coefficients = if frame.progressive() { samples * 2 } else { 0 };
    let pixels = u64::from(width) * u64::from(height);
    let channels = frame.components.len() as u64;
    // CMYK (four components) is only decoded by the full decoder, which converts it right.
    let route = match jpeg_scale(width, height) {
        Some(s) if channels != 4 => Route::JpegScaled(s),
        _ => Route::Full,
    };
    let decode_bytes = match route {
        Route::JpegScaled(s) => {
            let s2 = u64::from(s * s);
            // Each component's scaled plane, upsampled planes, and the colour-converted output.
            let planes = samples.div_ceil(s2) * sample_bytes * 2;
            let output = (pixels * channels * sample_bytes).div_ceil(s2);
            let (w, h) = (width.div_ceil(s), height.div_ceil(s));
            // A 16-bit greyscale result is copied once into `image`'s sample type.
            coefficients + planes + output * 2 + thumbs::memory_cost(w, h) + SLACK
        }
        Route::Full => {
            // `image` copies the file, decodes every component plane at full size (i16 per
            // sample), converts to at most four 8-bit channels, and the pipeline may convert
            // that once more before resizing.
            data.len() as u64 + coefficients + samples * 2 + pixels * 4 * 2 + thumbs::memory_cost(width, height) + SLACK
        }
    };
    Ok(Inspected { kind, width, height, orientation, route, decode_bytes, jpeg: Some(structure) })
}

fn inspect_gif(data: &Bytes, limits: PixelLimits) -> Result<Inspected, Rejection> {
    let kind = ImageKind::Gif;
    let structure = gif::parse(data).map_err(|e| unusable(kind, e))?;
    let (width, height) = (structure.width, structure.height);
    check_size(kind, width, height, limits)?;
    // The decoder allocates each frame's own rectangle, whatever the screen says: a frame
    // reaching outside the screen is refused before anything is decoded.
    let mut frames = 0u64;
    for block in &structure.blocks {
        if let gif::BlockKind::Image { left, top, width: w, height: h } = block.kind {
            frames += 1;
            if w == 0 || h == 0 || left + w > width || top + h > height {
                return Err(unusable(
                    kind,
                    format_args!(
                        "frame {frames} is {w}×{h} pixels at ({left}, {top}), outside the {width}×{height} picture"
                    ),
                ));
            }
        }
    }
    if frames == 0 {
        return Err(unusable(kind, "it holds no image"));
    }
    // The first frame's RGBA buffer and the RGBA screen it is composed onto.
    let pixels = u64::from(width) * u64::from(height);
    let decode_bytes = pixels * 4 * 2 + thumbs::memory_cost(width, height) + SLACK;
    let orientation = Orientation::NoTransforms;
    Ok(Inspected { kind, width, height, orientation, route: Route::Full, decode_bytes, jpeg: None })
}

fn inspect_other(data: &Bytes, kind: ImageKind, limits: PixelLimits, budget: u64) -> Result<Inspected, Rejection> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format_of(kind));
    // Only the allocation bound here: the size limits are checked below, with a message
    // that says what they are.
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(budget);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(|e| unusable(kind, e))?;
    let (width, height) = decoder.dimensions();
    check_size(kind, width, height, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let pixels = u64::from(width) * u64::from(height);
    let output = decoder.total_bytes();
    let color = decoder.color_type();
    // 8-bit grey, RGB and RGBA resize as they are; anything else (16-bit, grey with alpha) is
    // first converted to 8-bit RGB or RGBA.
    let converted = if matches!(color, image::ColorType::L8 | image::ColorType::Rgb8 | image::ColorType::Rgba8) {
        0
    } else {
        pixels * 4
    };
    // WebP decodes through its own buffers (ARGB words for lossless, YUV planes and alpha for
    // lossy, a second canvas when animated).
    let internal = if kind == ImageKind::Webp { pixels * 8 } else { 0 };
    let decode_bytes = output + converted + internal + thumbs::memory_cost(width, height) + SLACK;
    Ok(Inspected { kind, width, height, orientation, route: Route::Full, decode_bytes, jpeg: None })
}
