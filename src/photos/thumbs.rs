//! Thumbnails: two JPEG sizes of the oriented image, white where it was transparent.

use bytes::Bytes;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;
use image::metadata::Orientation;
use jpeg_encoder::{ColorType, Encoder as JpegEncoder};

use super::{SMALL_THUMBNAIL_EDGE, THUMBNAIL_EDGE};

const QUALITY: u8 = 80;

/// The large thumbnail (`tw`×`th` before orientation) and the small one, made from the large
/// one's pixels rather than from the original, so the second costs a fraction of the first.
pub fn make_thumbnails(
    image: DynamicImage,
    (tw, th): (u32, u32),
    orientation: Orientation,
) -> Result<(Bytes, Bytes), String> {
    let mut large = resize(image, (tw, th))?;
    large.apply_orientation(orientation);
    let large = flatten_on_white(&large);
    let large_jpeg = encode(&large)?;
    let small_jpeg = shrink_to_jpeg(DynamicImage::ImageRgb8(large), SMALL_THUMBNAIL_EDGE)?;
    Ok((large_jpeg, small_jpeg))
}

/// `image` with its long edge at most `edge` (never enlarged), as a JPEG.
pub fn shrink_to_jpeg(image: DynamicImage, edge: u32) -> Result<Bytes, String> {
    let size = fit(image.width(), image.height(), edge);
    let image = resize(image, size)?;
    encode(&flatten_on_white(&image))
}

/// `width`×`height` scaled so the long edge is at most `edge`, keeping the aspect; no side
/// rounds down to zero.
pub fn fit(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= edge {
        return (width, height);
    }
    let scale = |side: u32| ((u64::from(side) * u64::from(edge) + u64::from(long) / 2) / u64::from(long)).max(1) as u32;
    (scale(width), scale(height))
}

/// The large thumbnail's size for an image of `width`×`height`: long edge at most
/// `THUMBNAIL_EDGE`.
pub fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    fit(width, height, THUMBNAIL_EDGE)
}

/// Making the thumbnail from a decoded `width`×`height` image: the resizer's intermediate
/// (one pass at full length on one axis), the resized image, its oriented and flattened copies,
/// and the small thumbnail made from those (at most a quarter of the pixels, with its own
/// intermediate of half).
pub fn memory_cost(width: u32, height: u32) -> u64 {
    let (tw, th) = thumbnail_size(width, height);
    let intermediate = (u64::from(tw) * u64::from(height)).max(u64::from(width) * u64::from(th)) * 4;
    intermediate + u64::from(tw) * u64::from(th) * (12 + 5)
}

fn resize(image: DynamicImage, (w, h): (u32, u32)) -> Result<DynamicImage, String> {
    if (image.width(), image.height()) == (w, h) {
        return Ok(image);
    }
    let source = match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    let mut resized = DynamicImage::new(w, h, source.color());
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&source, &mut resized, &options).map_err(|e| e.to_string())?;
    Ok(resized)
}

fn encode(rgb: &image::RgbImage) -> Result<Bytes, String> {
    let (Ok(w), Ok(h)) = (u16::try_from(rgb.width()), u16::try_from(rgb.height())) else {
        return Err("thumbnail too large".into());
    };
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new(&mut out, QUALITY).encode(rgb.as_raw(), w, h, ColorType::Rgb).map_err(|e| e.to_string())?;
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
    fn both_sizes_keep_the_aspect_and_orientation() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::new(1000, 500));
        let (large, small) = make_thumbnails(image, (640, 320), Orientation::Rotate90).expect("thumbnails");
        let dims = |jpeg: &Bytes| {
            let decoded = image::load_from_memory(jpeg).expect("decodes");
            (decoded.width(), decoded.height())
        };
        assert_eq!(dims(&large), (320, 640));
        assert_eq!(dims(&small), (160, 320));
    }

    #[test]
    fn thumbnail_sizes_keep_the_aspect() {
        assert_eq!(thumbnail_size(1600, 1200), (640, 480));
        assert_eq!(thumbnail_size(4000, 300), (640, 48));
        assert_eq!(thumbnail_size(300, 4000), (48, 640));
        assert_eq!(thumbnail_size(640, 10), (640, 10));
        assert_eq!(thumbnail_size(10000, 1), (640, 1));
    }

    #[test]
    fn fit_never_enlarges_nor_reaches_zero() {
        assert_eq!(fit(640, 480, 320), (320, 240));
        assert_eq!(fit(200, 100, 320), (200, 100));
        assert_eq!(fit(4000, 1, 320), (320, 1));
    }
}
