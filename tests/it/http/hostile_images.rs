//! Hostile images through HTTP, in both profiles: metadata planted wherever a format can
//! carry it is never served; files whose headers lie about their size, or whose data stops
//! short, are 422; what decoding costs is charged before anything is decoded; captions with
//! bidi controls are 422. Every refusal leaves no blob and no row.
//!
//! The hostile files are crafted here from the valid fixtures, byte by byte.

use crate::common;

use common::{TestApp, fixture, photo_id_from};
use image::GenericImageView;
use rocket::http::Status;

/// Uploads `bytes`, expects it accepted, and returns the original as a visitor gets it (through
/// /media or the store's URL).
async fn upload_and_fetch_original(t: &TestApp, name: &str, bytes: &[u8]) -> Vec<u8> {
    let response = t.upload(name, bytes, "").await;
    let status = response.status();
    let id = (status == Status::SeeOther).then(|| photo_id_from(&response));
    assert_eq!(status, Status::SeeOther, "{name}: {}", response.into_string().await.unwrap_or_default());
    let api: serde_json::Value = serde_json::from_str(&t.get_text("/api/photos?limit=1").await.1).expect("api json");
    let photo = &api["photos"][0];
    assert_eq!(photo["id"].as_str(), id.as_deref(), "{name}: newest first");
    let (status, _, original) = t.fetch(photo["url"].as_str().expect("url")).await;
    assert_eq!(status, 200, "{name}");
    original
}

/// Uploads `bytes`, expects `status`, and returns the page's text.
async fn refused(t: &TestApp, name: &str, bytes: &[u8], caption: &str, status: Status) -> String {
    let response = t.upload(name, bytes, caption).await;
    let got = response.status();
    let body = response.into_string().await.unwrap_or_default();
    assert_eq!(got, status, "{name}: {body}");
    body
}

async fn assert_nothing_stored(t: &TestApp) {
    assert_eq!(t.photo_count().await, 0, "no row");
    assert_eq!(t.stored_files().await, Vec::<String>::new(), "no blob");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_marker(name: &str, served: &[u8], markers: &[&str]) {
    for marker in markers {
        assert!(!contains(served, marker.as_bytes()), "{name}: {marker} is served");
    }
}

// --- crafting ------------------------------------------------------------------------------

fn jpeg_segment(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&u16::try_from(body.len() + 2).expect("segment fits").to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// Offsets of the SOS markers of a JPEG's primary image (0xFF 0xDA cannot occur in coded data).
fn scan_offsets(jpeg: &[u8]) -> Vec<usize> {
    jpeg.windows(2).enumerate().filter(|(_, w)| *w == [0xFF, 0xDA]).map(|(i, _)| i).collect()
}

/// A small noisy JPEG (about 8 KB) made with the encoder the app uses for thumbnails.
fn small_jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut seed = 7u32;
    let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height) * 3)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 24) as u8
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 75)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let crc = crc32fast::hash(&c[4..]);
    c.extend_from_slice(&crc.to_be_bytes());
    c
}

/// Zlib data holding `text` in a stored (uncompressed) block: the marker stays readable.
fn zlib_stored(text: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01, 0x01];
    let len = text.len() as u16;
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(text);
    let (mut a, mut b) = (1u32, 0u32);
    for byte in text {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    z
}

fn riff_chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

fn gif_sub_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    out.push(0);
    out
}

// --- metadata ------------------------------------------------------------------------------

