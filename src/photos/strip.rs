//! Removing identifying metadata (EXIF with GPS, XMP, IPTC, comments) from an original while
//! keeping what it needs to display right: colour profile, Adobe colour transform, and the
//! EXIF orientation, rewritten as a minimal EXIF block holding that one tag.

use bytes::{Bytes, BytesMut};
use image::metadata::Orientation;
use img_parts::ImageEXIF;
use img_parts::riff::RiffContent;
use img_parts::webp::{CHUNK_VP8X, WebP};

use super::gif::{self, BlockKind};
use super::jpeg::Structure;
use crate::domain::ImageKind;
use crate::store::BlobBody;

#[derive(Debug, thiserror::Error)]
#[error("cannot rewrite the file's metadata: {0}")]
pub struct StripError(String);

/// The file with its metadata removed; `orientation` is re-attached when it is not upright.
/// Only what is needed to display the image right is kept (an allow-list, so metadata in a
/// place nobody thought of goes too); anything after the image's end marker is cut.
/// `jpeg` is the file's parsed structure when it is a JPEG. The result's pieces mostly point
/// into `original`: no second copy of a large file.
pub fn strip_metadata(
    kind: ImageKind,
    original: Bytes,
    jpeg: Option<&Structure>,
    orientation: Orientation,
) -> Result<BlobBody, StripError> {
    let exif = orientation_exif(orientation);
    match (kind, jpeg) {
        (ImageKind::Jpeg, Some(structure)) => Ok(strip_jpeg(&original, structure, exif)),
        (ImageKind::Jpeg, None) => Err(StripError("JPEG structure not read".into())),
        (ImageKind::Png, _) => strip_png(&original, exif),
        (ImageKind::Webp, _) => strip_webp(original, exif),
        (ImageKind::Gif, _) => strip_gif(&original),
    }
}

/// Keeps the coding segments (tables, frame, scans with their data, restart intervals), the
/// JFIF header without its thumbnail, the ICC profile (APP2 "ICC_PROFILE", not MPF) and the
/// Adobe segment (APP14, needed to decode CMYK right), wherever they are; drops every other
/// APPn and comment, before or between scans, and everything after the primary image's EOI.
fn strip_jpeg(data: &Bytes, structure: &Structure, exif: Option<Bytes>) -> BlobBody {
    let mut out = vec![data.slice(..2)];
    let mut exif = exif.map(|tiff| {
        let mut segment = BytesMut::with_capacity(tiff.len() + 10);
        segment.extend_from_slice(&[0xFF, 0xE1]);
        segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&tiff);
        segment.freeze()
    });
    for segment in &structure.segments {
        let body = &data[segment.body.clone()];
        let keep = match segment.marker {
            0xE0 if out.len() == 1 && body.starts_with(b"JFIF\0") && body.len() >= 14 => {
                // Version, units and density; the thumbnail size becomes 0×0.
                let mut jfif = BytesMut::from(&data[segment.span.start..segment.body.start + 14]);
                jfif[2..4].copy_from_slice(&16u16.to_be_bytes());
                let at = jfif.len() - 2;
                jfif[at..].copy_from_slice(&[0, 0]);
                out.push(jfif.freeze());
                false
            }
            0xE2 => body.starts_with(b"ICC_PROFILE\0"),
            0xE0..=0xEF | 0xFE => false,
            _ => true,
        };
        if segment.marker != 0xE0
            && let Some(exif) = exif.take()
        {
            // The orientation goes right after SOI (and JFIF, which must come first).
            out.push(exif);
        }
        if segment.marker == 0xEE && body.starts_with(b"Adobe") && body.len() >= 12 {
            // "Adobe", version, two flag words and the colour transform; nothing after them.
            let mut adobe = BytesMut::from(&data[segment.span.start..segment.body.start + 12]);
            adobe[2..4].copy_from_slice(&14u16.to_be_bytes());
            out.push(adobe.freeze());
        }
        if keep {
            out.push(data.slice(segment.span.start..segment.entropy.end.max(segment.span.end)));
        }
    }
    out.push(Bytes::from_static(&[0xFF, 0xD9]));
    out.into_iter().collect()
}

/// PNG chunks that affect how the image displays; every other chunk (text, time, EXIF,
/// private chunks) is dropped.
const PNG_KEPT: [&[u8; 4]; 17] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"bKGD",
    b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL",
];

