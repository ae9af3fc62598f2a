//! Deciding a file's type from its first bytes, whatever its name or declared type claims.

use crate::domain::ImageKind;

/// What the first bytes say.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    Accepted(ImageKind),
    /// A recognised format we do not take, with advice for the user.
    Refused(&'static str),
    Empty,
}

pub fn sniff(head: &[u8]) -> Sniffed {
    if head.is_empty() {
        return Sniffed::Empty;
    }
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Accepted(ImageKind::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Accepted(ImageKind::Png);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Sniffed::Accepted(ImageKind::Gif);
    }
    if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"WEBP" {
        return Sniffed::Accepted(ImageKind::Webp);
    }
    Sniffed::Refused(advice(head))
}

fn advice(head: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let brand = head.get(4..12).unwrap_or_default();
    if brand.starts_with(b"ftyp") {
        let brand = &brand[4..];
        if brand == b"avif" || brand == b"avis" {
            return "AVIF is not supported, export as JPEG, PNG or WebP.";
        }
        if [b"heic", b"heix", b"mif1", b"msf1", b"hevc"].iter().any(|b| brand == *b) {
            return "HEIC is not supported, export as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible).";
        }
        return "This looks like a video or an ISO media file, not a photo: upload a JPEG, PNG, GIF or WebP image.";
    }
    if starts(b"BM") {
        return "BMP is not supported: save the image as PNG or JPEG.";
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return "TIFF is not supported: export the photo as JPEG or PNG.";
    }
    if starts(b"%PDF") {
        return "This is a PDF document, not an image: export the page as PNG or JPEG.";
    }
    if starts(b"PK\x03\x04") {
        return "This is a ZIP archive: unpack it and upload the images one by one.";
    }
    if starts(b"\x7fELF") || starts(b"MZ") {
        return "This is a program, not an image: upload a JPEG, PNG, GIF or WebP image.";
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(512)]).to_ascii_lowercase();
    if text.contains("<svg") {
        return "SVG is not supported (it can carry scripts): export it as PNG.";
    }
    if text.trim_start().starts_with('<') {
        return "This is an HTML or XML document, not an image: upload a JPEG, PNG, GIF or WebP image.";
    }
    "This file is not an image we accept: upload a JPEG, PNG, GIF or WebP image."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_by_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Sniffed::Accepted(ImageKind::Jpeg));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Sniffed::Accepted(ImageKind::Webp));
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert!(matches!(sniff(b"\0\0\0\x18ftypheic"), Sniffed::Refused(m) if m.contains("HEIC")));
        assert!(matches!(sniff(b"<?xml version='1.0'?><svg>"), Sniffed::Refused(m) if m.contains("SVG")));
        assert!(matches!(sniff(b"RIFF\0\0\0\0WAVE"), Sniffed::Refused(_)));
    }
}