#[rocket::async_test]
async fn jpeg_metadata_planted_anywhere_is_not_served() {
    let t = TestApp::new().await;
    t.register("planter").await;
    let source = fixture("valid", "progressive.jpg");
    assert_eq!(&source[2..4], [0xFF, 0xE0], "fixture starts with JFIF");
    let jfif_end = 4 + usize::from(u16::from_be_bytes([source[4], source[5]]));
    let scans = scan_offsets(&source);
    assert!(scans.len() > 2, "a progressive file has several scans");

    let mut jpeg = source[..2].to_vec();
    // JFIF with a 5×1 thumbnail whose 15 bytes are the marker.
    jpeg.extend(jpeg_segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\x05\x01MARK-JFIF-THUMB"));
    jpeg.extend(jpeg_segment(0xE1, b"Exif\0\0MM\0\x2a\0\0\0\x08\0\0\0\0\0\0MARK-JPEG-EXIF GPS"));
    jpeg.extend(jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>MARK-JPEG-XMP</x:xmpmeta>"));
    jpeg.extend(jpeg_segment(0xE2, b"MPF\0MM\0\x2a\0\0\0\x08MARK-JPEG-MPF"));
    jpeg.extend(jpeg_segment(0xED, b"Photoshop 3.0\08BIM\x04\x04MARK-JPEG-IPTC"));
    jpeg.extend(jpeg_segment(0xEF, b"MARK-JPEG-APP15"));
    // An Adobe segment (transform 1, YCbCr, as the file already is) with text after its fields.
    jpeg.extend(jpeg_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01MARK-JPEG-ADOBE-TAIL"));
    jpeg.extend(jpeg_segment(0xFE, b"MARK-JPEG-COM"));
    jpeg.extend_from_slice(&source[jfif_end..scans[2]]);
    // Between the second and third scans.
    jpeg.extend(jpeg_segment(0xFE, b"MARK-BETWEEN-COM"));
    jpeg.extend(jpeg_segment(0xE1, b"Exif\0\0MARK-BETWEEN-EXIF"));
    jpeg.extend(jpeg_segment(0xE4, b"MARK-BETWEEN-APP4"));
    jpeg.extend_from_slice(&source[scans[2]..]);
    // After the primary image: a secondary image with its own EXIF, as MPF writes, and junk.
    jpeg.extend_from_slice(&[0xFF, 0xD8]);
    jpeg.extend(jpeg_segment(0xE1, b"Exif\0\0MARK-SECOND-IMAGE-GPS"));
    jpeg.extend_from_slice(&small_jpeg(16, 16)[2..]);
    jpeg.extend_from_slice(b"MARK-AFTER-EOI");

    let reference = image::load_from_memory(&jpeg).expect("the planted file is a valid JPEG");
    let served = upload_and_fetch_original(&t, "planted.jpg", &jpeg).await;
    let markers = [
        "MARK-JFIF-THUMB",
        "MARK-JPEG-EXIF",
        "MARK-JPEG-XMP",
        "MARK-JPEG-MPF",
        "MARK-JPEG-IPTC",
        "MARK-JPEG-APP15",
        "MARK-JPEG-ADOBE-TAIL",
        "MARK-JPEG-COM",
        "MARK-BETWEEN-COM",
        "MARK-BETWEEN-EXIF",
        "MARK-BETWEEN-APP4",
        "MARK-SECOND-IMAGE-GPS",
        "MARK-AFTER-EOI",
        "MPF\0",
        "Exif\0",
    ];
    assert_no_marker("planted.jpg", &served, &markers);
    assert!(served.ends_with(&[0xFF, 0xD9]), "the original ends at its end-of-image marker");
    assert!(contains(&served, b"\xFF\xEE\x00\x0EAdobe\x00\x64"), "the Adobe fields stay");
    assert_eq!(scan_offsets(&served).len(), scans.len(), "every scan kept, the second image's gone");
    let decoded = image::load_from_memory(&served).expect("stripped original decodes");
    assert_eq!(decoded.dimensions(), (1024, 768));
    assert_eq!(decoded.to_rgb8(), reference.to_rgb8(), "the pixels are untouched");
}

#[rocket::async_test]
async fn png_metadata_planted_anywhere_is_not_served() {
    let t = TestApp::new().await;
    t.register("planter").await;
    let source = fixture("valid", "alpha.png");
    let ihdr_end = 8 + 12 + 13;
    assert_eq!(&source[12..16], b"IHDR");
    let iend = source.len() - 12;
    assert_eq!(&source[iend + 4..iend + 8], b"IEND");

    let mut png = source[..ihdr_end].to_vec();
    png.extend(png_chunk(b"tEXt", b"Comment\0MARK-PNG-TEXT"));
    png.extend(png_chunk(b"zTXt", &[b"MARK-PNG-ZTXT\0\0".as_slice(), &zlib_stored(b"MARK-PNG-ZTXT-BODY")].concat()));
    png.extend(png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>MARK-PNG-ITXT</x:xmpmeta>"));
    png.extend(png_chunk(b"tIME", &[0x07, 0xEA, 11, 28, 12, 0, 0]));
    png.extend(png_chunk(b"eXIf", b"MM\0\x2a\0\0\0\x08\0\0\0\0\0\0MARK-PNG-EXIF"));
    png.extend(png_chunk(b"prVt", b"MARK-PNG-PRIVATE"));
    png.extend_from_slice(&source[ihdr_end..iend]);
    png.extend(png_chunk(b"tEXt", b"Comment\0MARK-PNG-LATE-TEXT"));
    png.extend_from_slice(&source[iend..]);
    png.extend_from_slice(b"MARK-PNG-AFTER-IEND");

    let served = upload_and_fetch_original(&t, "planted.png", &png).await;
    let markers = [
        "MARK-PNG-TEXT",
        "MARK-PNG-ZTXT",
        "MARK-PNG-ITXT",
        "MARK-PNG-EXIF",
        "MARK-PNG-PRIVATE",
        "MARK-PNG-LATE-TEXT",
        "MARK-PNG-AFTER-IEND",
        "tEXt",
        "zTXt",
        "iTXt",
        "tIME",
        "eXIf",
        "prVt",
    ];
    assert_no_marker("planted.png", &served, &markers);
    assert!(served.ends_with(&source[iend..]), "the original ends with IEND");
    let decoded = image::load_from_memory(&served).expect("stripped original decodes");
    assert_eq!(decoded.to_rgba8(), image::load_from_memory(&source).expect("source").to_rgba8());
}

#[rocket::async_test]
async fn webp_metadata_is_not_served_and_its_flags_follow() {
    let t = TestApp::new().await;
    t.register("planter").await;
    for (name, width, height) in [("lossless.webp", 300u32, 200u32), ("lossy.webp", 900, 600)] {
        let source = fixture("valid", name);
        let image_chunk = &source[12..]; // the single VP8L or "VP8 " chunk of a simple file
        let mut vp8x = vec![0x0C, 0, 0, 0]; // EXIF and XMP flags
        vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
        let mut chunks = riff_chunk(b"VP8X", &vp8x);
        chunks.extend_from_slice(image_chunk);
        chunks.extend(riff_chunk(b"EXIF", b"MM\0\x2a\0\0\0\x08\0\0\0\0\0\0MARK-WEBP-EXIF"));
        chunks.extend(riff_chunk(b"XMP ", b"<x:xmpmeta>MARK-WEBP-XMP</x:xmpmeta>"));
        chunks.extend(riff_chunk(b"ZZZZ", b"MARK-WEBP-UNKNOWN"));
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
        webp.extend_from_slice(b"WEBP");
        webp.extend(chunks);
        webp.extend_from_slice(b"MARK-WEBP-AFTER-RIFF");

        let served = upload_and_fetch_original(&t, name, &webp).await;
        let markers =
            ["MARK-WEBP-EXIF", "MARK-WEBP-XMP", "MARK-WEBP-UNKNOWN", "MARK-WEBP-AFTER-RIFF", "EXIF", "XMP ", "ZZZZ"];
        assert_no_marker(name, &served, &markers);
        if &served[12..16] == b"VP8X" {
            assert_eq!(served[20] & 0x0C, 0, "{name}: VP8X still announces EXIF or XMP");
        }
        let riff_len = u32::from_le_bytes(served[4..8].try_into().expect("4 bytes")) as usize;
        assert_eq!(riff_len + 8, served.len(), "{name}: nothing outside the RIFF container");
        let decoded = image::load_from_memory(&served).expect("stripped original decodes");
        assert_eq!(decoded.dimensions(), (width, height), "{name}");
    }
}

#[rocket::async_test]
async fn gif_metadata_is_not_served() {
    let t = TestApp::new().await;
    t.register("planter").await;
    let source = fixture("valid", "animated.gif");
    let flags = source[10];
    let head = 13 + if flags & 0x80 != 0 { 3 * (1 << ((flags & 7) + 1)) } else { 0 };
    let mut gif = source[..head].to_vec();
    gif.extend_from_slice(b"\x21\xFE");
    gif.extend(gif_sub_blocks(b"MARK-GIF-COMMENT"));
    gif.extend_from_slice(b"\x21\xFF\x0BXMP DataXMP");
    gif.extend(gif_sub_blocks(b"<x:xmpmeta>MARK-GIF-XMP</x:xmpmeta>"));
    gif.extend_from_slice(b"\x21\x01\x0C\0\0\0\0\x10\0\x10\0\x08\x08\x01\x00");
    gif.extend(gif_sub_blocks(b"MARK-GIF-PLAIN-TEXT"));
    gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00");
    gif.extend(gif_sub_blocks(b"MARK-GIF-NETSCAPE-EXTRA"));
    gif.extend_from_slice(&source[head..source.len() - 1]);
    gif.extend_from_slice(b"\x21\xFE");
    gif.extend(gif_sub_blocks(b"MARK-GIF-LATE-COMMENT"));
    gif.push(0x3B);
    gif.extend_from_slice(b"MARK-GIF-AFTER-TRAILER");

    let served = upload_and_fetch_original(&t, "planted.gif", &gif).await;
    let markers = [
        "MARK-GIF-COMMENT",
        "MARK-GIF-XMP",
        "MARK-GIF-PLAIN-TEXT",
        "MARK-GIF-NETSCAPE-EXTRA",
        "MARK-GIF-LATE-COMMENT",
        "MARK-GIF-AFTER-TRAILER",
        "XMP DataXMP",
    ];
    assert_no_marker("planted.gif", &served, &markers);
    assert!(contains(&served, b"NETSCAPE2.0\x03\x01"), "the loop count stays");
    assert_eq!(served.last(), Some(&0x3B), "ends with the trailer");
    let frames = |bytes: &[u8]| {
        use image::AnimationDecoder;
        let decoder = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes.to_vec())).expect("gif");
        decoder.into_frames().collect_frames().expect("frames").len()
    };
    assert_eq!(frames(&served), frames(&source), "every frame kept");
}

// --- lying and truncated JPEGs -------------------------------------------------------------

#[rocket::async_test]
async fn jpegs_whose_data_does_not_cover_their_size_are_422() {
    let t = TestApp::new().await;
    t.register("liar").await;

    // A real ~8 KB JPEG whose frame header is rewritten to declare 10000×5000.
    let small = small_jpeg(120, 80);
    assert!(small.len() < 16 * 1024, "small: {} bytes", small.len());
    let sof = small.windows(2).position(|w| w == [0xFF, 0xC0]).expect("baseline frame");
    let mut lying = small.clone();
    lying[sof + 5..sof + 7].copy_from_slice(&5000u16.to_be_bytes());
    lying[sof + 7..sof + 9].copy_from_slice(&10000u16.to_be_bytes());

    // A photo cut in half and closed with an end-of-image marker, as a crafted upload would be.
    let photo = fixture("valid", "photo-exif-gps.jpg");
    let mut halved = photo[..photo.len() / 2].to_vec();
    halved.extend_from_slice(&[0xFF, 0xD9]);

    // A progressive file that stops after its third scan: the later scans' coefficients are
    // missing, yet a decoder would show it without complaint.
    let progressive = fixture("valid", "progressive.jpg");
    let mut partial = progressive[..scan_offsets(&progressive)[3]].to_vec();
    partial.extend_from_slice(&[0xFF, 0xD9]);

    // Headers and no scan at all.
    let mut no_scan = small[..scan_offsets(&small)[0]].to_vec();
    no_scan.extend_from_slice(&[0xFF, 0xD9]);

    for (name, bytes) in
        [("lying.jpg", &lying), ("halved.jpg", &halved), ("partial.jpg", &partial), ("no-scan.jpg", &no_scan)]
    {
        let body = refused(&t, name, bytes, "", Status::UnprocessableEntity).await;
        assert!(body.contains("JPG file is damaged or incomplete"), "{name}: {body}");
    }
    assert!(refused(&t, "lying.jpg", &lying, "", Status::UnprocessableEntity).await.contains("ends early"));
    assert_nothing_stored(&t).await;
    // The untouched small file is fine: the refusals are about the lie, not the file.
    upload_and_fetch_original(&t, "small.jpg", &small).await;
}

// --- decode memory -------------------------------------------------------------------------

/// A GIF whose logical screen is `screen`×`screen` and whose one frame is `w`×`h` at
/// (`left`, `top`), with one LZW sub-block: the kind of 35-byte file that once made the decoder
/// allocate the frame's declared size.
fn gif_with_frame(screen: u16, left: u16, top: u16, w: u16, h: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&screen.to_le_bytes());
    gif.extend_from_slice(&screen.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    gif.push(0x2C);
    for v in [left, top, w, h] {
        gif.extend_from_slice(&v.to_le_bytes());
    }
    gif.extend_from_slice(&[0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
    gif
}

#[rocket::async_test]
async fn gif_frames_outside_their_screen_are_422_before_decoding() {
    let t = TestApp::new().await;
    t.register("framer").await;
    let bomb = gif_with_frame(16, 0, 0, 9000, 9000);
    assert!(bomb.len() <= 40, "{} bytes", bomb.len());
    for (name, gif) in [
        ("bomb.gif", bomb),
        ("offset.gif", gif_with_frame(16, 10, 0, 8, 8)),
        ("below.gif", gif_with_frame(16, 0, 9, 16, 8)),
        ("empty-frame.gif", gif_with_frame(16, 0, 0, 0, 4)),
    ] {
        let body = refused(&t, name, &gif, "", Status::UnprocessableEntity).await;
        assert!(body.contains("outside the 16×16 picture"), "{name}: {body}");
    }
    // Four at once from one account: all refused, nothing left.
    let csrf = t.csrf_from("/").await;
    let bomb = gif_with_frame(64, 0, 0, 65535, 65535);
    let uploads = (0..4).map(|i| {
        let (t, csrf, bomb) = (&t, csrf.clone(), bomb.clone());
        async move { t.upload_with_csrf(&format!("bomb{i}.gif"), &bomb, "", &csrf).await.status() }
    });
    let statuses = futures::future::join_all(uploads).await;
    assert!(statuses.iter().all(|s| *s == Status::UnprocessableEntity), "{statuses:?}");
    assert_nothing_stored(&t).await;
    // A frame that fits is still fine.
    upload_and_fetch_original(&t, "fits.gif", &gif_with_frame(16, 4, 4, 1, 1)).await;
}

fn png_of(image: image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

#[rocket::async_test]
async fn the_decode_charge_counts_bit_depth_channels_and_the_converted_copy() {
    // 16 MB of decode memory (the smallest setting).
    let t = TestApp::with(|f| f.merge(("decode_memory_mb", 16))).await;
    t.register("deep").await;
    let (w, h) = (1200, 1200);
    // 1200×1200 16-bit RGBA decodes to 11.5 MB and its 8-bit copy for resizing adds 5.8 MB:
    // over the budget, although its header-only estimate (pixels × 4) was 5.8 MB.
    let deep = png_of(image::DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(
        w,
        h,
        image::Rgba([0x1234, 0x5678, 0x9ABC, 0xFFFF]),
    )));
    assert!(deep.len() < 200 * 1024, "a small file: {} bytes", deep.len());
    // The same size in 8-bit grey is 1.4 MB: well inside.
    let grey = png_of(image::DynamicImage::ImageLuma8(image::ImageBuffer::from_pixel(w, h, image::Luma([90]))));

    let body = refused(&t, "deep.png", &deep, "", Status::UnprocessableEntity).await;
    assert!(body.contains("1200×1200") && body.contains("16 MB"), "{body}");
    assert_nothing_stored(&t).await;

    let csrf = t.csrf_from("/").await;
    let uploads = (0..8).map(|i| {
        let (t, csrf) = (&t, csrf.clone());
        let bytes = if i % 2 == 0 { deep.clone() } else { grey.clone() };
        async move { t.upload_with_csrf(&format!("{i}.png"), &bytes, "", &csrf).await.status() }
    });
    let statuses = futures::future::join_all(uploads).await;
    for (i, status) in statuses.iter().enumerate() {
        let expected = if i % 2 == 0 { Status::UnprocessableEntity } else { Status::SeeOther };
        assert_eq!(*status, expected, "upload {i}");
    }
    assert_eq!(t.photo_count().await, 4);
    assert_eq!(t.stored_files().await.len(), 12, "an original and two thumbnails for each grey one only");
}

// --- captions ------------------------------------------------------------------------------

#[rocket::async_test]
async fn captions_with_bidi_controls_are_422_and_leave_nothing() {
    let t = TestApp::new().await;
    t.register("trickster").await;
    let jpeg = fixture("valid", "progressive.jpg");
    for control in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
        let caption = format!("my holiday{control}gpj.exe");
        let body = refused(&t, "a.jpg", &jpeg, &caption, Status::UnprocessableEntity).await;
        assert!(body.contains("text-direction"), "U+{:04X}: {body}", control as u32);
    }
    assert_nothing_stored(&t).await;
    // Right-to-left text itself is welcome.
    assert_eq!(t.upload("a.jpg", &jpeg, "שלום עולם").await.status(), Status::SeeOther);
}