fn strip_png(data: &Bytes, exif: Option<Bytes>) -> Result<BlobBody, StripError> {
    let bad = || StripError("PNG structure is damaged".into());
    let mut out = vec![data.get(..8).ok_or_else(bad).map(|_| data.slice(..8))?];
    let mut at = 8;
    loop {
        let len = u32::from_be_bytes(data.get(at..at + 4).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
        let kind: [u8; 4] = data.get(at + 4..at + 8).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
        let end = at.checked_add(12 + len).filter(|end| *end <= data.len()).ok_or_else(bad)?;
        if PNG_KEPT.contains(&&kind) || &kind == b"fdAT" {
            out.push(data.slice(at..end));
        }
        if &kind == b"IHDR"
            && let Some(tiff) = &exif
        {
            out.push(png_chunk(b"eXIf", tiff));
        }
        at = end;
        if &kind == b"IEND" {
            return Ok(out.into_iter().collect());
        }
    }
}

fn png_chunk(kind: &[u8; 4], content: &[u8]) -> Bytes {
    let mut chunk = BytesMut::with_capacity(content.len() + 12);
    chunk.extend_from_slice(&(content.len() as u32).to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(content);
    let crc = crc32fast::hash(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    chunk.freeze()
}

/// Keeps the image chunks, colour profile and animation; drops EXIF, XMP and any unknown
/// chunk, and clears the VP8X flags of what was dropped.
fn strip_webp(original: Bytes, exif: Option<Bytes>) -> Result<BlobBody, StripError> {
    let mut webp = WebP::from_bytes(original).map_err(|e| StripError(e.to_string()))?;
    webp.chunks_mut()
        .retain(|c| matches!(&c.id(), b"VP8X" | b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF" | b"ICCP"));
    // Sets or clears the EXIF flag, and the ICC one, but leaves the XMP flag as it was.
    webp.set_exif(exif);
    if let Some(vp8x) = webp.chunks_mut().iter_mut().find(|c| c.id() == CHUNK_VP8X)
        && let RiffContent::Data(content) = vp8x.content_mut()
        && !content.is_empty()
    {
        const XMP_FLAG: u8 = 0b0000_0100;
        let mut fixed = BytesMut::from(&content[..]);
        fixed[0] &= !XMP_FLAG;
        *content = fixed.freeze();
    }
    Ok(webp.encoder().collect())
}

/// A big-endian TIFF block with one IFD entry: Orientation (0x0112, SHORT, 1 value).
fn orientation_exif(orientation: Orientation) -> Option<Bytes> {
    let value = orientation_code(orientation);
    if value == 1 {
        return None;
    }
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header, IFD0 at offset 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&value.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding to 4 bytes
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Some(Bytes::from(tiff))
}

fn orientation_code(orientation: Orientation) -> u16 {
    match orientation {
        Orientation::NoTransforms => 1,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    }
}

/// Keeps the screen, frames, graphic control extensions and the animation loop count (both
/// rewritten to just their fields); drops comments, plain text, every other application extension
/// (XMP travels in one) and whatever follows the trailer.
fn strip_gif(data: &Bytes) -> Result<BlobBody, StripError> {
    let structure = gif::parse(data).map_err(StripError)?;
    let mut out = vec![data.slice(structure.head.clone())];
    for block in &structure.blocks {
        let bytes = &data[block.span.clone()];
        match block.kind {
            BlockKind::Image { .. } => out.push(data.slice(block.span.clone())),
            // Delay, disposal and transparency: one 4-byte sub-block (the decoder refuses more,
            // but the copy need not depend on that).
            BlockKind::Extension(0xF9) => {
                if let Some(control) = bytes.get(..7).filter(|b| b[2] == 4) {
                    out.push(Bytes::from([control, &[0]].concat()));
                }
            }
            BlockKind::Extension(0xFF) => {
                let id = bytes.get(3..14);
                let looping = bytes.get(14..18).filter(|b| b[0] == 3 && b[1] == 1);
                if let (Some(b"NETSCAPE2.0" | b"ANIMEXTS1.0"), Some(looping)) = (id, looping) {
                    let mut ext = BytesMut::from(&bytes[..14]);
                    ext.extend_from_slice(looping);
                    ext.extend_from_slice(&[0]);
                    out.push(ext.freeze());
                }
            }
            BlockKind::Extension(_) => {}
        }
    }
    out.push(Bytes::from_static(&[0x3B]));
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_block_is_minimal_tiff() {
        assert!(orientation_exif(Orientation::NoTransforms).is_none());
        let block = orientation_exif(Orientation::Rotate90).expect("non-upright gets a block");
        assert_eq!(block.len(), 26);
        assert_eq!(&block[..4], b"MM\0\x2a");
        assert_eq!(&block[18..20], &6u16.to_be_bytes());
        assert_eq!(Orientation::from_exif_chunk(&block), Some(Orientation::Rotate90), "image reads the block back");
    }

    #[test]
    fn gif_comments_are_dropped() {
        // 1x1 GIF with a comment extension.
        let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
        gif.extend_from_slice(b"\x21\xfe\x05where\x00");
        gif.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b");
        let gif = Bytes::from(gif);
        let stripped = strip_gif(&gif).expect("valid gif").to_bytes();
        assert!(!stripped.windows(5).any(|w| w == b"where"));
        assert_eq!(stripped.len(), gif.len() - 9);
        assert!(strip_gif(&gif.slice(..gif.len() - 3)).is_err(), "truncated gif refused");
    }
}
