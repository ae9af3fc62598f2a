//! Decoding an inspected upload to pixels, along the route inspection chose and within the
//! memory inspection charged for it.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use super::PixelLimits;
use super::inspect::Inspected;
use super::thumbs::thumbnail_size;
use crate::domain::ImageKind;

/// How the pixels will be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `jpeg-decoder` with DCT scaling at 1/`n`, straight to about the thumbnail's size.
    JpegScaled(u32),
    /// The `image` crate's decoder, at full size.
    Full,
}

/// Decodes `data` as `inspected` says (its route, and no allocation past its `decode_bytes`).
pub fn decode(data: &[u8], inspected: &Inspected, limits: PixelLimits) -> Result<DynamicImage, String> {
    match inspected.route {
        Route::JpegScaled(scale) => decode_jpeg_scaled(data, scale, inspected, inspected.decode_bytes),
        Route::Full => decode_full(data, inspected.kind, limits, inspected.decode_bytes),
    }
}

/// The JPEG DCT scaling denominator (2, 4 or 8) that still yields at least the thumbnail's
/// size, when one does: decoding at 1/8 a 24-megapixel photo needs 1/64 of the memory.
pub fn jpeg_scale(width: u32, height: u32) -> Option<u32> {
    let (tw, th) = thumbnail_size(width, height);
    [8, 4, 2].into_iter().find(|s| width.div_ceil(*s) >= tw && height.div_ceil(*s) >= th)
}

/// The `image` crate's format for an accepted kind.
pub fn format_of(kind: ImageKind) -> ImageFormat {
    match kind {
        ImageKind::Jpeg => ImageFormat::Jpeg,
        ImageKind::Png => ImageFormat::Png,
        ImageKind::Gif => ImageFormat::Gif,
        ImageKind::Webp => ImageFormat::WebP,
    }
}

/// Limits for the `image` decoders: the pixel limits, and no allocation past what inspection
/// charged this upload against the decode memory budget, whatever the file claims.
fn image_limits(limits: PixelLimits, max_alloc: u64) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(max_alloc);
    l
}

/// Decodes a JPEG with DCT scaling at 1/`scale`, straight to about the thumbnail's size.
/// `max_alloc` is what inspection charged for it.
fn decode_jpeg_scaled(data: &[u8], scale: u32, inspected: &Inspected, max_alloc: u64) -> Result<DynamicImage, String> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(data));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(|e| e.to_string())?;
    let info = decoder.info().ok_or("no frame header")?;
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    let (w, h) = decoder
        .scale(clamp(inspected.width.div_ceil(scale)), clamp(inspected.height.div_ceil(scale)))
        .map_err(|e| e.to_string())?;
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (w, h) = (u32::from(w), u32::from(h));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        jpeg_decoder::PixelFormat::RGB24 => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        jpeg_decoder::PixelFormat::L16 => {
            let samples = pixels.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
            image::ImageBuffer::from_raw(w, h, samples).map(DynamicImage::ImageLuma16)
        }
        // Inspection routes four-component files to the full decoder.
        jpeg_decoder::PixelFormat::CMYK32 => None,
    };
    image.ok_or_else(|| "decoded data does not match its size".to_owned())
}

/// Decodes `data` at full size with the `image` crate's decoder for `kind`.
pub fn decode_full(data: &[u8], kind: ImageKind, limits: PixelLimits, max_alloc: u64) -> Result<DynamicImage, String> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format_of(kind));
    reader.limits(image_limits(limits, max_alloc));
    let decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_scale_never_undershoots_the_thumbnail() {
        assert_eq!(jpeg_scale(6000, 4000), Some(8));
        assert_eq!(jpeg_scale(1600, 1200), Some(2));
        assert_eq!(jpeg_scale(1000, 750), None);
        for (w, h) in [(4000, 300), (1281, 961), (9999, 17)] {
            let (tw, th) = thumbnail_size(w, h);
            if let Some(s) = jpeg_scale(w, h) {
                assert!(w.div_ceil(s) >= tw && h.div_ceil(s) >= th, "{w}x{h} at 1/{s}");
            }
        }
    }
}
