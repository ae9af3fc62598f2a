//! Removing identifying metadata (EXIF with GPS, XMP, IPTC, comments) from an original while
//! keeping what it needs to display right: colour profile, Adobe colour transform, and the
//! EXIF orientation, rewritten as a minimal EXIF block holding that one tag.

use bytes::Bytes;
use image::metadata::Orientation;
use img_parts::ImageEXIF;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;

use crate::domain::ImageKind;
use crate::store::BlobBody;

#[derive(Debug, thiserror::Error)]
#[error("cannot rewrite the file's metadata: {0}")]
pub struct StripError(String);

/// The file with its metadata removed; `orientation` is re-attached when it is not upright.
/// The result's pieces mostly point into `original`: no second copy of a large file.
pub fn strip_metadata(kind: ImageKind, original: Bytes, orientation: Orientation) -> Result<BlobBody, StripError> {
    let exif = orientation_exif(orientation);
    let err = |e: img_parts::Error| StripError(e.to_string());
    let body = match kind {
        ImageKind::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(original).map_err(err)?;
            // APP0 (JFIF), APP2 (ICC profile, MPF) and APP14 (Adobe: needed to decode CMYK
            // right) stay; APP1 (EXIF, XMP), APP13 (IPTC) and comments go.
            jpeg.segments_mut().retain(|s| {
                let m = s.marker();
                let app = (markers::APP0..=markers::APP15).contains(&m);
                let kept_app = matches!(m, markers::APP0 | markers::APP2 | markers::APP14);
                !(m == markers::COM || (app && !kept_app))
            });
            jpeg.set_exif(exif);
            jpeg.encoder().collect()
        }
        ImageKind::Png => {
            let mut png = Png::from_bytes(original).map_err(err)?;
            png.chunks_mut().retain(|c| !matches!(&c.kind(), b"tEXt" | b"zTXt" | b"iTXt" | b"tIME" | b"eXIf"));
            png.set_exif(exif);
            png.encoder().collect()
        }
        ImageKind::Webp => {
            let mut webp = WebP::from_bytes(original).map_err(err)?;
            webp.remove_chunks_by_id(*b"XMP ");
            webp.set_exif(exif);
            webp.encoder().collect()
        }
        ImageKind::Gif => strip_gif(&original)?,
    };
    Ok(body)
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

/// Copies a GIF block by block, dropping comment extensions and application extensions other
/// than the animation loop count (XMP travels in an application extension).
fn strip_gif(data: &Bytes) -> Result<BlobBody, StripError> {
    let bad = || StripError("GIF structure is damaged".into());
    let mut out = Vec::new();
    let header_len = 13;
    let header = data.get(..header_len).ok_or_else(bad)?;
    let packed = header[10];
    let global_table = if packed & 0x80 != 0 { 3 * (1usize << ((packed & 7) + 1)) } else { 0 };
    let mut pos = header_len + global_table;
    data.get(..pos).ok_or_else(bad)?;
    out.push(data.slice(..pos));
    // Length of the data sub-blocks starting at `at`, terminator included.
    let sub_blocks = |mut at: usize| -> Result<usize, StripError> {
        let start = at;
        loop {
            let len = *data.get(at).ok_or_else(bad)? as usize;
            at += 1 + len;
            if len == 0 {
                return Ok(at - start);
            }
        }
    };
    loop {
        match *data.get(pos).ok_or_else(bad)? {
            0x3B => {
                out.push(data.slice(pos..=pos));
                return Ok(out.into_iter().collect());
            }
            0x21 => {
                let label = *data.get(pos + 1).ok_or_else(bad)?;
                let len = 2 + sub_blocks(pos + 2)?;
                let block = data.get(pos..pos + len).ok_or_else(bad)?;
                let keep = match label {
                    0xFE => false,
                    0xFF => block.get(3..14).is_some_and(|id| id == b"NETSCAPE2.0" || id == b"ANIMEXTS1.0"),
                    _ => true,
                };
                if keep {
                    out.push(data.slice(pos..pos + len));
                }
                pos += len;
            }
            0x2C => {
                let descriptor = data.get(pos..pos + 10).ok_or_else(bad)?;
                let flags = descriptor[9];
                let local_table = if flags & 0x80 != 0 { 3 * (1usize << ((flags & 7) + 1)) } else { 0 };
                let data_start = pos + 10 + local_table + 1; // + LZW minimum code size
                let len = data_start - pos + sub_blocks(data_start)?;
                data.get(pos..pos + len).ok_or_else(bad)?;
                out.push(data.slice(pos..pos + len));
                pos += len;
            }
            _ => return Err(bad()),
        }
    }
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
